// The collaboration page: it talks to its own participant over two
// WebSockets. /ws is the gateway (package gateway/ws, through rwanda.js):
// the session's strokes, pointers and chat, pushed and received as
// postings. /app is the participant's own: the roster, the floors, the
// shared image, the audio it plays out; and this page's floor requests,
// captured audio and image uploads.
import { Channel } from "/rwanda.js";

const $ = (id) => document.getElementById(id);
const board = $("board"), bctx = board.getContext("2d");
const pcanvas = $("pointers"), pctx = pcanvas.getContext("2d");

// State the page shows; the tests read it.
const S = (window.collab = {
  ready: false, id: "", name: "", roster: [], floors: {},
  strokes: {},        // by sender: {count, last, gaps}
  strokeLat: [],      // ms from send to arrival, the last 20000
  pointers: new Map(),// by sender/key: {name, x, y, sent, arrival, ttl}
  chat: [],           // the last 200 lines: {from, name, text}
  levels: {},         // by member id: the level shown now
  levelPeak: {},      // by member id: the highest level heard
  image: 0,           // version of the shared image shown
  sentAudio: 0,       // frames captured and sent
  captureError: "",
  history: 0,         // pieces in the last board history the participant sent
  seen: {},           // by roster key (member id, or id/name for a bot): {name, joined, left} (Date.now() of the roster change)
  pointerAges() {     // ms since each displayed pointer was sent
    const now = Date.now(), out = [];
    for (const p of S.pointers.values()) if (now - p.arrival < p.ttl) out.push(now - p.sent);
    return out;
  },
});

// ---- the gateway: strokes, pointers, chat
const gw = await Channel.open(`ws://${location.host}/ws?stream=board&stream=pointer&stream=chat`);
const app = new WebSocket(`ws://${location.host}/app`);
const send = (m) => { if (app.readyState === 1) app.send(JSON.stringify(m)); };

function drawPiece(s) {
  if (s.clear) { bctx.clearRect(0, 0, board.width, board.height); return; }
  if (!Array.isArray(s.pts) || s.pts.length === 0) return;
  bctx.strokeStyle = s.c || "#000"; bctx.lineWidth = s.w || 2; bctx.lineCap = bctx.lineJoin = "round";
  bctx.beginPath();
  bctx.moveTo(s.pts[0][0], s.pts[0][1]);
  for (const [x, y] of s.pts.slice(1)) bctx.lineTo(x, y);
  if (s.pts.length === 1) bctx.lineTo(s.pts[0][0] + 0.1, s.pts[0][1]);
  bctx.stroke();
}

// The board: pieces drawn live (received, or drawn here) are kept, the
// last 500, so that when the participant sends the board's history (when
// the page connects, and when the participant got it late from another)
// the board is drawn again from it, then the recent pieces it lacks.
let recent = [];
const pieceKey = (sender, v) => (v.n ? sender + "/" + v.n : "");
function drawLive(sender, v) {
  recent.push({ k: pieceKey(sender, v), v });
  if (recent.length > 500) recent.shift();
  drawPiece(v);
}
function drawHistory(pieces) {
  bctx.clearRect(0, 0, board.width, board.height);
  const keys = new Set();
  for (const p of pieces) {
    let v;
    try { v = JSON.parse(p.text); } catch { continue; }
    keys.add(pieceKey(p.sender, v));
    drawPiece(v);
  }
  for (const r of recent) if (!r.k || !keys.has(r.k)) drawPiece(r.v);
  S.history = pieces.length;
}

gw.onposting = (p) => {
  let v;
  try { v = JSON.parse(p.text); } catch { return; }
  if (p.stream === "board") {
    const st = (S.strokes[p.sender] ??= { count: 0, last: 0, gaps: 0 });
    st.count++;
    if (v.n) { if (st.last && v.n !== st.last + 1) st.gaps += Math.abs(v.n - st.last - 1); st.last = v.n; }
    if (S.strokeLat.length >= 20000) S.strokeLat.shift();
    S.strokeLat.push(Date.now() - p.sent);
    drawLive(p.sender, v);
  } else if (p.stream === "pointer") {
    S.pointers.set(p.sender + "/" + (p.key || ""), { name: v.name, x: v.x, y: v.y, sent: p.sent, arrival: Date.now(), ttl: p.ttl || 1000 });
  } else if (p.stream === "chat") {
    addChat(p.sender, v.name, v.text);
  }
};
gw.onclose = () => comeBack();

function addChat(from, name, text) {
  S.chat.push({ from, name, text });
  if (S.chat.length > 200) S.chat.shift();
  const log = $("chatlog"), line = document.createElement("div");
  const b = document.createElement("b");
  b.textContent = name + ": ";
  line.append(b, text);
  log.append(line);
  while (log.childElementCount > 200) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

$("chatform").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("chatin").value.trim();
  if (!text) return;
  $("chatin").value = "";
  addChat(S.id, S.name, text);
  await gw.push({ stream: "chat", media: "text", text: JSON.stringify({ name: S.name, text }) });
});

