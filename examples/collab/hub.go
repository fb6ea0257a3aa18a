package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// What a page must be sent again: the latest state, never a backlog.
const (
	dirtyRoster = 1 << iota
	dirtyFloors
	dirtyImage
	dirtyBoard // the board's history (sent when a page connects, and when it came late)
)

// Bounds of the page sockets.
const (
	maxPages      = 16       // pages per participant
	audioQueue    = 50       // played audio frames queued per page (1 s); the oldest go first
	pageReadLimit = 16 << 20 // a page's largest message (an image upload)
	writeTimeout  = 10 * time.Second
)

// hub serves the pages' /app sockets: the session's state (roster,
// floors, image), the played audio, and the pages' requests (floors,
// captured audio, image uploads). The channel's postings (strokes,
// pointers, chat) go through the gateway's /ws instead.
type hub struct {
	p *Participant

	mu     sync.Mutex
	pages  map[*pageConn]struct{}
	closed bool
	wg     sync.WaitGroup

	audioDropped, audioIn, audioRefused atomic.Uint64
}

// HubStats counts what the hub did.
type HubStats struct {
	Pages        int    `json:"pages"`
	AudioIn      uint64 `json:"audioIn"`      // captured frames pushed on the channel
	AudioRefused uint64 `json:"audioRefused"` // captured frames dropped: the speak floor not held
	AudioDropped uint64 `json:"audioDropped"` // played frames dropped for slow pages
}

type pageConn struct {
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	dirty int
	audio [][]byte
	wake  chan struct{}
}

func newHub(p *Participant) *hub { return &hub{p: p, pages: map[*pageConn]struct{}{}} }

func (h *hub) stats() HubStats {
	h.mu.Lock()
	n := len(h.pages)
	h.mu.Unlock()
	return HubStats{Pages: n, AudioIn: h.audioIn.Load(), AudioRefused: h.audioRefused.Load(), AudioDropped: h.audioDropped.Load()}
}

// mark has every page sent the state named by what.
func (h *hub) mark(what int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.pages {
		c.mark(what)
	}
}

func (c *pageConn) mark(what int) {
	c.mu.Lock()
	c.dirty |= what
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// played hands every page a frame of audio (a JSON message).
func (h *hub) played(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.pages {
		c.mu.Lock()
		if len(c.audio) >= audioQueue {
			c.audio = c.audio[1:]
			h.audioDropped.Add(1)
		}
		c.audio = append(c.audio, msg)
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.pages {
		c.cancel()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// fromPage is a page's message.
type fromPage struct {
	T     string `json:"t"`     // "floor", "audio", "image", "piece"
	Floor string `json:"floor"` // floor: which
	Op    string `json:"op"`    // floor: "request" or "release"
	Data  string `json:"data"`  // audio: PCM; image: the file; base64. piece: a stroke piece the page pushed (its text)
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	full := h.closed || len(h.pages) >= maxPages
	h.mu.Unlock()
	if full {
		http.Error(w, "collab: too many pages", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(pageReadLimit)
	ctx, cancel := context.WithCancel(context.Background())
	c := &pageConn{conn: conn, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), dirty: dirtyRoster | dirtyFloors | dirtyImage | dirtyBoard}
	c.wake <- struct{}{} // the whole state first
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		conn.Close(websocket.StatusGoingAway, "leaving")
		return
	}
	h.pages[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	defer func() {
		h.mu.Lock()
		delete(h.pages, c)
		h.mu.Unlock()
		cancel()
		conn.Close(websocket.StatusNormalClosure, "")
	}()
	hello, _ := json.Marshal(map[string]any{"t": "hello", "id": strconv.FormatUint(h.p.ch.ID(), 16), "name": h.p.cfg.Name,
		"voter": isVoter(h.p.cfg), "pointerTTL": pointerTTL.Milliseconds()})
	if c.write(hello) != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.writer(c)
	}()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			break
		}
		var m fromPage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		h.fromPage(m)
	}
	cancel()
	<-done
}

func isVoter(cfg Config) bool {
	for _, v := range cfg.Voters {
		if v == cfg.Name {
			return true
		}
	}
	return false
}

func (h *hub) fromPage(m fromPage) {
	switch m.T {
	case "floor":
		fc := h.p.floors[m.Floor]
		if fc == nil {
			return
		}
		if m.Op == "request" {
			fc.request()
		} else {
			fc.release()
		}
	case "audio":
		pcm, err := base64.StdEncoding.DecodeString(m.Data)
		if err != nil || len(pcm) == 0 || len(pcm) > 8192 {
			return
		}
		if h.p.speak(pcm) {
			h.audioIn.Add(1)
		} else {
			h.audioRefused.Add(1)
		}
	case "piece":
		h.p.board.add(false, Piece{Sender: strconv.FormatUint(h.p.ch.ID(), 16), Text: m.Data})
	case "image":
		b, err := base64.StdEncoding.DecodeString(m.Data)
		if err != nil {
			return
		}
		h.p.img.upload(b)
	}
}

func (c *pageConn) write(msg []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, msg)
}

// writer sends the page what is dirty, then the audio queued.
func (h *hub) writer(c *pageConn) {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		dirty, audio := c.dirty, c.audio
		c.dirty, c.audio = 0, nil
		c.mu.Unlock()
		var msgs [][]byte
		if dirty&dirtyRoster != 0 {
			b, _ := json.Marshal(map[string]any{"t": "roster", "members": h.p.roster()})
			msgs = append(msgs, b)
		}
		if dirty&dirtyFloors != 0 {
			var fs []FloorView
			for _, n := range []string{floorPresenter, floorSpeak} {
				fs = append(fs, h.p.floors[n].view())
			}
			b, _ := json.Marshal(map[string]any{"t": "floors", "floors": fs})
			msgs = append(msgs, b)
		}
		if dirty&dirtyBoard != 0 {
			b, _ := json.Marshal(map[string]any{"t": "board", "pieces": h.p.board.all()})
			msgs = append(msgs, b)
		}
		if dirty&dirtyImage != 0 {
			if b := h.p.img.message(); b != nil {
				msgs = append(msgs, b)
			}
		}
		for _, m := range append(msgs, audio...) {
			if c.write(m) != nil {
				c.cancel()
				return
			}
		}
	}
}
