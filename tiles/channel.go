package tiles

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// DefaultTTL is the time to obsolescence of tile postings and manifests
// ([WithTTL]).
const DefaultTTL = 2 * time.Second

// ctlTTL is the time to obsolescence of join requests and NAKs.
const ctlTTL = time.Second

// maxName bounds an image's name: its streams are NAME and NAME/ctl.
const maxName = posting.MaxStreamLen - 4

// Option configures a [ChannelSender] or [ChannelReceiver].
type Option func(*options) error

type options struct {
	clock stack.Clock
	ttl   time.Duration
}

// WithClock sets the clock (default stack.SystemClock); give the channel
// the same one.
func WithClock(c stack.Clock) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("tiles: WithClock(nil)")
		}
		o.clock = c
		return nil
	}
}

// WithTTL sets the time to obsolescence of a sender's tile postings and
// manifests (DefaultTTL, 2 s): on a semi-reliable stream the channel
// repairs them only that long, and receivers drop older ones.
func WithTTL(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("tiles: WithTTL(%v): not positive", d)
		}
		o.ttl = d
		return nil
	}
}

func newOptions(name string, opts []Option) (options, error) {
	o := options{clock: stack.SystemClock, ttl: DefaultTTL}
	if name == "" || len(name) > maxName {
		return o, fmt.Errorf("tiles: image name of %d bytes (1..%d)", len(name), maxName)
	}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// CtlStream returns the stream on which the receivers of the image name
// send join requests and NAKs; the tiles travel on the stream name.
func CtlStream(name string) string { return name + "/ctl" }

// loop is the goroutine and timer shared by both ends: it runs step when
// an input or the timer wakes it, until Close.
type loop struct {
	clock stack.Clock
	kick  chan struct{}
	done  chan struct{}
	ended chan struct{}
	timer stack.Timer
	once  sync.Once
}

func newLoop(clock stack.Clock) *loop {
	return &loop{clock: clock, kick: make(chan struct{}, 1), done: make(chan struct{}), ended: make(chan struct{})}
}

func (l *loop) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// arm sets the timer to next (zero: none). Only the loop's goroutine
// calls it.
func (l *loop) arm(next time.Time) {
	if next.IsZero() {
		if l.timer != nil {
			l.timer.Stop()
		}
		return
	}
	d := max(next.Sub(l.clock.Now()), 0)
	if l.timer == nil {
		l.timer = l.clock.AfterFunc(d, l.wake)
		return
	}
	l.timer.Reset(d)
}

func (l *loop) stop() {
	l.once.Do(func() { close(l.done) })
	<-l.ended
}

// ChannelSender shares an image, frame after frame, on a channel: its
// tiles on the stream named by the image's name, as latest-wins postings
// (key "tN" for tile N) with a TTL, and it answers the join requests and
// NAKs its receivers send on [CtlStream]. Its methods are safe for
// concurrent use.
type ChannelSender struct {
	ch     *channel.Channel
	name   string
	o      options
	ctl    *channel.Subscription
	l      *loop
	mu     sync.Mutex // guards core and orders the pushes
	core   *Sender
	pushed uint64
	failed uint64
	err    error
	closed bool
}

// NewChannelSender starts sharing the image name on ch. Frames are given
// with [ChannelSender.Frame]; [ChannelSender.Close] stops (it leaves ch
// open).
func NewChannelSender(ch *channel.Channel, name string, cfg Config, opts ...Option) (*ChannelSender, error) {
	o, err := newOptions(name, opts)
	if err != nil {
		return nil, err
	}
	core, err := NewSender(cfg)
	if err != nil {
		return nil, err
	}
	ctl, err := ch.Subscribe(channel.Streams(CtlStream(name)), channel.Queue(1024, channel.DropOldest))
	if err != nil {
		return nil, err
	}
	s := &ChannelSender{ch: ch, name: name, o: o, ctl: ctl, l: newLoop(o.clock), core: core}
	go s.run()
	return s, nil
}

// Frame shares the next frame (see [Sender.Frame]): its changed tiles are
// pushed at once, within the pacing budget, the rest by the sender's
// goroutine. After Close it returns [ErrClosed].
func (s *ChannelSender) Frame(img image.Image) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	outs, err := s.core.Frame(s.o.clock.Now(), img)
	if err == nil {
		s.pushLocked(outs)
	}
	s.mu.Unlock()
	s.l.wake()
	return err
}

// pushLocked pushes outs. A push that fails is counted: the receivers
// NAK what they lack, and the refresh sends it again.
func (s *ChannelSender) pushLocked(outs []Out) {
	ctx := context.Background()
	for _, o := range outs {
		opts := []posting.Option{posting.WithStream(s.name), posting.WithTTL(s.o.ttl)}
		if o.Key != "" {
			opts = append(opts, posting.WithKey(o.Key))
		}
		if err := s.ch.Push(ctx, posting.New(o.Body, opts...)); err != nil {
			s.failed++
			s.err = err
			continue
		}
		s.pushed++
	}
}

func (s *ChannelSender) run() {
	defer close(s.l.ended)
	for {
		select {
		case <-s.l.done:
			return
		case p, ok := <-s.ctl.Postings():
			if !ok {
				return
			}
			if b, ok := p.Body.([]byte); ok {
				s.mu.Lock()
				s.core.Handle(s.o.clock.Now(), s.ch.ID(), b) // a bad message is counted
				s.mu.Unlock()
			}
		case <-s.l.kick:
		}
		s.mu.Lock()
		now := s.o.clock.Now()
		s.pushLocked(s.core.Poll(now))
		next := s.core.Next()
		s.mu.Unlock()
		s.l.arm(next)
	}
}

