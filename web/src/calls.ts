// Calls: the client side of API-EXTENSIONS.md "Calls". The server keeps the call's state
// (who is rung, who is in); this file keeps the media: one RTCPeerConnection per other
// participant (a mesh, peer to peer, through TURN when needed), SDP and ICE relayed with
// call.signal, the local camera and microphone, screen sharing, device switching, and the
// quality of each link from getStats. Of two participants the one whose "user:session" key
// sorts first makes the offer, so both never offer at once.
import { signal } from '@preact/signals';
import { api } from './api';
import { me, onServerEvent, onSocketReady, sessionId, showToast, socket, userName } from './state/store';
import { barsFor, offers } from './callquality';
import { SfuRoom, type SfuJoin } from './sfu';
import type { WsEvent } from './ws';

export interface CallParticipant {
  user_id: string;
  session_id: string;
  joined_at: number;
  audio: boolean;
  video: boolean;
  screen: boolean;
  connected: boolean;
}

export interface Call {
  id: string;
  conversation_id: string;
  conversation_type: string;
  started_by: string;
  media: 'audio' | 'video';
  state: 'ringing' | 'active' | 'ended';
  version: number;
  started_at: number;
  answered_at?: number;
  reason?: string;
  participants: CallParticipant[];
  ringing: string[];
  declined: string[];
  busy: string[];
  /** "sfu": the media goes through the SFU (group calls with Janus configured); else p2p. */
  mode?: 'sfu' | 'p2p';
  /** Janus is recording the call (everyone sees it). */
  recording?: boolean;
  /** In the answer to this session's start or accept only: how to enter the SFU room. */
  sfu?: SfuJoin;
}

export interface Quality {
  rttMs: number | null;
  lossPct: number;
  kbps: number;
  /** 0 (bad) to 4 (good). */
  bars: number;
}

/** A call ringing for this user (not yet answered anywhere). */
export const incoming = signal<Call | null>(null);
/** The call this session is in. */
export const activeCall = signal<Call | null>(null);
/** Running calls by conversation, from call.updated (a "Join" button where one runs). */
export const runningCalls = signal<Record<string, Call>>({});
export const localStream = signal<MediaStream | null>(null);
/** Remote media by peer key ("user:session"). */
export const remoteStreams = signal<Record<string, MediaStream>>({});
export const quality = signal<Record<string, Quality>>({});
/** The peer key (or "me") of whoever speaks loudest now. */
export const activeSpeaker = signal<string | null>(null);
export const sharingScreen = signal(false);
export const micOn = signal(true);
export const cameraOn = signal(true);

interface Peer {
  key: string;
  userId: string;
  sessionId: string;
  pc: RTCPeerConnection;
  pendingIce: RTCIceCandidateInit[];
  last?: { at: number; bytes: number };
}

const peers = new Map<string, Peer>();
let iceConfig: RTCConfiguration = {};
let statsTimer: ReturnType<typeof setInterval> | null = null;
let screenTrack: MediaStreamTrack | null = null;
let room: SfuRoom | null = null;

const myKey = () => `${me.value?.id}:${sessionId.value}`;
const keyOf = (p: { user_id: string; session_id: string }) => `${p.user_id}:${p.session_id}`;

export function conversationCall(conversationId: string): Call | null {
  return runningCalls.value[conversationId] ?? null;
}

function remember(c: Call) {
  const next = { ...runningCalls.value };
  if (c.state === 'ended') delete next[c.conversation_id];
  else next[c.conversation_id] = c;
  runningCalls.value = next;
}

// ---- ringtone (Web Audio: two tones, on 1 s, off 2 s) ----

let ringCtx: AudioContext | null = null;
let ringTimer: ReturnType<typeof setInterval> | null = null;

function startRingtone() {
  if (ringTimer) return;
  try {
    ringCtx = new AudioContext();
    void ringCtx.resume().catch(() => {});
  } catch {
    return;
  }
  const ring = () => {
    const ctx = ringCtx;
    if (!ctx) return;
    const gain = ctx.createGain();
    gain.gain.value = 0.08;
    gain.connect(ctx.destination);
    for (const f of [440, 480]) {
      const o = ctx.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      o.stop(ctx.currentTime + 1);
    }
  };
  ring();
  ringTimer = setInterval(ring, 3000);
}

