package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/floor"
	"github.com/rwanda-go/rwanda/gateway/ws"
	"github.com/rwanda-go/rwanda/posting"
)

//go:embed web
var webFS embed.FS

// maxMembers bounds the roster (and so the memory presence takes).
const maxMembers = 256

// maxDeparted bounds the departures /debug/collab lists, and
// maxStrokeLat the stroke latencies it summarises.
const (
	maxDeparted  = 64
	maxStrokeLat = 20000
)

// floorLease is the floors' lease: a holder that crashed is replaced in
// about a lease, and a holder whose renewals are held up for most of a
// lease loses the floor for a moment (its audio cuts out); so it is longer
// than floor's default (300 ms), for busy desktops.
const floorLease = time.Second

// Floors: who presents (shares the image, clears the board) and who speaks.
const (
	floorPresenter = "presenter" // localised: the coordinator stays where it was elected
	floorSpeak     = "speak"     // everywhere: the coordinator moves with the floor, as the audio does
)

// Participant is one member of the session with its page server.
type Participant struct {
	cfg   Config
	ch    *channel.Channel
	gw    *ws.Handler
	pages *hub
	audio *speakers
	img   *imageShare
	board *board
	ln    net.Listener
	srv   *http.Server

	floors map[string]*floorCtl

	mu        sync.Mutex
	pres      *presence
	departed  []Departure     // the last maxDeparted who fell silent
	strokeLat []time.Duration // the last maxStrokeLat stroke pieces' push-to-arrival times

	bots   *bots
	joined time.Time // when it said its first hello
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start joins the session and serves the page.
func Start(ctx context.Context, cfg Config) (*Participant, error) {
	if cfg.Heartbeat <= 0 || cfg.Departure <= cfg.Heartbeat {
		return nil, fmt.Errorf("collab: heartbeat %v and departure %v: want 0 < heartbeat < departure", cfg.Heartbeat, cfg.Departure)
	}
	ch, err := channel.Open(ctx, cfg.URL, channel.WithLinger(500*time.Millisecond), channel.WithBlockingPush(),
		channel.WithStreamQoS(streamPointer, pointerQoS))
	if err != nil {
		return nil, err
	}
	p := &Participant{cfg: cfg, ch: ch, pres: newPresence(cfg.Departure, maxMembers), floors: map[string]*floorCtl{}, board: newBoard()}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	fail := func(err error) (*Participant, error) {
		p.Close()
		return nil, err
	}
	p.pages = newHub(p)
	if p.img, err = newImageShare(p); err != nil { // before the presence subscription, which uses it
		return fail(err)
	}
	if p.gw, err = ws.New(ch, ws.WithQueue(4096)); err != nil {
		return fail(err)
	}
	if _, err := ch.SubscribeFunc(p.heard, channel.Streams(streamPresence)); err != nil {
		return fail(err)
	}
	if _, err := ch.SubscribeFunc(func(q *posting.Posting) { p.strokeArrived(q); p.received(q) }, channel.Streams(streamBoard)); err != nil {
		return fail(err)
	}
	if err := ch.ServeName(boardService, p.serveBoard); err != nil {
		return fail(err)
	}
	for _, f := range []struct {
		name string
		mode floor.Mode
	}{{floorPresenter, floor.Localised}, {floorSpeak, floor.Everywhere}} {
		fc, err := openFloor(p, f.name, floor.Config{Name: cfg.Name, Voters: cfg.Voters, Mode: f.mode, Lease: floorLease})
		if err != nil {
			return fail(err)
		}
		p.floors[f.name] = fc
	}
	if p.audio, err = newSpeakers(p); err != nil {
		return fail(err)
	}
	p.joined = time.Now()
	if err := p.hello(false); err != nil {
		return fail(err)
	}
	p.wg.Add(2)
	go p.heartbeat()
	go p.fetchBoard()

	mux := http.NewServeMux()
	web, _ := fs.Sub(webFS, "web")
	mux.Handle("/", http.FileServerFS(web))
	mux.Handle("/rwanda.js", p.gw.ScriptHandler())
	mux.Handle("/ws", p.gw)
	mux.Handle("/app", p.pages)
	mux.Handle("/image.png", p.img)
	mux.HandleFunc("/debug/collab", p.serveStats)
	if p.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return fail(err)
	}
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.srv.Serve(p.ln)
	}()
	if cfg.Bots > 0 {
		if p.bots, err = startBots(p.ctx, cfg); err != nil {
			return fail(err)
		}
	}
	return p, nil
}

// Addr is the page's address.
func (p *Participant) Addr() net.Addr { return p.ln.Addr() }

// Close leaves the session: the bots, the pages, the floors, a goodbye,
// the channel. It is idempotent.
func (p *Participant) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.close() })
	return p.closeErr
}

