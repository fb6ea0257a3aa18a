package stack

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// tagLayer pushes one byte on the way down and checks it on the way up.
type tagLayer struct {
	Base
	name    string
	tag     byte
	log     *[]string
	caps    Capabilities
	bindErr error
	closed  int
	bound   Binding
}

func (l *tagLayer) Name() string  { return l.name }
func (l *tagLayer) Overhead() int { return 1 }
func (l *tagLayer) Bind(b Binding) error {
	l.bound = b
	if l.bindErr != nil {
		return l.bindErr
	}
	return l.Base.Bind(b)
}
func (l *tagLayer) Capabilities() Capabilities { return l.caps }
func (l *tagLayer) Down(p *Packet) error {
	if l.log != nil {
		*l.log = append(*l.log, l.name+".down")
	}
	p.Push(1)[0] = l.tag
	return l.Base.Down(p)
}
func (l *tagLayer) Up(p *Packet) error {
	if l.log != nil {
		*l.log = append(*l.log, l.name+".up")
	}
	b, ok := p.Consume(1)
	if !ok || b[0] != l.tag {
		l.Binding().Drop(p, "wrong-tag")
		return nil
	}
	return l.Base.Up(p)
}
func (l *tagLayer) Close() error { l.closed++; return nil }

type sink struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (s *sink) Handle(p *Packet) error {
	s.mu.Lock()
	s.pkts = append(s.pkts, append([]byte(nil), p.Bytes()...))
	s.mu.Unlock()
	p.Release()
	return nil
}

func (s *sink) take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pkts
	s.pkts = nil
	return out
}

