// rwanda.js: a browser's side of a rwanda channel, through a gateway's
// WebSocket handler (Go package github.com/rwanda-go/rwanda/gateway/ws,
// whose doc describes the messages). An ES module with no dependencies.
//
//   import { Channel } from "/rwanda.js";
//   const ch = await Channel.open("ws://host:8080/ws?stream=chat");
//   ch.onposting = (p) => console.log(p.sender, p.text ?? p.bytes ?? p.value);
//   await ch.push({ stream: "chat", media: "text", text: "hi" });
//   ch.close();

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
  // Channel.open resolves once the WebSocket is open.
  static open(url) {
    return new Promise((resolve, reject) => {
      const ch = new Channel(url);
      ch.ws.addEventListener("open", () => resolve(ch), { once: true });
      ch.ws.addEventListener("error", () => reject(new Error("rwanda: cannot connect to " + url)), { once: true });
    });
  }

  constructor(url) {
    this.ws = new WebSocket(url);
    this.onposting = null; // (posting) => void
    this.onclose = null; // ({code, reason}) => void
    this.nextRef = 1;
    this.pending = new Map(); // ref -> {resolve, reject}
    this.ws.addEventListener("message", (ev) => this.#message(ev));
    this.ws.addEventListener("close", (ev) => {
      for (const { reject } of this.pending.values()) reject(new Error("rwanda: connection closed"));
      this.pending.clear();
      if (this.onclose) this.onclose({ code: ev.code, reason: ev.reason });
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

  // push sends a posting: {stream, media, text | bytes (Uint8Array), ttl
  // (ms), key, frame (string), frameEnd, headers}. It resolves when the
  // gateway has pushed it on the channel, and rejects with its error.
  push(p) {
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

  close() {
    this.ws.close(1000, "");
  }
}
