// Call screens: the buttons in a conversation's header, the incoming-call screen (with its
// ringtone, calls.ts), the in-call stage with a grid of 1 to 9 tiles that reflows for a phone,
// controls (microphone, camera, screen, devices, hang up), each link's quality as bars, the
// active speaker ringed, and a mini view while browsing other conversations.
import { Circle, Maximize2, Mic, MicOff, MonitorUp, Phone, PhoneOff, Settings2, Square, UserX, Video, VideoOff } from 'lucide-preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  acceptCall,
  activeCall,
  activeSpeaker,
  callerName,
  cameraOn,
  conversationCall,
  declineCall,
  hangUp,
  incoming,
  listDevices,
  localStream,
  micOn,
  moderate,
  quality,
  remoteStreams,
  setRecording,
  sharingScreen,
  startCall,
  toggleCamera,
  toggleMic,
  toggleScreenShare,
  switchDevice,
  type Call,
  type Quality,
} from '../calls';
import { conversationName, conversations, currentId, me, navigate, sessionId, userName } from '../state/store';
import type { Conversation } from '../types';

/** Audio and video call buttons for a conversation's header, or "Join" while a call runs. */
export function CallButtons({ conv }: { conv: Conversation }) {
  const running = conversationCall(conv.id);
  const inCall = !!activeCall.value;
  if (running && activeCall.value?.id !== running.id)
    return (
      <button type="button" class="small head-btn call-join" aria-label="Join the call" title="Join the call" disabled={inCall} onClick={() => void acceptCall(running)}>
        <Phone size={16} aria-hidden="true" />
        <span>Join</span>
      </button>
    );
  return (
    <>
      <button type="button" class="icon" aria-label="Start audio call" title="Audio call" disabled={inCall} onClick={() => void startCall(conv.id, 'audio')}>
        <Phone size={18} aria-hidden="true" />
      </button>
      <button type="button" class="icon" aria-label="Start video call" title="Video call" disabled={inCall} onClick={() => void startCall(conv.id, 'video')}>
        <Video size={18} aria-hidden="true" />
      </button>
    </>
  );
}

function callPlace(c: Call): string {
  const conv = conversations.value[c.conversation_id];
  if (!conv) return '';
  return conv.type === 'dm' ? '' : ` in ${conv.type === 'channel' ? '#' : ''}${conversationName(conv)}`;
}

export function IncomingCall() {
  const c = incoming.value;
  if (!c) return null;
  const kind = c.media === 'video' ? 'Video call' : 'Audio call';
  return (
    <div class="call-incoming" role="alertdialog" aria-modal="false" aria-labelledby="call-incoming-title">
      <div class="call-incoming-card">
        <div class="call-pulse" aria-hidden="true">
          {c.media === 'video' ? <Video size={28} /> : <Phone size={28} />}
        </div>
        <h2 id="call-incoming-title">{callerName(c)}</h2>
        <p class="muted">
          {kind}
          {callPlace(c)}…
        </p>
        <div class="call-incoming-actions">
          <button type="button" class="call-decline" aria-label="Decline" onClick={() => void declineCall(c)}>
            <PhoneOff size={20} aria-hidden="true" />
            <span>Decline</span>
          </button>
          {c.media === 'video' && (
            <button type="button" aria-label="Accept with audio only" onClick={() => void acceptCall(c, 'audio')}>
              <Phone size={20} aria-hidden="true" />
              <span>Audio only</span>
            </button>
          )}
          <button type="button" class="primary call-accept" aria-label="Accept" onClick={() => void acceptCall(c)}>
            {c.media === 'video' ? <Video size={20} aria-hidden="true" /> : <Phone size={20} aria-hidden="true" />}
            <span>Accept</span>
          </button>
        </div>
      </div>
    </div>
  );
}

function StreamVideo({ stream, muted, label }: { stream: MediaStream; muted: boolean; label: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const v = ref.current;
    if (v && v.srcObject !== stream) {
      v.srcObject = stream;
      void v.play().catch(() => {});
    }
  }, [stream]);
  return <video ref={ref} autoPlay playsInline muted={muted} aria-label={label} />;
}

/** Remote audio, always playing while in the call (the grid's videos are muted). */
function StreamAudio({ stream }: { stream: MediaStream }) {
  const ref = useRef<HTMLAudioElement>(null);
  useEffect(() => {
    const a = ref.current;
    if (a && a.srcObject !== stream) {
      a.srcObject = stream;
      void a.play().catch(() => {});
    }
  }, [stream]);
  return <audio ref={ref} autoPlay />;
}