func newTagStack(t *testing.T, pool *Pool, log *[]string, names ...string) (*Stack, *sink, *sink) {
	t.Helper()
	var layers []Layer
	for i, n := range names {
		layers = append(layers, &tagLayer{name: n, tag: byte('A' + i), log: log})
	}
	wire, app := &sink{}, &sink{}
	s, err := New(Config{Layers: layers, Wire: wire, Deliver: app, MTU: 100, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return s, wire, app
}

func TestStackOrderAndHeadroom(t *testing.T) {
	pool := NewPool()
	var log []string
	s, wire, app := newTagStack(t, pool, &log, "top", "mid", "bottom")
	if s.Overhead() != 3 || s.String() != "top/mid/bottom" {
		t.Fatalf("overhead %d, string %q", s.Overhead(), s)
	}
	// Each layer is told the overhead of the layers below it.
	for i, want := range []int{2, 1, 0} {
		if got := s.layers[i].(*tagLayer).bound.Below; got != want {
			t.Errorf("layer %d Below = %d, want %d", i, got, want)
		}
	}
	p := s.NewPacket(5)
	p.Append([]byte("hello"))
	if err := s.Down(p); err != nil {
		t.Fatal(err)
	}
	out := wire.take()
	if len(out) != 1 || string(out[0]) != "CBAhello" {
		t.Fatalf("wire got %q", out)
	}
	if pool.Grown() != 0 {
		t.Fatal("headroom was not enough")
	}
	if err := s.Up(pool.FromBytes(0, out[0])); err != nil {
		t.Fatal(err)
	}
	if in := app.take(); len(in) != 1 || string(in[0]) != "hello" {
		t.Fatalf("delivered %q", in)
	}
	if want := "top.down mid.down bottom.down bottom.up mid.up top.up"; strings.Join(log, " ") != want {
		t.Fatalf("call order %q", log)
	}
	// A packet with a wrong tag is dropped and counted by the layer that saw it.
	if err := s.Up(pool.FromBytes(0, []byte("CXAhello"))); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Layers[1].Name != "mid" || st.Layers[1].Drops["wrong-tag"] != 1 {
		t.Fatalf("stats %+v", st.Layers)
	}
	if st.Down != 1 || st.Up != 2 || st.Sent != 1 || st.Delivered != 1 {
		t.Fatalf("counters %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if pool.Outstanding() != 0 {
		t.Fatalf("leaked %d packets", pool.Outstanding())
	}
}

func TestStackEmpty(t *testing.T) {
	wire, app := &sink{}, &sink{}
	s, err := New(Config{Wire: wire, Deliver: app, MTU: 10})
	if err != nil {
		t.Fatal(err)
	}
	s.Down(DefaultPool().FromBytes(0, []byte("x")))
	s.Up(DefaultPool().FromBytes(0, []byte("y")))
	if w, a := wire.take(), app.take(); len(w) != 1 || len(a) != 1 || string(w[0]) != "x" || string(a[0]) != "y" {
		t.Fatalf("wire %q app %q", w, a)
	}
	err = s.Down(DefaultPool().FromBytes(0, make([]byte, 11)))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "11 bytes, MTU 10") {
		t.Fatalf("oversize: %v", err)
	}
	if d := s.Stats().Layers[0].Drops["too-large"]; d != 1 {
		t.Fatalf("too-large drops %d", d)
	}
}

func TestStackConfigErrors(t *testing.T) {
	h := HandlerFunc(func(p *Packet) error { p.Release(); return nil })
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no wire", Config{Deliver: h, MTU: 100}, "Config.Wire is nil"},
		{"no deliver", Config{Wire: h, MTU: 100}, "Config.Deliver is nil"},
		{"no mtu", Config{Wire: h, Deliver: h}, "MTU is 0"},
		{"nil layer", Config{Wire: h, Deliver: h, MTU: 100, Layers: []Layer{nil}}, "layer 0 is nil"},
		{"overhead", Config{Wire: h, Deliver: h, MTU: 2, Layers: []Layer{&tagLayer{name: "a"}, &tagLayer{name: "b"}}}, "overhead of 2 bytes leaves no room under the MTU of 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestStackRequirements(t *testing.T) {
	seq := Capabilities{Provides: []Capability{CapSequenced}}
	needSeq := Capabilities{Requires: []Requirement{{Cap: CapSequenced, Where: Below, Why: "ordering needs sequence numbers"}}}
	conf := Capabilities{Provides: []Capability{CapConfidential}}
	noConfAbove := Capabilities{Requires: []Requirement{{Cap: CapConfidential, Where: NoneAbove}}}
	needAbove := Capabilities{Requires: []Requirement{{Cap: CapFragmentation, Where: Above}}}
	frag := Capabilities{Provides: []Capability{CapFragmentation}}
	noFragBelow := Capabilities{Requires: []Requirement{{Cap: CapFragmentation, Where: NoneBelow}}}
	l := func(name string, c Capabilities) *tagLayer { return &tagLayer{name: name, caps: c} }
	cases := []struct {
		name   string
		layers []Layer
		want   string // "" = ok
		other  string
	}{
		{"ok", []Layer{l("order", needSeq), l("window", seq)}, "", ""},
		{"missing", []Layer{l("order", needSeq), l("frag", nil0())}, "order (layer 0) needs a layer below it that provides sequenced; none does (ordering needs sequence numbers)", ""},
		{"wrong side", []Layer{l("window", seq), l("order", needSeq)}, "order (layer 1) needs sequenced below it, but window (layer 0) provides it from above (ordering needs sequence numbers)", "window"},
		{"none above", []Layer{l("encrypt", conf), l("compress", noConfAbove)}, "compress (layer 1) must not be below encrypt (layer 0), which provides confidential", "encrypt"},
		{"none above ok", []Layer{l("compress", noConfAbove), l("encrypt", conf)}, "", ""},
		{"above", []Layer{l("x", needAbove), l("frag", frag)}, "x (layer 0) needs fragmentation above it, but frag (layer 1) provides it from below", "frag"},
		{"above missing", []Layer{l("x", needAbove)}, "x (layer 0) needs a layer above it that provides fragmentation; none does", ""},
		{"none below", []Layer{l("y", noFragBelow), l("frag", frag)}, "y (layer 0) must not be above frag (layer 1), which provides fragmentation", "frag"},
	}
	h := HandlerFunc(func(p *Packet) error { p.Release(); return nil })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(Config{Layers: c.layers, Wire: h, Deliver: h, MTU: 100})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *StackError
			if !errors.As(err, &se) || !errors.Is(err, ErrRequirement) {
				t.Fatalf("got %v, want a requirement error", err)
			}
			if err.Error() != "stack: "+c.want {
				t.Fatalf("got  %q\nwant %q", err.Error(), "stack: "+c.want)
			}
			if se.Other != c.other {
				t.Fatalf("Other = %q, want %q", se.Other, c.other)
			}
			for _, ly := range c.layers {
				if ly.(*tagLayer).closed != 1 {
					t.Fatalf("%s not closed after failed assembly", ly.Name())
				}
			}
		})
	}
}