function stopRingtone() {
  if (ringTimer) clearInterval(ringTimer);
  ringTimer = null;
  void ringCtx?.close().catch(() => {});
  ringCtx = null;
}

// ---- media ----

async function openMedia(media: 'audio' | 'video'): Promise<MediaStream> {
  if (localStream.value) return localStream.value;
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
  localStream.value = stream;
  micOn.value = true;
  cameraOn.value = media === 'video';
  return stream;
}

function stopMedia() {
  for (const t of localStream.value?.getTracks() ?? []) t.stop();
  screenTrack?.stop();
  screenTrack = null;
  sharingScreen.value = false;
  localStream.value = null;
}

async function loadIceServers() {
  try {
    const r = await api<{ ice_servers: RTCIceServer[] }>('/calls/ice-servers');
    // A switch for checking TURN: every path relayed (the e2e test sets it).
    const relayOnly = localStorage.getItem('parley.call.relayOnly') === '1';
    iceConfig = { iceServers: r.ice_servers, iceTransportPolicy: relayOnly ? 'relay' : 'all' };
  } catch {
    iceConfig = {};
  }
}

// ---- peers ----

function signal_(call: Call, to: { userId: string; sessionId: string }, data: unknown) {
  socket.send({ type: 'call.signal', call_id: call.id, to_user_id: to.userId, to_session_id: to.sessionId, data });
}

function createPeer(call: Call, p: { user_id: string; session_id: string }): Peer {
  const pc = new RTCPeerConnection(iceConfig);
  const peer: Peer = { key: keyOf(p), userId: p.user_id, sessionId: p.session_id, pc, pendingIce: [] };
  peers.set(peer.key, peer);
  const stream = localStream.value;
  for (const t of stream?.getTracks() ?? []) pc.addTrack(t, stream!);
  // Screen shared before this peer came: it gets the screen in place of the camera.
  if (screenTrack) {
    const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
    if (sender) void sender.replaceTrack(screenTrack);
  }
  pc.onicecandidate = (e) => {
    if (e.candidate) signal_(call, peer, { kind: 'ice', candidate: e.candidate.toJSON() });
  };
  pc.ontrack = (e) => {
    const s = e.streams[0] ?? new MediaStream([e.track]);
    remoteStreams.value = { ...remoteStreams.value, [peer.key]: s };
  };
  return peer;
}

function closePeer(key: string) {
  const p = peers.get(key);
  if (!p) return;
  p.pc.close();
  peers.delete(key);
  const rs = { ...remoteStreams.value };
  delete rs[key];
  remoteStreams.value = rs;
  const q = { ...quality.value };
  delete q[key];
  quality.value = q;
}

async function offer(call: Call, peer: Peer) {
  const o = await peer.pc.createOffer();
  await peer.pc.setLocalDescription(o);
  signal_(call, peer, { kind: 'offer', sdp: o.sdp });
}

/** Brings the peer connections in line with the call's connected participants. */
function syncPeers(call: Call) {
  const mine = myKey();
  const want = new Map<string, CallParticipant>();
  for (const p of call.participants) if (p.connected && keyOf(p) !== mine) want.set(keyOf(p), p);
  for (const key of [...peers.keys()]) if (!want.has(key)) closePeer(key);
  if (call.mode === 'sfu') return; // the SFU room subscribes to the publishers it sees
  for (const [key, p] of want) {
    if (peers.has(key)) continue;
    if (offers(mine, key)) void offer(call, createPeer(call, p)).catch(() => {});
  }
}

async function onSignal(d: { call_id: string; from_user_id: string; from_session_id: string; data: any }) {
  const call = activeCall.value;
  if (!call || call.id !== d.call_id) return;
  const key = `${d.from_user_id}:${d.from_session_id}`;
  const data = d.data ?? {};
  let peer = peers.get(key);
  if (data.kind === 'offer') {
    if (peer && peer.pc.signalingState !== 'stable') {
      closePeer(key);
      peer = undefined;
    }
    peer ??= createPeer(call, { user_id: d.from_user_id, session_id: d.from_session_id });
    await peer.pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
    for (const c of peer.pendingIce.splice(0)) await peer.pc.addIceCandidate(c).catch(() => {});
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    signal_(call, peer, { kind: 'answer', sdp: answer.sdp });
  } else if (data.kind === 'answer' && peer) {
    await peer.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
    for (const c of peer.pendingIce.splice(0)) await peer.pc.addIceCandidate(c).catch(() => {});
  } else if (data.kind === 'ice' && peer && data.candidate) {
    if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(data.candidate).catch(() => {});
    else peer.pendingIce.push(data.candidate);
  }
}