export function QualityBars({ q }: { q: Quality | undefined }) {
  if (!q) return null;
  const words = ['very poor', 'poor', 'fair', 'good', 'excellent'][q.bars];
  const detail = `${q.rttMs === null ? 'RTT unknown' : `RTT ${q.rttMs} ms`}, loss ${q.lossPct.toFixed(1)}%, ${q.kbps} kbps`;
  return (
    <span class={`quality is-q${q.bars}`} role="img" aria-label={`Connection ${words}: ${detail}`} title={detail}>
      {[1, 2, 3, 4].map((i) => (
        <span key={i} class={i <= q.bars ? 'on' : ''} style={{ height: `${i * 3 + 2}px` }} />
      ))}
    </span>
  );
}

interface Tile {
  key: string;
  userId: string;
  stream: MediaStream | null;
  local: boolean;
  audio: boolean;
  video: boolean;
  screen: boolean;
}

function tilesOf(c: Call): Tile[] {
  const mine = `${me.value?.id}:${sessionId.value}`;
  const tiles: Tile[] = [];
  for (const p of c.participants) {
    const key = `${p.user_id}:${p.session_id}`;
    const local = key === mine;
    tiles.push({
      key: local ? 'me' : key,
      userId: p.user_id,
      stream: local ? localStream.value : remoteStreams.value[key] ?? null,
      local,
      audio: local ? micOn.value : p.audio,
      video: local ? cameraOn.value || sharingScreen.value : p.video || p.screen,
      screen: p.screen,
    });
  }
  return tiles.slice(0, 9);
}

function TileView({ t, moderator }: { t: Tile; moderator?: boolean }) {
  const name = t.local ? 'You' : userName(t.userId);
  const speaking = activeSpeaker.value === t.key;
  const hasVideo = !!t.stream && t.stream.getVideoTracks().length > 0 && t.video;
  return (
    <figure class={`call-tile ${speaking ? 'is-speaking' : ''}`} aria-label={`${name}${speaking ? ', speaking' : ''}`}>
      {hasVideo ? <StreamVideo stream={t.stream!} muted label={`Video of ${name}`} /> : <div class="call-avatar" aria-hidden="true">{name.slice(0, 1).toUpperCase()}</div>}
      <figcaption>
        {!t.audio && <MicOff size={14} aria-label="Microphone off" />}
        {t.screen && <MonitorUp size={14} aria-label="Sharing screen" />}
        <span>{name}</span>
        {!t.local && <QualityBars q={quality.value[t.key]} />}
      </figcaption>
      {moderator && !t.local && (
        <div class="call-moderate">
          {t.audio && (
            <button type="button" class="icon" aria-label={`Mute ${name}`} title={`Mute ${name}`} onClick={() => void moderate('mute', t.userId)}>
              <MicOff size={14} aria-hidden="true" />
            </button>
          )}
          <button type="button" class="icon" aria-label={`Remove ${name} from the call`} title={`Remove ${name} from the call`} onClick={() => void moderate('kick', t.userId)}>
            <UserX size={14} aria-hidden="true" />
          </button>
        </div>
      )}
    </figure>
  );
}

function DevicePicker({ onClose }: { onClose: () => void }) {
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  useEffect(() => {
    void listDevices().then(setDevices);
  }, []);
  const current = (kind: 'audio' | 'video') => (kind === 'audio' ? localStream.value?.getAudioTracks()[0] : localStream.value?.getVideoTracks()[0])?.getSettings().deviceId ?? '';
  const pick = (kind: 'audioinput' | 'videoinput', label: string, which: 'audio' | 'video') => {
    const list = devices.filter((d) => d.kind === kind);
    if (!list.length) return null;
    return (
      <label>
        {label}
        <select value={current(which)} onChange={(e) => void switchDevice(kind, (e.target as HTMLSelectElement).value)}>
          {list.map((d, i) => (
            <option key={d.deviceId} value={d.deviceId}>
              {d.label || `${label} ${i + 1}`}
            </option>
          ))}
        </select>
      </label>
    );
  };
  return (
    <div class="call-devices" role="group" aria-label="Devices">
      {pick('audioinput', 'Microphone', 'audio')}
      {pick('videoinput', 'Camera', 'video')}
      <button type="button" class="small" onClick={onClose}>
        Done
      </button>
    </div>
  );
}

