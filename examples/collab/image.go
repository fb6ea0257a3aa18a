package main

// The shared image, through the tile protocol (package tiles): the
// presenter's participant shares the picture its page uploads as a tiled
// image named "img/MEMBER/N"; its presence heartbeats name the image, so
// every participant, late joiners too, learns of it within a heartbeat and
// receives it (a snapshot on joining, then the protocol's repairs). The
// page shows /image.png, the image as composed so far.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	_ "image/gif"
	_ "image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/tiles"
)

// maxImageSide bounds a shared image: a larger upload is scaled down.
const maxImageSide = 2048

// imageShare is this participant's side of the shared image: the sender
// of the one it shares, or the receiver of the latest one shared.
type imageShare struct {
	p *Participant

	mu      sync.Mutex
	seq     int64                  // the image shown: its sharer's upload time (Unix ns)
	name    string                 // its tiles name
	from    string                 // its sharer's name
	own     *image.RGBA            // the image this participant shares, if it is the one shown
	send    *tiles.ChannelSender   // while this participant shares
	recv    *tiles.ChannelReceiver // while it follows another's
	version int                    // bumped whenever the image shown changes
	n       int
	done    chan struct{}
	wg      sync.WaitGroup
	closed  bool
}

func newImageShare(p *Participant) (*imageShare, error) {
	return &imageShare{p: p, done: make(chan struct{})}, nil
}

// shared is what the heartbeat says of the image this participant shares.
func (s *imageShare) shared() (name string, seq int64) {
	if s == nil {
		return "", 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.send == nil {
		return "", 0
	}
	return s.name, s.seq
}

// upload shares a picture the page sent, if this participant presents.
func (s *imageShare) upload(b []byte) {
	if !s.p.floors[floorPresenter].holding() {
		slog.Info("collab: image upload refused: not the presenter")
		return
	}
	src, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		slog.Info("collab: image upload refused", "err", err)
		return
	}
	img := fit(src)
	if s.share(img) {
		s.p.pages.mark(dirtyImage)
		s.p.hello(false) // tell the others now, not at the next heartbeat
	}
}

// share starts sharing img, in place of what was shared or followed.
func (s *imageShare) share(img *image.RGBA) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.stopLocked()
	s.n++
	name := fmt.Sprintf("img/%x/%d", s.p.ch.ID(), s.n)
	snd, err := tiles.NewChannelSender(s.p.ch, name, tiles.Config{})
	if err != nil {
		slog.Warn("collab: image", "err", err)
		return false
	}
	if err := snd.Frame(img); err != nil {
		snd.Close()
		slog.Warn("collab: image", "err", err)
		return false
	}
	s.send, s.own, s.name, s.seq, s.from = snd, img, name, time.Now().UnixNano(), s.p.cfg.Name
	s.version++
	return true
}

// fit returns img as an RGBA at the origin, scaled down (nearest pixel)
// to at most maxImageSide a side.
func fit(src image.Image) *image.RGBA {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	scale := max(float64(w)/maxImageSide, float64(h)/maxImageSide, 1)
	dw, dh := max(int(float64(w)/scale), 1), max(int(float64(h)/scale), 1)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	if scale == 1 {
		draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
		return dst
	}
	for y := range dh {
		for x := range dw {
			dst.Set(x, y, src.At(b.Min.X+int(float64(x)*scale), b.Min.Y+int(float64(y)*scale)))
		}
	}
	return dst
}

// heard takes what a heartbeat says of the image its sender shares: a
// newer image than the one shown is followed.
func (s *imageShare) heard(from string, name string, seq int64) {
	if name == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || seq <= s.seq || name == s.name {
		return
	}
	s.stopLocked()
	r, err := tiles.NewChannelReceiver(s.p.ch, name, tiles.RecvConfig{})
	if err != nil {
		slog.Warn("collab: image", "name", name, "err", err)
		return
	}
	s.recv, s.name, s.seq, s.from, s.own = r, name, seq, from, nil
	s.version++
	s.wg.Add(1)
	go s.follow(r)
}

// follow tells the pages, at most five times a second, that tiles came.
func (s *imageShare) follow(r *tiles.ChannelReceiver) {
	defer s.wg.Done()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	changed := false
	for {
		select {
		case <-s.done:
			return
		case <-r.Updated():
			changed = true
		case <-tick.C:
			if !changed {
				continue
			}
			changed = false
			s.mu.Lock()
			if s.recv != r {
				s.mu.Unlock()
				return
			}
			s.version++
			s.mu.Unlock()
			s.p.pages.mark(dirtyImage)
		}
	}
}

// stopLocked stops sharing or following; s.mu is held.
func (s *imageShare) stopLocked() {
	if s.send != nil {
		s.send.Close()
		s.send = nil
	}
	if s.recv != nil {
		s.recv.Close()
		s.recv = nil
	}
}

// current returns the image shown (nil: none yet) and whether it is complete.
func (s *imageShare) current() (*image.RGBA, bool) {
	s.mu.Lock()
	own, r := s.own, s.recv
	s.mu.Unlock()
	if own != nil {
		return own, true
	}
	if r == nil {
		return nil, false
	}
	return r.Image(), r.Complete()
}

// message is the page's "image" message, or nil when there is none.
func (s *imageShare) message() []byte {
	img, complete := s.current()
	if img == nil {
		return nil
	}
	s.mu.Lock()
	m := map[string]any{"t": "image", "version": s.version, "from": s.from, "width": img.Bounds().Dx(), "height": img.Bounds().Dy(), "complete": complete}
	s.mu.Unlock()
	b, _ := json.Marshal(m)
	return b
}

// ServeHTTP serves the image shown as PNG.
func (s *imageShare) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	img, _ := s.current()
	if img == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	png.Encode(w, img)
}

func (s *imageShare) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.stopLocked()
	close(s.done)
	s.mu.Unlock()
	s.wg.Wait()
}