// ---- drawing: pieces of a stroke leave every 30 ms while the pen moves
let pen = null, strokeNo = 0, pieceNo = 0, lastPtr = 0;
const boardXY = (e) => {
  const r = board.getBoundingClientRect();
  return [Math.round((e.clientX - r.left) * board.width / r.width), Math.round((e.clientY - r.top) * board.height / r.height)];
};
function flushPiece(end) {
  if (!pen || pen.pts.length < 2) return;
  const s = { id: `${S.id}/${pen.no}`, n: ++pieceNo, c: pen.color, w: 3, pts: pen.pts, name: S.name };
  pushPiece(s);
  pen.pts = [pen.pts[pen.pts.length - 1]];
  if (end) pen = null;
}
board.addEventListener("pointerdown", (e) => {
  board.setPointerCapture(e.pointerId);
  pen = { no: ++strokeNo, color: $("color").value, pts: [boardXY(e)], timer: setInterval(() => flushPiece(false), 30) };
  pen.pts.push(boardXY(e));
});
board.addEventListener("pointermove", (e) => {
  const xy = boardXY(e);
  if (pen) pen.pts.push(xy);
  const now = performance.now();
  if (now - lastPtr >= 33) {
    lastPtr = now;
    gw.push({ stream: "pointer", media: "data", key: "p", ttl: 1000, text: JSON.stringify({ name: S.name, x: xy[0], y: xy[1] }) }).catch(() => {});
  }
});
const penUp = () => { if (pen) { clearInterval(pen.timer); flushPiece(true); pen = null; } };
board.addEventListener("pointerup", penUp);
board.addEventListener("pointercancel", penUp);
$("clear").addEventListener("click", () => pushPiece({ clear: true, n: ++pieceNo }));

// pushPiece draws a piece of this page's and pushes it on the channel,
// and gives the participant a copy for the board's history.
function pushPiece(s) {
  drawLive(S.id, s);
  const text = JSON.stringify(s);
  gw.push({ stream: "board", media: "data", text }).catch(() => {});
  send({ t: "piece", data: text });
}

// ---- pointers, drawn every frame; one not moved for its TTL disappears
function drawPointers() {
  pctx.clearRect(0, 0, pcanvas.width, pcanvas.height);
  const now = Date.now();
  for (const [id, p] of S.pointers) {
    if (now - p.arrival >= p.ttl) { S.pointers.delete(id); continue; }
    pctx.fillStyle = "#283046";
    pctx.beginPath(); pctx.moveTo(p.x, p.y); pctx.lineTo(p.x + 4, p.y + 14); pctx.lineTo(p.x + 10, p.y + 9); pctx.fill();
    pctx.font = "11px sans-serif"; pctx.fillText(p.name, p.x + 12, p.y + 18);
  }
  requestAnimationFrame(drawPointers);
}
requestAnimationFrame(drawPointers);

// ---- the participant: roster, floors, image, audio
app.onmessage = (ev) => {
  const m = JSON.parse(ev.data);
  switch (m.t) {
    case "hello":
      S.id = m.id; S.name = m.name;
      $("me").textContent = `${m.name} (member ${m.id})`;
      S.ready = true;
      break;
    case "roster": seen(m.members); S.roster = m.members; renderRoster(); break;
    case "floors": for (const f of m.floors) S.floors[f.floor] = f; renderFloors(); break;
    case "image": showImage(m); break;
    case "board": drawHistory(m.pieces || []); break;
    case "audio": play(m); break;
  }
};
app.onclose = () => comeBack();

// comeBack, when the participant is gone (it stopped, crashed or
// restarted), waits for it to answer again, asking every second and then
// less often (up to every 10 s), and reloads the page: a participant that
// comes back is a new member, with its own board history and roster to
// send.
let comingBack = false;
function comeBack() {
  if (comingBack) return;
  comingBack = true;
  S.ready = false;
  $("status").textContent = "disconnected from the participant: reconnecting…";
  let delay = 1000;
  const attempt = async () => {
    try {
      const r = await fetch(location.href, { cache: "no-store" });
      if (r.ok) { location.reload(); return; }
    } catch {}
    delay = Math.min(2 * delay, 10000);
    setTimeout(attempt, delay);
  };
  setTimeout(attempt, delay);
}

// seen notes when members joined and left, as the roster changes.
function seen(members) {
  const now = Date.now(), ids = new Set(members.map((x) => x.key));
  for (const x of members) if (!S.seen[x.key] || S.seen[x.key].left) S.seen[x.key] = { name: x.name, joined: now, left: 0 };
  for (const [id, s] of Object.entries(S.seen)) if (!ids.has(id) && !s.left) s.left = now;
  const ids2 = Object.keys(S.seen);
  for (let i = 0; ids2.length - i > 1000; i++) if (S.seen[ids2[i]].left) delete S.seen[ids2[i]];
}

function renderRoster() {
  const ul = $("roster");
  ul.replaceChildren(...S.roster.map((m) => {
    const li = document.createElement("li");
    li.dataset.id = m.key;
    const name = document.createElement("span");
    name.textContent = m.name + (m.self ? " (you)" : "") + (m.bot ? " · bot" : "");
    if (m.bot) name.className = "bot";
    const meter = document.createElement("meter");
    meter.min = 0; meter.max = 0.5; meter.value = S.levels[m.id] || 0;
    li.append(name, meter);
    return li;
  }));
}

