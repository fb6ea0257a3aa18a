// rwanda.js: a browser's side of a rwanda channel, through a gateway's
// WebSocket handler (Go package github.com/rwanda-go/rwanda/gateway/ws,
// whose doc describes the messages). An ES module with no dependencies.
//
//   import { Channel } from "/rwanda.js";
//   const ch = await Channel.open("ws://host:8080/ws?stream=chat");
//   ch.onposting = (p) => console.log(p.sender, p.text ?? p.bytes ?? p.value);
//   await ch.push({ stream: "chat", media: "text", text: "hi" });
//   ch.close();
//
// With { reconnect: true }, a connection the gateway closes or loses (a
// gateway restarted, a network change) is opened again, after 250 ms, then
// after delays doubling to 8 s (each less a random part of up to a half,
// so that many pages do not come back at once), until close(). onclose is
// called at each loss, onreconnect() once connected again; postings sent
// while disconnected are not delivered later, and pushes in flight or made
// meanwhile reject.

function b64decode(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64encode(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

export class Channel {
  // Channel.open resolves once the WebSocket is open (the first time: a
  // first connection that fails rejects, reconnect or not).
  static open(url, { reconnect = false } = {}) {
    return new Promise((resolve, reject) => {
      const ch = new Channel(url, { reconnect });
      ch.ws.addEventListener("open", () => resolve(ch), { once: true });
      ch.ws.addEventListener("error", () => {
        ch.closed = true; // no reconnecting a channel never opened
        reject(new Error("rwanda: cannot connect to " + url));
      }, { once: true });
    });
  }

  constructor(url, { reconnect = false } = {}) {
    this.url = url;
    this.reconnect = reconnect;
    this.onposting = null; // (posting) => void
    this.onclose = null; // ({code, reason}) => void
    this.onreconnect = null; // () => void
    this.nextRef = 1;
    this.pending = new Map(); // ref -> {resolve, reject}
    this.closed = false; // close() was called
    this.delay = 0; // the next reconnection's delay, ms
    this.#connect();
  }

  #connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("message", (ev) => this.#message(ev));
    ws.addEventListener("open", () => {
      if (this.delay > 0) {
        this.delay = 0;
        if (this.onreconnect) this.onreconnect();
      }
    });
    ws.addEventListener("close", (ev) => {
      for (const { reject } of this.pending.values()) reject(new Error("rwanda: connection closed"));
      this.pending.clear();
      if (this.onclose) this.onclose({ code: ev.code, reason: ev.reason });
      if (!this.reconnect || this.closed) return;
      this.delay = this.delay === 0 ? 250 : Math.min(2 * this.delay, 8000);
      setTimeout(() => { if (!this.closed) this.#connect(); }, this.delay * (1 - Math.random() / 2));
    });
  }

  #message(ev) {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (m.ack !== undefined || (m.error !== undefined && m.ref !== undefined)) {
      const ref = m.ack !== undefined ? m.ack : m.ref;
      const w = this.pending.get(ref);
      if (w) {
        this.pending.delete(ref);
        if (m.error !== undefined) w.reject(new Error(m.error));
        else w.resolve();
      }
      return;
    }
    if (m.error !== undefined) return;
    if (m.base64 !== undefined) m.bytes = b64decode(m.base64);
    if (this.onposting) this.onposting(m);
  }

  // connected says whether the WebSocket is open now.
  get connected() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  // push sends a posting: {stream, media, text | bytes (Uint8Array), ttl
  // (ms), key, frame (string), frameEnd, headers}. It resolves when the
  // gateway has pushed it on the channel, and rejects with its error, or
  // at once when not connected.
  push(p) {
    if (!this.connected) return Promise.reject(new Error("rwanda: not connected"));
    const ref = this.nextRef++;
    const m = { ref };
    for (const k of ["stream", "media", "ttl", "key", "frame", "frameEnd", "headers", "text"]) {
      if (p[k] !== undefined) m[k] = p[k];
    }
    if (p.bytes !== undefined) m.base64 = b64encode(p.bytes);
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify(m));
    });
  }

  // close closes the connection for good (no reconnecting).
  close() {
    this.closed = true;
    this.ws.close(1000, "");
  }
}