func (p *Participant) close() error {
	p.cancel()
	if p.bots != nil {
		p.bots.close()
	}
	if p.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.srv.Shutdown(sctx)
		cancel()
	}
	p.pages.close()
	if p.gw != nil {
		p.gw.Close()
	}
	for _, f := range p.floors {
		f.close()
	}
	if p.img != nil {
		p.img.close()
	}
	if p.audio != nil {
		p.audio.close()
	}
	p.wg.Wait()
	p.hello(true)
	return p.ch.Close()
}

// hello pushes a presence heartbeat (a goodbye when bye).
func (p *Participant) hello(bye bool) error {
	h := Hello{Name: p.cfg.Name, Bye: bye}
	if !bye {
		h.Image, h.ImageSeq = p.img.shared()
	}
	return pushHello(p.ch, h)
}

func pushHello(ch *channel.Channel, h Hello) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return ch.Push(ctx, posting.New(h, posting.WithStream(streamPresence), posting.WithMedia(posting.Control)))
}

// heartbeat says hello every heartbeat interval and expires the silent,
// checking ten times per heartbeat so that a departure shows within the
// departure timeout plus a tenth of the interval.
func (p *Participant) heartbeat() {
	defer p.wg.Done()
	tick := time.NewTicker(p.cfg.Heartbeat / 10)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-p.ctx.Done():
			return
		case now := <-tick.C:
			if n%10 == 0 {
				p.hello(false)
			}
			p.mu.Lock()
			gone := p.pres.expire(now)
			p.departed = append(p.departed, gone...)
			if n := len(p.departed) - maxDeparted; n > 0 {
				p.departed = append(p.departed[:0], p.departed[n:]...)
			}
			p.mu.Unlock()
			if len(gone) > 0 {
				p.pages.mark(dirtyRoster)
			}
		}
	}
}

// heard takes a presence posting (on the channel's receiving goroutine).
func (p *Participant) heard(q *posting.Posting) {
	h, ok := q.Body.(Hello)
	if !ok {
		return
	}
	p.mu.Lock()
	changed := p.pres.heard(q.Sender, h, time.Now())
	p.mu.Unlock()
	if changed {
		p.pages.mark(dirtyRoster)
	}
	if h.Image != "" && p.img != nil {
		p.img.heard(h.Name, h.Image, h.ImageSeq)
	}
}

// strokeArrived notes how long a stroke piece took from its push to this
// participant (its send time against this host's clock: a figure for one
// machine, where the clocks are one).
func (p *Participant) strokeArrived(q *posting.Posting) {
	d := time.Since(q.Sent)
	p.mu.Lock()
	if len(p.strokeLat) >= maxStrokeLat {
		p.strokeLat = p.strokeLat[1:]
	}
	p.strokeLat = append(p.strokeLat, d)
	p.mu.Unlock()
}

// roster lists who is present, this participant first.
func (p *Participant) roster() []Member {
	p.mu.Lock()
	ms := p.pres.members()
	p.mu.Unlock()
	id := strconv.FormatUint(p.ch.ID(), 16)
	return append([]Member{{ID: id, Key: id, Name: p.cfg.Name, Self: true}}, ms...)
}

// Stats is what /debug/collab serves (the tests read it).
type Stats struct {
	Name    string            `json:"name"`
	ID      string            `json:"id"`
	Joined  int64             `json:"joined"` // when it said its first hello, Unix ms
	Pages   int               `json:"pages"`
	Gateway ws.Stats          `json:"gateway"`
	Hub     HubStats          `json:"hub"`
	Audio   AudioStats        `json:"audio"`
	Bots    map[string]uint64 `json:"botStrokes"` // stroke postings each bot pushed, by member id
	Roster  []Member          `json:"roster"`
	// Departed lists the last participants that fell silent (not those
	// that said goodbye).
	Departed []Departure `json:"departed"`
	// StrokeLatency: quantiles (p50, p95, p99, max) in ms of the push-to-
	// arrival time of the last stroke pieces this participant received.
	StrokeLatency []float64 `json:"strokeLatency"`
	Strokes       int       `json:"strokes"` // how many they are
	// The channel's counters: received, drops and events by reason.
	Received channel.Traffic   `json:"received"`
	Drops    map[string]uint64 `json:"drops"`
	Events   map[string]uint64 `json:"events"`
}

// BotStrokes counts the stroke postings the bots pushed, by the member id
// they push as (hexadecimal); after Close, the final counts.
func (p *Participant) BotStrokes() map[string]uint64 {
	m := map[string]uint64{}
	if p.bots != nil {
		m[strconv.FormatUint(p.bots.ch.ID(), 16)] = p.bots.strokes.Load()
	}
	return m
}