// ---- quality and the active speaker, from getStats ----


async function sampleStats() {
  const next: Record<string, Quality> = {};
  let loudest: string | null = null;
  let level = 0.02; // quieter than this is silence
  for (const peer of peers.values()) {
    const stats = await peer.pc.getStats().catch(() => null);
    if (!stats) continue;
    let rtt: number | null = null;
    let bytes = 0;
    let lost = 0;
    let received = 0;
    stats.forEach((s: any) => {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded' && typeof s.currentRoundTripTime === 'number')
        rtt = Math.round(s.currentRoundTripTime * 1000);
      if (s.type === 'inbound-rtp') {
        bytes += s.bytesReceived ?? 0;
        lost += Math.max(0, s.packetsLost ?? 0);
        received += s.packetsReceived ?? 0;
        if (s.kind === 'audio' && typeof s.audioLevel === 'number' && s.audioLevel > level) {
          level = s.audioLevel;
          loudest = peer.key;
        }
      }
    });
    const now = performance.now();
    const kbps = peer.last ? Math.max(0, ((bytes - peer.last.bytes) * 8) / (now - peer.last.at)) : 0;
    peer.last = { at: now, bytes };
    const q = { rttMs: rtt, lossPct: received + lost ? (100 * lost) / (received + lost) : 0, kbps: Math.round(kbps) };
    next[peer.key] = { ...q, bars: barsFor(q) };
  }
  quality.value = next;
  activeSpeaker.value = loudest;
}