func nil0() Capabilities { return Capabilities{} }

func TestStackBindError(t *testing.T) {
	h := HandlerFunc(func(p *Packet) error { p.Release(); return nil })
	bad := &tagLayer{name: "frag", bindErr: errors.New("mtu 20 leaves no room")}
	ok := &tagLayer{name: "top"}
	_, err := New(Config{Layers: []Layer{ok, bad}, Wire: h, Deliver: h, MTU: 100})
	if !errors.Is(err, ErrBind) || err.Error() != "stack: frag (layer 1) mtu 20 leaves no room" {
		t.Fatalf("got %v", err)
	}
	if ok.closed != 1 || bad.closed != 1 {
		t.Fatal("layers not closed after failed bind")
	}
}

// timerLayer asks for timers and records when they fire.
type timerLayer struct {
	Base
	name  string
	fired []time.Time
	next  []time.Duration // timers to set, one per firing
}

func (l *timerLayer) Name() string { return l.name }
func (l *timerLayer) OnTimer(now time.Time) {
	l.fired = append(l.fired, now)
	if len(l.next) > 0 {
		l.Binding().SetTimer(now.Add(l.next[0]))
		l.next = l.next[1:]
	}
}
func (l *timerLayer) Down(p *Packet) error {
	// A packet's first byte is a command: 's' sets a timer 10ms on, 'c' cancels it.
	switch p.Bytes()[0] {
	case 's':
		l.Binding().SetTimer(l.Binding().Now().Add(10 * time.Millisecond))
	case 'c':
		l.Binding().SetTimer(time.Time{})
	}
	return l.Base.Down(p)
}