function Controls({ canRecord, recording }: { canRecord: boolean; recording: boolean }) {
  const [devicesOpen, setDevicesOpen] = useState(false);
  return (
    <>
      {devicesOpen && <DevicePicker onClose={() => setDevicesOpen(false)} />}
      <div class="call-controls" role="toolbar" aria-label="Call controls">
        <button type="button" class="icon" aria-label={micOn.value ? 'Mute microphone' : 'Unmute microphone'} aria-pressed={!micOn.value} onClick={toggleMic}>
          {micOn.value ? <Mic size={20} aria-hidden="true" /> : <MicOff size={20} aria-hidden="true" />}
        </button>
        <button type="button" class="icon" aria-label={cameraOn.value ? 'Turn camera off' : 'Turn camera on'} aria-pressed={!cameraOn.value} disabled={!localStream.value?.getVideoTracks().length} onClick={toggleCamera}>
          {cameraOn.value ? <Video size={20} aria-hidden="true" /> : <VideoOff size={20} aria-hidden="true" />}
        </button>
        <button type="button" class="icon" aria-label={sharingScreen.value ? 'Stop sharing screen' : 'Share screen'} aria-pressed={sharingScreen.value} disabled={!localStream.value?.getVideoTracks().length} onClick={() => void toggleScreenShare()}>
          <MonitorUp size={20} aria-hidden="true" />
        </button>
        <button type="button" class="icon" aria-label="Choose microphone and camera" aria-expanded={devicesOpen} onClick={() => setDevicesOpen(!devicesOpen)}>
          <Settings2 size={20} aria-hidden="true" />
        </button>
        {canRecord && (
          <button type="button" class="icon" aria-label={recording ? 'Stop recording' : 'Start recording'} aria-pressed={recording} onClick={() => void setRecording(!recording)}>
            {recording ? <Square size={18} aria-hidden="true" /> : <Circle size={18} aria-hidden="true" />}
          </button>
        )}
        <button type="button" class="call-hangup" aria-label="Hang up" onClick={() => void hangUp()}>
          <PhoneOff size={20} aria-hidden="true" />
        </button>
      </div>
    </>
  );
}

/** The call this session is in: the full stage over its conversation, a mini view elsewhere. */
export function CallStage() {
  const c = activeCall.value;
  if (!c) return null;
  const tiles = tilesOf(c);
  const remotes = Object.entries(remoteStreams.value);
  const here = currentId.value === c.conversation_id;
  const conv = conversations.value[c.conversation_id];
  const title = conv ? conversationName(conv) : 'Call';
  const moderator = !!conv && conv.type !== 'dm' && (conv.role === 'owner' || conv.role === 'admin');
  const status = c.state === 'ringing' ? 'Ringing…' : `${tiles.length} in the call`;
  const audio = remotes.map(([key, s]) => <StreamAudio key={key} stream={s} />);
  if (!here) {
    const speaker = tiles.find((t) => t.key === activeSpeaker.value) ?? tiles.find((t) => !t.local) ?? tiles[0];
    return (
      <aside class="call-mini" aria-label={`Call with ${title}`}>
        {audio}
        {speaker && <TileView t={speaker} />}
        <div class="call-mini-bar">
          <button type="button" class="icon" aria-label="Return to the call" onClick={() => navigate(c.conversation_id)}>
            <Maximize2 size={16} aria-hidden="true" />
          </button>
          <button type="button" class="icon" aria-label={micOn.value ? 'Mute microphone' : 'Unmute microphone'} aria-pressed={!micOn.value} onClick={toggleMic}>
            {micOn.value ? <Mic size={16} aria-hidden="true" /> : <MicOff size={16} aria-hidden="true" />}
          </button>
          <button type="button" class="call-hangup" aria-label="Hang up" onClick={() => void hangUp()}>
            <PhoneOff size={16} aria-hidden="true" />
          </button>
        </div>
      </aside>
    );
  }
  return (
    <section class="call-stage" aria-label={`Call with ${title}`}>
      {audio}
      <p class="call-status muted small" role="status">
        {status}
        {c.recording && (
          <span class="call-recording">
            <Circle size={10} aria-hidden="true" /> Recording
          </span>
        )}
      </p>
      <div class={`call-grid is-n${tiles.length}`}>
        {tiles.map((t) => (
          <TileView key={t.key} t={t} moderator={moderator} />
        ))}
      </div>
      <Controls canRecord={moderator && c.mode === 'sfu'} recording={!!c.recording} />
    </section>
  );
}