/** For tests and diagnostics: the media flowing on each peer connection. */
async function callStats() {
  const out: any[] = [];
  for (const peer of peers.values()) {
    const stats = await peer.pc.getStats();
    const r = { peer: peer.key, audioBytesIn: 0, videoBytesIn: 0, audioBytesOut: 0, videoBytesOut: 0, framesDecoded: 0, localCandidate: '', remoteCandidate: '', connection: peer.pc.connectionState };
    const cands = new Map<string, any>();
    let pair: any = null;
    stats.forEach((s: any) => {
      if (s.type === 'inbound-rtp') {
        if (s.kind === 'audio') r.audioBytesIn += s.bytesReceived ?? 0;
        if (s.kind === 'video') {
          r.videoBytesIn += s.bytesReceived ?? 0;
          r.framesDecoded += s.framesDecoded ?? 0;
        }
      }
      if (s.type === 'outbound-rtp') {
        if (s.kind === 'audio') r.audioBytesOut += s.bytesSent ?? 0;
        if (s.kind === 'video') r.videoBytesOut += s.bytesSent ?? 0;
      }
      if (s.type === 'local-candidate' || s.type === 'remote-candidate') cands.set(s.id, s);
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (pair) {
      r.localCandidate = cands.get(pair.localCandidateId)?.candidateType ?? '';
      r.remoteCandidate = cands.get(pair.remoteCandidateId)?.candidateType ?? '';
    }
    out.push(r);
  }
  return {
    call: activeCall.value?.id ?? null,
    peers: out,
    liveLocalTracks: (localStream.value?.getTracks() ?? []).filter((t) => t.readyState === 'live').length,
  };
}
(window as any).__parleyCallStats = callStats;

// ---- actions ----

function enter(call: Call) {
  activeCall.value = call;
  remember(call);
  if (!statsTimer) statsTimer = setInterval(() => void sampleStats(), 1000);
  if (call.mode === 'sfu' && call.sfu && localStream.value) enterRoom(call, call.sfu, localStream.value);
  syncPeers(call);
}

function enterRoom(call: Call, join: SfuJoin, stream: MediaStream) {
  void room?.stop();
  const r = new SfuRoom(join, myKey(), iceConfig, {
    onRemote(key, pc, s) {
      if (room !== r) return;
      if (!pc) return closePeer(key);
      const [userId, sessionId] = key.split(':');
      if (!peers.has(key)) peers.set(key, { key, userId, sessionId, pc, pendingIce: [] });
      if (s) remoteStreams.value = { ...remoteStreams.value, [key]: s };
    },
  });
  room = r;
  r.start(stream).catch((e) => {
    if (room === r && activeCall.value?.id === call.id) showToast(`The call's media server: ${(e as Error).message}`);
  });
}

function cleanup() {
  void room?.stop();
  room = null;
  for (const key of [...peers.keys()]) closePeer(key);
  stopMedia();
  activeCall.value = null;
  if (statsTimer) clearInterval(statsTimer);
  statsTimer = null;
  quality.value = {};
  activeSpeaker.value = null;
}

function failed(e: unknown, what: string) {
  const code = (e as { code?: string }).code;
  showToast(code === 'conflict' ? `${what}: you or this conversation are already in a call` : `${what}: ${(e as Error).message}`);
}

export async function startCall(conversationId: string, media: 'audio' | 'video') {
  if (activeCall.value) return;
  try {
    await loadIceServers();
    await openMedia(media);
    const ack = await socket.request<{ call: Call }>({ type: 'call.start', conversation_id: conversationId, media });
    const call = ack.call;
    if (call.state === 'ended') {
      stopMedia();
      showToast(call.reason === 'busy' ? `${call.busy.map(userName).join(', ') || 'They'} ${call.busy.length > 1 ? 'are' : 'is'} busy in another call` : 'The call ended');
      return;
    }
    enter(call);
  } catch (e) {
    stopMedia();
    failed(e, 'Could not start the call');
  }
}

export async function acceptCall(call: Call, media?: 'audio' | 'video') {
  stopRingtone();
  incoming.value = null;
  try {
    await loadIceServers();
    await openMedia(media ?? call.media);
    const ack = await socket.request<{ call: Call }>({ type: 'call.accept', call_id: call.id });
    enter(ack.call);
  } catch (e) {
    cleanup();
    failed(e, 'Could not join the call');
  }
}

export async function declineCall(call: Call) {
  stopRingtone();
  incoming.value = null;
  await socket.request({ type: 'call.decline', call_id: call.id }).catch(() => {});
}

export async function hangUp() {
  const call = activeCall.value;
  cleanup();
  if (call) await socket.request({ type: 'call.leave', call_id: call.id }).catch(() => {});
}

/** Moderation by the conversation's owners and admins: remove someone from the call, or mute
 * them (their client turns its microphone off). */
export async function moderate(kind: 'kick' | 'mute', userId: string) {
  const call = activeCall.value;
  if (!call) return;
  try {
    await socket.request({ type: `call.${kind}`, call_id: call.id, user_id: userId });
  } catch (e) {
    failed(e, kind === 'kick' ? 'Could not remove them from the call' : 'Could not mute them');
  }
}

/** Moderators start and stop recording an SFU call; the server posts the file when it stops. */
export async function setRecording(on: boolean) {
  const call = activeCall.value;
  if (!call) return;
  try {
    await socket.request({ type: 'call.record', call_id: call.id, on });
  } catch (e) {
    failed(e, on ? 'Could not start recording' : 'Could not stop recording');
  }
}

function announceMedia() {
  const call = activeCall.value;
  if (call) socket.send({ type: 'call.media', call_id: call.id, audio: micOn.value, video: cameraOn.value, screen: sharingScreen.value });
}

export function toggleMic() {
  micOn.value = !micOn.value;
  for (const t of localStream.value?.getAudioTracks() ?? []) t.enabled = micOn.value;
  announceMedia();
}

export function toggleCamera() {
  cameraOn.value = !cameraOn.value;
  for (const t of localStream.value?.getVideoTracks() ?? []) t.enabled = cameraOn.value;
  announceMedia();
}

async function replaceVideo(track: MediaStreamTrack | null) {
  const pcs = [...peers.values()].map((p) => p.pc);
  if (room?.publisherPc) pcs.push(room.publisherPc);
  for (const pc of pcs) for (const s of pc.getSenders()) if (s.track?.kind === 'video' || (!s.track && track)) await s.replaceTrack(track).catch(() => {});
}

export async function toggleScreenShare() {
  if (sharingScreen.value) {
    screenTrack?.stop();
    screenTrack = null;
    sharingScreen.value = false;
    await replaceVideo(localStream.value?.getVideoTracks()[0] ?? null);
    announceMedia();
    return;
  }
  try {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: true });
    screenTrack = s.getVideoTracks()[0];
    screenTrack.onended = () => {
      if (sharingScreen.value) void toggleScreenShare();
    };
    sharingScreen.value = true;
    await replaceVideo(screenTrack);
    announceMedia();
  } catch {
    showToast('Screen sharing was not started');
  }
}