func (p *Participant) serveStats(w http.ResponseWriter, r *http.Request) {
	st := Stats{Name: p.cfg.Name, ID: strconv.FormatUint(p.ch.ID(), 16), Joined: p.joined.UnixMilli(), Gateway: p.gw.Stats(), Hub: p.pages.stats(),
		Audio: p.audio.stats(), Roster: p.roster()}
	p.mu.Lock()
	st.Departed = append([]Departure(nil), p.departed...)
	lat := slices.Clone(p.strokeLat)
	p.mu.Unlock()
	if st.Strokes = len(lat); len(lat) > 0 {
		slices.Sort(lat)
		for _, q := range []float64{0.5, 0.95, 0.99, 1} {
			st.StrokeLatency = append(st.StrokeLatency, float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds())/1e3)
		}
	}
	cs := p.ch.Stats()
	st.Received, st.Drops, st.Events = cs.Received, cs.Drops, cs.Events
	st.Pages = st.Hub.Pages
	st.Bots = p.BotStrokes()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

// floorCtl is one floor and this participant's request on it.
type floorCtl struct {
	p    *Participant
	name string
	f    *floor.Floor

	mu      sync.Mutex
	pending context.CancelFunc // a request waiting, or nil
	closed  bool
	wg      sync.WaitGroup
	done    chan struct{}
}

func openFloor(p *Participant, name string, cfg floor.Config) (*floorCtl, error) {
	fc := &floorCtl{p: p, name: name, done: make(chan struct{})}
	var err error
	fc.f, err = floor.Open(p.ch, name, cfg,
		floor.WithEvents(func(floor.Event) { p.pages.mark(dirtyFloors) }),
		floor.WithLogger(slog.Default()))
	if err != nil {
		return nil, err
	}
	fc.wg.Add(1)
	go fc.watch()
	return fc, nil
}

// watch tells the pages of every change of the floor's state.
func (fc *floorCtl) watch() {
	defer fc.wg.Done()
	for {
		select {
		case <-fc.f.Changed():
			fc.p.pages.mark(dirtyFloors)
		case <-fc.done:
			return
		}
	}
}

// request asks for the floor unless this participant holds it or asked.
func (fc *floorCtl) request() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.closed || fc.pending != nil || fc.f.Grant() != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	fc.pending = cancel
	fc.wg.Add(1)
	go func() {
		defer fc.wg.Done()
		_, err := fc.f.Request(ctx, 0)
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, floor.ErrWithdrawn) && !errors.Is(err, floor.ErrClosed) {
			slog.Warn("collab: floor request", "floor", fc.name, "err", err)
		}
		fc.mu.Lock()
		fc.pending = nil
		fc.mu.Unlock()
		cancel()
		fc.p.pages.mark(dirtyFloors)
	}()
	fc.p.pages.mark(dirtyFloors)
}

// release gives the floor back, or withdraws the request.
func (fc *floorCtl) release() {
	fc.mu.Lock()
	if c := fc.pending; c != nil {
		c()
	}
	fc.mu.Unlock()
	fc.f.Release()
	fc.p.pages.mark(dirtyFloors)
}

// holding reports whether this participant holds the floor with a valid lease.
func (fc *floorCtl) holding() bool {
	g := fc.f.Grant()
	return g != nil && g.Valid()
}

func (fc *floorCtl) close() {
	fc.mu.Lock()
	if fc.closed {
		fc.mu.Unlock()
		return
	}
	fc.closed = true
	if c := fc.pending; c != nil {
		c()
	}
	fc.mu.Unlock()
	fc.f.Close()
	close(fc.done)
	fc.wg.Wait()
}

// FloorView is a floor as a page shows it.
type FloorView struct {
	Floor       string   `json:"floor"`
	Holder      string   `json:"holder"` // name, "" when free
	HolderID    string   `json:"holderId,omitempty"`
	Queue       []string `json:"queue"` // names, first served first
	Coordinator string   `json:"coordinator"`
	Mine        bool     `json:"mine"`       // this participant holds it
	Requesting  bool     `json:"requesting"` // this participant waits for it
}

func (fc *floorCtl) view() FloorView {
	st := fc.f.State()
	v := FloorView{Floor: fc.name, Holder: st.Holder.Name, Coordinator: st.Coordinator.Name, Queue: []string{}, Mine: fc.holding()}
	if !st.Holder.IsZero() {
		v.HolderID = strconv.FormatUint(st.Holder.Inc, 16)
	}
	self := fc.f.Self()
	for _, e := range st.Queue {
		v.Queue = append(v.Queue, e.Member.Name)
		if e.Member == self {
			v.Requesting = true
		}
	}
	fc.mu.Lock()
	if fc.pending != nil {
		v.Requesting = true
	}
	fc.mu.Unlock()
	if v.Mine {
		v.Holder, v.HolderID, v.Requesting = self.Name, strconv.FormatUint(self.Inc, 16), false
		v.Queue = slices.DeleteFunc(v.Queue, func(n string) bool { return n == self.Name })
	}
	return v
}
