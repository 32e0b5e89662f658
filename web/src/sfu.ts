// A group call's media through Janus (VideoRoom) over its HTTP API: one Janus session, a
// publisher handle that sends this device's camera and microphone, and a subscriber handle per
// other participant's feed. Parley hands out the room, a token that admits this session only,
// and the feed id to publish under (API-EXTENSIONS.md "Calls": call.sfu); the room's secret
// never reaches the browser. Events come by long-polling the session (which also keeps it
// alive). Each remote feed is keyed by its publisher's display, "user:session", like the
// peer-to-peer links, so the call screen draws both kinds the same way.

export interface SfuJoin {
  url: string;
  room: string;
  token: string;
  feed: string;
}

export interface SfuHooks {
  /** A remote participant's media arrived (or changed), or went (null). */
  onRemote(key: string, pc: RTCPeerConnection | null, stream: MediaStream | null): void;
}

interface Handle {
  id: number;
  pc: RTCPeerConnection;
  key: string; // "" for the publisher
}

let tx = 0;
const transaction = () => `p${Date.now().toString(36)}${(++tx).toString(36)}`;

export class SfuRoom {
  private session = 0;
  private publisher: Handle | null = null;
  private subscribers = new Map<string, Handle>(); // by feed id
  private waiting = new Map<string, (e: any) => void>(); // by transaction
  private stopped = false;

  constructor(
    private join: SfuJoin,
    private display: string,
    private ice: RTCConfiguration,
    private hooks: SfuHooks,
  ) {}

  private async post(path: string, body: object): Promise<any> {
    const r = await fetch(`${this.join.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`janus: HTTP ${r.status}`);
    return r.json();
  }

  /** A plugin request whose answer comes as an event (join, publish, start). */
  private ask(handle: number, body: object, jsep?: RTCSessionDescriptionInit): Promise<any> {
    const t = transaction();
    const answer = new Promise<any>((resolve, reject) => {
      this.waiting.set(t, resolve);
      setTimeout(() => {
        if (this.waiting.delete(t)) reject(new Error('janus: no answer'));
      }, 15_000);
    });
    void this.post(`/${this.session}/${handle}`, { janus: 'message', transaction: t, body, ...(jsep ? { jsep } : {}) }).catch(() => {});
    return answer;
  }

  private async attach(): Promise<number> {
    const a = await this.post(`/${this.session}`, { janus: 'attach', plugin: 'janus.plugin.videoroom', transaction: transaction() });
    return a.data.id as number;
  }

  private trickle(handle: number, pc: RTCPeerConnection) {
    pc.onicecandidate = (e) => {
      const candidate = e.candidate ? e.candidate.toJSON() : { completed: true };
      void this.post(`/${this.session}/${handle}`, { janus: 'trickle', transaction: transaction(), candidate }).catch(() => {});
    };
  }

  async start(stream: MediaStream) {
    const s = await this.post('', { janus: 'create', transaction: transaction() });
    this.session = s.data.id;
    void this.poll();
    const id = await this.attach();
    const pc = new RTCPeerConnection(this.ice);
    this.publisher = { id, pc, key: '' };
    this.trickle(id, pc);
    const joined = await this.ask(id, { request: 'join', ptype: 'publisher', room: this.join.room, id: this.join.feed, token: this.join.token, display: this.display });
    if (joined.plugindata?.data?.videoroom !== 'joined') throw new Error(`janus: ${joined.plugindata?.data?.error ?? 'join refused'}`);
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const published = await this.ask(id, { request: 'publish', audio: true, video: stream.getVideoTracks().length > 0 }, offer);
    if (published.jsep) await pc.setRemoteDescription(published.jsep);
    this.onPublishers(joined.plugindata.data.publishers ?? []);
  }

  /** The publisher's connection (to replace its video track when sharing a screen). */
  get publisherPc(): RTCPeerConnection | null {
    return this.publisher?.pc ?? null;
  }

  private onPublishers(list: { id: string; display?: string }[]) {
    for (const p of list) if (p.id !== this.join.feed && !this.subscribers.has(p.id)) void this.subscribe(p.id, p.display ?? p.id).catch(() => {});
  }

  private async subscribe(feed: string, key: string) {
    const id = await this.attach();
    const pc = new RTCPeerConnection(this.ice);
    const h: Handle = { id, pc, key };
    this.subscribers.set(feed, h);
    this.trickle(id, pc);
    const remote = new MediaStream();
    pc.ontrack = (e) => {
      remote.addTrack(e.track);
      this.hooks.onRemote(key, pc, new MediaStream(remote.getTracks()));
    };
    const attached = await this.ask(id, { request: 'join', ptype: 'subscriber', room: this.join.room, token: this.join.token, streams: [{ feed }] });
    if (!attached.jsep) throw new Error('janus: no offer for the subscription');
    await pc.setRemoteDescription(attached.jsep);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.ask(id, { request: 'start', room: this.join.room }, answer);
    this.hooks.onRemote(key, pc, remote.getTracks().length ? new MediaStream(remote.getTracks()) : null);
  }

  private drop(feed: string) {
    const h = this.subscribers.get(feed);
    if (!h) return;
    this.subscribers.delete(feed);
    h.pc.close();
    this.hooks.onRemote(h.key, null, null);
    void this.post(`/${this.session}/${h.id}`, { janus: 'detach', transaction: transaction() }).catch(() => {});
  }

  private onEvent(e: any) {
    if (e.transaction && this.waiting.has(e.transaction) && (e.janus === 'event' || e.janus === 'success')) {
      const resolve = this.waiting.get(e.transaction)!;
      this.waiting.delete(e.transaction);
      resolve(e);
    }
    const data = e.plugindata?.data;
    if (!data) return;
    if (Array.isArray(data.publishers)) this.onPublishers(data.publishers);
    const gone = data.unpublished ?? data.leaving ?? data.kicked;
    if (gone !== undefined && gone !== 'ok') this.drop(String(gone));
    if (data.videoroom === 'destroyed' || data.leaving === 'ok') void this.stop();
  }

  private async poll() {
    let rid = 0;
    while (!this.stopped && this.session) {
      try {
        const r = await fetch(`${this.join.url}/${this.session}?maxev=10&rid=${++rid}`);
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const body = await r.json();
        for (const e of Array.isArray(body) ? body : [body]) this.onEvent(e);
      } catch {
        if (this.stopped) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    for (const feed of [...this.subscribers.keys()]) this.drop(feed);
    this.publisher?.pc.close();
    this.publisher = null;
    if (this.session) await this.post(`/${this.session}`, { janus: 'destroy', transaction: transaction() }).catch(() => {});
    this.session = 0;
  }
}