export async function listDevices(): Promise<MediaDeviceInfo[]> {
  return navigator.mediaDevices.enumerateDevices().catch(() => []);
}

/** Switches the microphone or camera to another device, on every peer connection. */
export async function switchDevice(kind: 'audioinput' | 'videoinput', deviceId: string) {
  const stream = localStream.value;
  if (!stream) return;
  const fresh = await navigator.mediaDevices.getUserMedia(kind === 'audioinput' ? { audio: { deviceId: { exact: deviceId } } } : { video: { deviceId: { exact: deviceId } } });
  const track = fresh.getTracks()[0];
  const old = kind === 'audioinput' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
  if (old) {
    stream.removeTrack(old);
    old.stop();
  }
  track.enabled = kind === 'audioinput' ? micOn.value : cameraOn.value;
  stream.addTrack(track);
  for (const p of peers.values())
    for (const s of p.pc.getSenders()) if (s.track?.kind === track.kind && !(track.kind === 'video' && sharingScreen.value)) await s.replaceTrack(track);
  localStream.value = new MediaStream(stream.getTracks());
}

// ---- server events ----

function onEvent(e: WsEvent) {
  const d = e.data;
  switch (e.event) {
    case 'call.ringing': {
      const c = d.call as Call;
      remember(c);
      if (!activeCall.value && !incoming.value) {
        incoming.value = c;
        startRingtone();
      }
      break;
    }
    case 'call.updated': {
      const c = d.call as Call;
      remember(c);
      const mine = me.value?.id ?? '';
      if (incoming.value?.id === c.id && !c.ringing.includes(mine)) {
        // Answered on another device, declined there, or no longer ringing.
        incoming.value = null;
        stopRingtone();
      }
      const a = activeCall.value;
      if (a && a.id === c.id && c.version >= a.version) {
        const stillIn = c.participants.some((p) => p.user_id === mine && p.session_id === sessionId.value);
        if (!stillIn) {
          cleanup();
          showToast('You left the call');
        } else {
          activeCall.value = c;
          const self = c.participants.find((p) => p.user_id === mine && p.session_id === sessionId.value);
          if (self && !self.audio && micOn.value) {
            // Muted by a moderator: the microphone goes off here too.
            micOn.value = false;
            for (const t of localStream.value?.getAudioTracks() ?? []) t.enabled = false;
            showToast('A moderator muted your microphone');
          }
          syncPeers(c);
        }
      }
      break;
    }
    case 'call.ended': {
      const c = d.call as Call | undefined;
      if (c) remember(c);
      if (incoming.value?.id === d.call_id) {
        incoming.value = null;
        stopRingtone();
      }
      if (activeCall.value?.id === d.call_id) {
        cleanup();
        const why = d.reason === 'declined' ? 'Call declined' : d.reason === 'timeout' ? 'No answer' : d.reason === 'busy' ? 'Busy in another call' : 'Call ended';
        showToast(why);
      }
      break;
    }
    case 'call.signal':
      void onSignal(d).catch(() => {});
      break;
  }
}

/** After every `ready`: the running calls; a call this session was in (a reload) is rejoined. */
async function onReady() {
  try {
    const r = await api<{ calls: Call[] }>('/calls');
    const next: Record<string, Call> = {};
    for (const c of r.calls) next[c.conversation_id] = c;
    runningCalls.value = next;
    const mine = r.calls.find((c) => c.participants.some((p) => p.user_id === me.value?.id && p.session_id === sessionId.value));
    if (mine && activeCall.value?.id !== mine.id) await acceptCall(mine);
    else if (activeCall.value && activeCall.value.id === mine?.id) {
      // The socket came back within the grace: the others dropped our links; make them again.
      for (const key of [...peers.keys()]) closePeer(key);
      const ack = await socket.request<{ call: Call }>({ type: 'call.accept', call_id: mine.id });
      enter(ack.call);
    } else if (activeCall.value && !mine) cleanup();
  } catch {
    // Calls not enabled, or the list failed: nothing to rejoin.
  }
}

onServerEvent(onEvent);
onSocketReady(() => void onReady());

export function callerName(c: Call): string {
  return userName(c.started_by);
}