func TestStackTimers(t *testing.T) {
	clock := NewManualClock(time.Time{})
	t0 := clock.Now()
	a := &timerLayer{name: "a", next: []time.Duration{25 * time.Millisecond}}
	b := &timerLayer{name: "b"}
	h := HandlerFunc(func(p *Packet) error { p.Release(); return nil })
	s, err := New(Config{Layers: []Layer{a, b}, Wire: h, Deliver: h, MTU: 100, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	s.Down(DefaultPool().FromBytes(0, []byte("s"))) // a and b both at 10ms
	if d := s.Deadline(); !d.Equal(t0.Add(10 * time.Millisecond)) {
		t.Fatalf("deadline %v", d.Sub(t0))
	}
	clock.Advance(9 * time.Millisecond)
	if len(a.fired)+len(b.fired) != 0 {
		t.Fatal("fired early")
	}
	clock.Advance(time.Millisecond)
	if len(a.fired) != 1 || len(b.fired) != 1 || !a.fired[0].Equal(t0.Add(10*time.Millisecond)) {
		t.Fatalf("a %v b %v", a.fired, b.fired)
	}
	// a re-armed itself for 35ms; a cancelled timer must not fire.
	s.Down(DefaultPool().FromBytes(0, []byte("s"))) // both at 20ms
	s.Down(DefaultPool().FromBytes(0, []byte("c"))) // both cancelled (a's 35ms too)
	clock.Advance(100 * time.Millisecond)
	if len(a.fired) != 1 || len(b.fired) != 1 {
		t.Fatalf("cancelled timers fired: a %d b %d", len(a.fired), len(b.fired))
	}
	s.Down(DefaultPool().FromBytes(0, []byte("s")))
	s.Close()
	clock.Advance(time.Second)
	if len(a.fired) != 1 {
		t.Fatal("timer fired after Close")
	}
}

// TestStackDeliverReentrant: Deliver runs outside the stack's lock, so it
// may send on the same stack (a reply on the same flow) without deadlock.
func TestStackDeliverReentrant(t *testing.T) {
	wire := &sink{}
	var s *Stack
	deliver := HandlerFunc(func(p *Packet) error {
		reply := s.NewPacket(p.Len())
		reply.Append(p.Bytes())
		p.Release()
		return s.Down(reply)
	})
	var err error
	s, err = New(Config{Layers: []Layer{&tagLayer{name: "t", tag: 'T'}}, Wire: wire, Deliver: deliver, MTU: 100})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		s.Up(DefaultPool().FromBytes(0, []byte("Tping")))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: Deliver could not call Down on its own stack")
	}
	if out := wire.take(); len(out) != 1 || string(out[0]) != "Tping" {
		t.Fatalf("echo %q", out)
	}
}

func TestStackEventsAndFlush(t *testing.T) {
	var events []Event
	flushes := 0
	clock := NewManualClock(time.Time{})
	ev := &eventLayer{}
	h := HandlerFunc(func(p *Packet) error { p.Release(); return nil })
	s, err := New(Config{Layers: []Layer{ev}, Wire: h, Deliver: h, MTU: 100, Clock: clock,
		Events: func(e Event) { events = append(events, e) }, Flush: func() { flushes++ }})
	if err != nil {
		t.Fatal(err)
	}
	s.Down(DefaultPool().FromBytes(0, []byte("x")))
	s.Up(DefaultPool().FromBytes(0, []byte("y"))) // no wire write: no flush
	if flushes != 1 {
		t.Fatalf("flushes %d, want 1", flushes)
	}
	if len(events) != 1 || events[0].Layer != "ev" || events[0].Kind != "sent" || !events[0].At.Equal(clock.Now()) {
		t.Fatalf("events %+v", events)
	}
}

type eventLayer struct{ Base }

func (l *eventLayer) Name() string { return "ev" }
func (l *eventLayer) Down(p *Packet) error {
	l.Binding().Emit(Event{Kind: "sent"})
	return l.Base.Down(p)
}

func TestStackCloseIdempotent(t *testing.T) {
	pool := NewPool()
	a := &tagLayer{name: "a", tag: 'A'}
	blocked := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	deliver := HandlerFunc(func(p *Packet) error {
		once.Do(func() { close(blocked); <-release })
		p.Release()
		return nil
	})
	s, err := New(Config{Layers: []Layer{a}, Wire: HandlerFunc(func(p *Packet) error { p.Release(); return nil }), Deliver: deliver, MTU: 100, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	go s.Up(pool.FromBytes(0, []byte("A1")))
	<-blocked
	// While the first delivery blocks, more packets queue; Close releases them.
	s.Up(pool.FromBytes(0, []byte("A2")))
	s.Up(pool.FromBytes(0, []byte("A3")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if a.closed != 1 {
		t.Fatalf("layer closed %d times", a.closed)
	}
	if err := s.Down(pool.FromBytes(0, []byte("x"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Down after Close: %v", err)
	}
	if err := s.Up(pool.FromBytes(0, []byte("x"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Up after Close: %v", err)
	}
	close(release)
	waitFor(t, func() bool { return pool.Outstanding() == 0 })
}

// waitFor polls cond; it is for waiting on other goroutines, never on time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStackConcurrent(t *testing.T) {
	pool := NewPool()
	var mu sync.Mutex
	delivered := map[string]int{}
	deliver := HandlerFunc(func(p *Packet) error {
		mu.Lock()
		delivered[string(p.Bytes())]++
		mu.Unlock()
		p.Release()
		return nil
	})
	var up *Stack
	wire := HandlerFunc(func(p *Packet) error {
		// Loop back into a second stack: a different lock, so no deadlock.
		q := pool.FromBytes(0, p.Bytes())
		p.Release()
		return up.Up(q)
	})
	mk := func(w, d Handler) *Stack {
		s, err := New(Config{Layers: []Layer{&tagLayer{name: "a", tag: 'A'}, &tagLayer{name: "b", tag: 'B'}}, Wire: w, Deliver: d, MTU: 100, Pool: pool})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	up = mk(HandlerFunc(func(p *Packet) error { p.Release(); return nil }), deliver)
	down := mk(wire, deliver)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				p := down.NewPacket(8)
				p.Append([]byte{byte('a' + g), byte(i), byte(i >> 8)})
				if err := down.Down(p); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	down.Close()
	up.Close()
	if len(delivered) != 2000 {
		t.Fatalf("delivered %d distinct packets, want 2000", len(delivered))
	}
	if pool.Outstanding() != 0 {
		t.Fatalf("leaked %d", pool.Outstanding())
	}
}

// queueLayer holds what goes down until something comes up (a window
// waiting for acknowledgements), and has room for limit packets.
type queueLayer struct {
	Base
	limit int
	held  []*Packet
}

func (l *queueLayer) Name() string { return "queue" }
func (l *queueLayer) Room() int    { return l.limit - len(l.held) }
func (l *queueLayer) Down(p *Packet) error {
	l.held = append(l.held, p)
	return nil
}
func (l *queueLayer) Up(p *Packet) error {
	p.Release()
	for _, h := range l.held {
		l.Base.Down(h)
	}
	l.held = nil
	return nil
}

// TestStackHasRoom: the lock-free hint follows the Roomer layers' room as
// it stands at the end of each call into the stack, and the outstanding
// count stays exact.
func TestStackHasRoom(t *testing.T) {
	pool := NewPool()
	q := &queueLayer{limit: 2}
	wire := &sink{}
	s, err := New(Config{Layers: []Layer{q}, Wire: wire, Deliver: &sink{}, MTU: 100, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasRoom() || s.Room() != 2 {
		t.Fatalf("a new stack: HasRoom %v, Room %d", s.HasRoom(), s.Room())
	}
	s.Down(pool.FromBytes(0, []byte("a")))
	if !s.HasRoom() {
		t.Fatal("no room after one of two")
	}
	s.Down(pool.FromBytes(0, []byte("b")))
	if s.HasRoom() || s.Room() != 0 {
		t.Fatalf("full: HasRoom %v, Room %d", s.HasRoom(), s.Room())
	}
	s.Up(pool.FromBytes(0, []byte("ack")))
	if !s.HasRoom() || len(wire.take()) != 2 {
		t.Fatal("the queue went out but the hint says no room")
	}
	s.Close()
	if n := pool.Outstanding(); n != 0 {
		t.Fatalf("outstanding %d", n)
	}

	// A stack without a Roomer always has room.
	e, _, _ := newTagStack(t, pool, nil, "a")
	if !e.HasRoom() || e.Room() != -1 {
		t.Fatalf("no Roomer: HasRoom %v, Room %d", e.HasRoom(), e.Room())
	}
}

// backlogLayer is queueLayer that says how many packets it holds unsent.
type backlogLayer struct{ queueLayer }

func (l *backlogLayer) Backlog() int { return len(l.held) }

// TestStackBacklogged: the lock-free hint follows the Backlogger layers'
// backlog as it stands at the end of each call into the stack; a stack
// without one never has a backlog.
func TestStackBacklogged(t *testing.T) {
	pool := NewPool()
	q := &backlogLayer{queueLayer{limit: 2}}
	wire := &sink{}
	s, err := New(Config{Layers: []Layer{q}, Wire: wire, Deliver: &sink{}, MTU: 100, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if s.Backlogged() {
		t.Fatal("a new stack has a backlog")
	}
	s.Down(pool.FromBytes(0, []byte("a")))
	if !s.Backlogged() {
		t.Fatal("no backlog with a packet held")
	}
	s.Up(pool.FromBytes(0, []byte("ack")))
	if s.Backlogged() || len(wire.take()) != 1 {
		t.Fatal("the queue went out but the hint says backlog")
	}
	s.Close()
	e, _, _ := newTagStack(t, pool, nil, "a")
	e.Down(pool.FromBytes(0, []byte("x")))
	if e.Backlogged() {
		t.Fatal("a stack without a Backlogger has a backlog")
	}
	e.Close()
}