// ChannelSenderStats are a [ChannelSender]'s counters.
type ChannelSenderStats struct {
	SenderStats
	Pushed     uint64 // postings pushed
	PushFailed uint64 // pushes that failed (the last error in LastError)
	LastError  error
	FullSize   int // the bytes of one full image, now
	Tile       int // the side of a tile in pixels
}

// Stats returns the counters.
func (s *ChannelSender) Stats() ChannelSenderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ChannelSenderStats{SenderStats: s.core.Stats(), Pushed: s.pushed, PushFailed: s.failed, LastError: s.err, FullSize: s.core.FullSize(), Tile: s.core.cfg.Tile}
}

// Close stops the sender's goroutine and timer and its subscription to
// the control stream. It leaves the channel open. It is idempotent.
func (s *ChannelSender) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.l.stop()
	if s.l.timer != nil {
		s.l.timer.Stop()
	}
	return s.ctl.Close()
}

// ChannelReceiver receives an image shared on a channel: it asks for a
// snapshot when it starts, composes the image from the tiles, and NAKs
// what it lacks on [CtlStream]. Its methods are safe for concurrent use.
type ChannelReceiver struct {
	ch      *channel.Channel
	name    string
	o       options
	sub     *channel.Subscription
	l       *loop
	mu      sync.Mutex
	core    *Receiver
	updated chan struct{}
	failed  uint64
}

// NewChannelReceiver starts receiving the image name on ch: it sends a
// join request at once. [ChannelReceiver.Close] stops (it leaves ch open).
func NewChannelReceiver(ch *channel.Channel, name string, cfg RecvConfig, opts ...Option) (*ChannelReceiver, error) {
	o, err := newOptions(name, opts)
	if err != nil {
		return nil, err
	}
	// Tiles are latest-wins: the queue holds at most one per tile, the
	// manifests besides.
	sub, err := ch.Subscribe(channel.Streams(name), channel.Queue(4096, channel.DropOldest))
	if err != nil {
		return nil, err
	}
	r := &ChannelReceiver{ch: ch, name: name, o: o, sub: sub, l: newLoop(o.clock), core: NewReceiver(cfg), updated: make(chan struct{}, 1)}
	r.mu.Lock()
	r.pushLocked([][]byte{r.core.Join(o.clock.Now())})
	r.mu.Unlock()
	go r.run()
	return r, nil
}

func (r *ChannelReceiver) pushLocked(msgs [][]byte) {
	for _, b := range msgs {
		if err := r.ch.Push(context.Background(), posting.New(b, posting.WithStream(CtlStream(r.name)), posting.WithTTL(ctlTTL))); err != nil {
			r.failed++
		}
	}
}

func (r *ChannelReceiver) run() {
	defer close(r.l.ended)
	for {
		changed := false
		select {
		case <-r.l.done:
			return
		case p, ok := <-r.sub.Postings():
			if !ok {
				return
			}
			// Take everything queued before asking for anything: a tile
			// waiting in the queue is late, not lost.
			r.mu.Lock()
			before := r.core.Stats().Tiles
			for {
				if b, ok := p.Body.([]byte); ok {
					r.core.Handle(r.o.clock.Now(), p.Sender, b) // a bad message is counted
				}
				select {
				case p, ok = <-r.sub.Postings():
				default:
					ok = false
				}
				if !ok {
					break
				}
			}
			changed = r.core.Stats().Tiles != before
			r.mu.Unlock()
		case <-r.l.kick:
		}
		if changed {
			select {
			case r.updated <- struct{}{}:
			default:
			}
		}
		r.mu.Lock()
		r.pushLocked(r.core.Poll(r.o.clock.Now()))
		next := r.core.Next()
		r.mu.Unlock()
		r.l.arm(next)
	}
}

// Updated returns a channel that receives a value (at most one waits)
// after a tile has been applied.
func (r *ChannelReceiver) Updated() <-chan struct{} { return r.updated }

// Image returns a copy of the composed image (nil before the first tile).
func (r *ChannelReceiver) Image() *image.RGBA {
	r.mu.Lock()
	defer r.mu.Unlock()
	img := r.core.Image()
	if img == nil {
		return nil
	}
	c := *img
	c.Pix = append([]byte(nil), img.Pix...)
	return &c
}

// Stale returns the tiles stale now (see [Receiver.Stale]).
func (r *ChannelReceiver) Stale() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.core.Stale(nil, r.o.clock.Now())
}

// Complete reports whether every tile has been received.
func (r *ChannelReceiver) Complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.core.Complete()
}

// Stats returns the counters; PushFailed counts control messages that
// could not be pushed.
func (r *ChannelReceiver) Stats() (st RecvStats, pushFailed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.core.Stats(), r.failed
}

// Close stops the receiver's goroutine and timer and its subscription.
// It leaves the channel open. It is idempotent.
func (r *ChannelReceiver) Close() error {
	r.l.stop()
	if r.l.timer != nil {
		r.l.timer.Stop()
	}
	return r.sub.Close()
}