function renderFloors() {
  const box = $("floors");
  box.replaceChildren(...["presenter", "speak"].map((n) => {
    const f = S.floors[n] || { holder: "", queue: [] };
    const d = document.createElement("div");
    d.className = "floor"; d.id = "floor-" + n;
    const who = f.holder ? f.holder + (f.mine ? " (you)" : "") : "free";
    d.innerHTML = `<b>${n}</b>: <span class="holder"></span> <span class="q"></span> `;
    d.querySelector(".holder").textContent = who;
    d.querySelector(".q").textContent = f.queue.length ? "· queue: " + f.queue.join(", ") : "";
    const b = document.createElement("button");
    b.id = "floor-btn-" + n;
    b.textContent = f.mine ? "release" : f.requesting ? "withdraw" : "request";
    b.onclick = () => send({ t: "floor", floor: n, op: f.mine || f.requesting ? "release" : "request" });
    if (n !== "speak") d.append(b);
    return d;
  }));
  const presenter = !!(S.floors.presenter && S.floors.presenter.mine);
  $("clear").disabled = !presenter; $("upload").disabled = !presenter;
  const speak = S.floors.speak || {};
  const talk = $("talk");
  talk.disabled = false;
  talk.classList.toggle("on", !!speak.mine);
  talk.textContent = speak.mine ? "talking: click to stop" : speak.requesting ? "waiting for the floor… (click to withdraw)" : "talk";
  if (speak.mine) startCapture(); else capturing = false;
}

// ---- the shared image: the participant composes it from tiles
function showImage(m) {
  S.image = m.version; S.imageComplete = m.complete;
  $("shared").src = `/image.png?v=${m.version}`;
  $("imginfo").textContent = `image ${m.width}×${m.height} from ${m.from}${m.complete ? "" : " (arriving)"}`;
}
$("upload").addEventListener("change", async () => {
  const f = $("upload").files[0];
  if (!f) return;
  const bytes = new Uint8Array(await f.arrayBuffer());
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  send({ t: "image", data: btoa(bin) });
});

// ---- audio: push to talk through the speak floor
let actx = null, capturing = false, worklet = null, nextPlay = 0; // worklet: a promise, once capture starts
S.audioState = () => (actx ? actx.state : "none");
function audioContext() {
  if (!actx) actx = new AudioContext();
  if (actx.state === "suspended") actx.resume();
  return actx;
}
document.addEventListener("pointerdown", () => audioContext(), { once: true });

$("talk").addEventListener("click", () => {
  audioContext();
  const speak = S.floors.speak || {};
  send({ t: "floor", floor: "speak", op: speak.mine || speak.requesting ? "release" : "request" });
});

function startCapture() {
  capturing = true;
  worklet ??= openCapture().catch((e) => { S.captureError = String(e); worklet = null; });
}

async function openCapture() {
  const ctx = audioContext();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  await ctx.audioWorklet.addModule("capture.js");
  const node = new AudioWorkletNode(ctx, "capture");
  ctx.createMediaStreamSource(stream).connect(node);
  const ratio = ctx.sampleRate / 16000;
  let frame = new Int16Array(320), fill = 0, pos = 0;
  node.port.onmessage = (ev) => {
    if (!capturing) { pos = 0; fill = 0; return; }
    const x = ev.data; // Float32Array at ctx.sampleRate
    for (; pos < x.length; pos += ratio) {
      const v = Math.max(-1, Math.min(1, x[Math.floor(pos)]));
      frame[fill++] = v * 32767;
      if (fill === frame.length) {
        const b = new Uint8Array(frame.buffer);
        let bin = "";
        for (let i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]);
        send({ t: "audio", data: btoa(bin) });
        S.sentAudio++;
        fill = 0;
      }
    }
    pos -= x.length;
  };
}

function play(m) {
  const lvl = m.level || 0;
  S.levels[m.from] = lvl;
  S.levelPeak[m.from] = Math.max(S.levelPeak[m.from] || 0, lvl);
  const meter = document.querySelector(`#roster li[data-id="${m.from}"] meter`);
  if (meter) meter.value = lvl;
  if (!actx || actx.state !== "running") return;
  const bin = atob(m.pcm), n = bin.length >> 1, buf = actx.createBuffer(1, n, 16000), ch = buf.getChannelData(0);
  for (let i = 0; i < n; i++) {
    const s = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
    ch[i] = (s >= 0x8000 ? s - 0x10000 : s) / 32768;
  }
  const src = actx.createBufferSource();
  src.buffer = buf; src.connect(actx.destination);
  nextPlay = Math.max(nextPlay, actx.currentTime + 0.02);
  src.start(nextPlay);
  nextPlay += n / 16000;
}
// Meters fall back when nobody speaks.
setInterval(() => {
  for (const id of Object.keys(S.levels)) {
    S.levels[id] *= 0.7;
    const meter = document.querySelector(`#roster li[data-id="${id}"] meter`);
    if (meter) meter.value = S.levels[id];
  }
}, 100);
