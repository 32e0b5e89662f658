// Voice messages: a record button in the composer. Recording uses MediaRecorder (Opus in WebM
// where the browser has it) and draws a live waveform from an AnalyserNode on a canvas; Stop
// puts the recording in the composer's tray as a file, sent like any attachment (the server
// transcribes it in the background).
import { useEffect, useRef, useState } from 'preact/hooks';
import { Mic, Square, X } from 'lucide-preact';
import { showToast } from '../state/store';

function pickType(): string {
  for (const t of ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus'])
    if (typeof MediaRecorder !== 'undefined' && MediaRecorder.isTypeSupported(t)) return t;
  return '';
}

interface Session {
  recorder: MediaRecorder;
  stream: MediaStream;
  audio: AudioContext;
  analyser: AnalyserNode;
  chunks: Blob[];
  keep: boolean;
  started: number;
}

export function VoiceRecorder({ onRecorded, disabled }: { onRecorded: (f: File) => void; disabled?: boolean }) {
  const [on, setOn] = useState(false);
  const [secs, setSecs] = useState(0);
  const session = useRef<Session | null>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const frame = useRef(0);

  const finish = (keep: boolean) => {
    const s = session.current;
    if (!s) return;
    s.keep = keep;
    if (s.recorder.state !== 'inactive') s.recorder.stop();
  };
  useEffect(() => () => finish(false), []);

  useEffect(() => {
    if (!on) return;
    const draw = () => {
      const s = session.current;
      const c = canvas.current;
      if (!s || !c) return;
      const ctx = c.getContext('2d');
      if (!ctx) return;
      const data = new Uint8Array(s.analyser.fftSize);
      s.analyser.getByteTimeDomainData(data);
      ctx.clearRect(0, 0, c.width, c.height);
      ctx.strokeStyle = getComputedStyle(c).color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (let i = 0; i < data.length; i++) {
        const x = (i / (data.length - 1)) * c.width;
        const y = (data[i] / 255) * c.height;
        if (i) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
      }
      ctx.stroke();
      setSecs(Math.floor((Date.now() - s.started) / 1000));
      frame.current = requestAnimationFrame(draw);
    };
    frame.current = requestAnimationFrame(draw);
    return () => cancelAnimationFrame(frame.current);
  }, [on]);

  const start = async () => {
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
      showToast('This browser cannot record audio.');
      return;
    }
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      showToast(`No microphone: ${(e as Error).message}`);
      return;
    }
    const type = pickType();
    const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    const audio = new AudioContext();
    const analyser = audio.createAnalyser();
    analyser.fftSize = 1024;
    audio.createMediaStreamSource(stream).connect(analyser);
    const s: Session = { recorder, stream, audio, analyser, chunks: [], keep: false, started: Date.now() };
    recorder.ondataavailable = (e) => e.data.size && s.chunks.push(e.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      void audio.close();
      session.current = null;
      setOn(false);
      if (!s.keep || !s.chunks.length) return;
      const mime = (recorder.mimeType || 'audio/webm').split(';')[0];
      const ext = mime.includes('ogg') ? 'ogg' : 'webm';
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
      onRecorded(new File(s.chunks, `voice-${stamp}.${ext}`, { type: mime }));
    };
    session.current = s;
    recorder.start(250);
    setSecs(0);
    setOn(true);
  };

  if (!on)
    return (
      <button type="button" class="icon record-toggle" aria-label="Record a voice message" title="Record a voice message" disabled={disabled} onClick={() => void start()}>
        <Mic size={20} aria-hidden="true" />
      </button>
    );
  return (
    <div class="recorder" role="group" aria-label="Recording a voice message">
      <canvas ref={canvas} class="waveform" width={160} height={32} aria-hidden="true" />
      <span class="recorder-time small" aria-live="off">
        {Math.floor(secs / 60)}:{String(secs % 60).padStart(2, '0')}
      </span>
      <button type="button" class="icon" aria-label="Stop recording" title="Stop and attach" onClick={() => finish(true)}>
        <Square size={18} aria-hidden="true" />
      </button>
      <button type="button" class="icon" aria-label="Discard recording" title="Discard" onClick={() => finish(false)}>
        <X size={18} aria-hidden="true" />
      </button>
    </div>
  );
}
