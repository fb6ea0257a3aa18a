package channel

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// Path MTU and send failures.
//
// The channel's datagram MTU starts at what the transport reports toward
// the URL's peer or the group (UDP: the path's MTU capped at DefaultMTU4
// or DefaultMTU6, or the URL's mtu=). When a send finds the path smaller
// (the transport's *transport.MTUError, EMSGSIZE underneath), the channel
// lowers it: the outbox makes smaller datagrams and each stream's frag
// layer cuts smaller fragments (frag.Layer.SetMTU), for what is sent from
// then on. What was cut and numbered before (a reliable window's packets,
// retransmissions included) keeps its size and its numbers: the transport
// sends datagrams larger than its MTU with IP fragmentation allowed, and
// the run that failed is sent again that way at once. Re-cutting those
// packets under new numbers is not an option: the window's sequence space
// has them already, receivers would have to be told to skip the old
// numbers, and a posting half sent under old numbers would arrive twice or
// not at all; IP fragments carry them as they are.
//
// Every failed send is counted, logged at Warn (the first of its kind at
// once, then at most once per failWarnEvery with the number since) and
// handed to the send-failure hook (onSendFailure), which the error and
// event handler is to use. A lowered MTU is also an event ("path-mtu",
// counted in Stats.Events and given to WithEvents).

// pathMTU is the channel's state for the above.
type pathMTU struct {
	mtu atomic.Int64 // the datagram MTU in use
	mu  sync.Mutex   // serializes lowerings

	warnMu sync.Mutex
	warned map[string]warnState // by failure kind

	hook atomic.Pointer[func(sendFailure)]

	// Sends failing without a success since: the first of them (zero:
	// the last send succeeded), how many, and the latest error. Push
	// fails once they have for failingFor (see sendsFailing).
	failMu       sync.Mutex
	failingSince time.Time
	failures     int
	lastErr      error
	// The same per destination (a member's address on a unicast channel),
	// so that a stream to one member whose sends keep failing fails its
	// pushes while others go on; at most maxFailingDsts are kept.
	dsts map[transport.Addr]*dstFailure
	// failing: failingSince is set or dsts is not empty. Read without the
	// lock on every send and push, so that nothing fails at no cost.
	failing atomic.Bool
}

// dstFailure is a destination's sends failing without a success since.
type dstFailure struct {
	since    time.Time
	failures int
	err      error
}

// maxFailingDsts bounds the destinations whose failures are kept.
const maxFailingDsts = 1024

// failingFor is how long every send must have failed, failingMin times at
// least, before Push reports it: long enough that one refused datagram
// (an ICMP unreachable from a peer that restarts) does not fail pushes.
const (
	failingFor = time.Second
	failingMin = 3
)

// SendError is what Push returns while every send of the channel has been
// failing for a second or more: nothing pushed could leave. It wraps
// [ErrSend] and the last error the transport gave.
type SendError struct {
	Since    time.Time // the first failure without a success since
	Failures int       // sends failed since
	Err      error     // the latest
}

func (e *SendError) Error() string {
	return fmt.Sprintf("channel: every send has failed since %s (%d failures): %v", e.Since.Format(time.RFC3339Nano), e.Failures, e.Err)
}

// Unwrap returns ErrSend and the transport's error.
func (e *SendError) Unwrap() []error { return []error{ErrSend, e.Err} }

type warnState struct {
	at     time.Time // last Warn
	missed int       // failures since, not logged
}

// failWarnEvery is how often failures of one kind are logged at Warn at
// most.
const failWarnEvery = 10 * time.Second

// sendFailure is a send the transport refused, as the send-failure hook
// gets it.
type sendFailure struct {
	// Kind: "path-mtu", a datagram larger than the path's MTU (the MTU
	// was lowered to MTU and the datagrams resent with IP fragmentation
	// allowed); "closed", the transport was closing; otherwise the
	// system's error ("network is unreachable", ...) or "send-error".
	Kind string
	To   transport.Addr
	Err  error
	// Lost is how many datagrams the failure lost: 0 for path-mtu, whose
	// datagrams were resent.
	Lost int
	MTU  int // the channel's datagram MTU after it
}

// MTU is the largest datagram the channel sends, in bytes of UDP payload:
// the URL's mtu=, or else the path's MTU toward the group or the URL's
// peer (the interface's or the route's, less the IP and UDP headers)
// capped at DefaultMTU4 (DefaultMTU6 for IPv6), or that default where the
// path is not known. It falls when a send finds the path smaller
// (EMSGSIZE): postings are cut for the lower MTU from then on, and what
// was cut before goes as IP fragments.
func (c *Channel) MTU() int { return int(c.pmtu.mtu.Load()) }

// onSendFailure sets the function called with each send failure (nil:
// none). It is called on the goroutine that wrote, holding no lock, and
// must not block. For the error and event handler to come.
func (c *Channel) onSendFailure(f func(sendFailure)) {
	if f == nil {
		c.pmtu.hook.Store(nil)
		return
	}
	c.pmtu.hook.Store(&f)
}

// stackMTU is the stacks' MTU under datagrams of dgram bytes: what the
// datagram and frame headers (and a keyed channel's trailer) leave.
func (c *Channel) stackMTU(dgram int) int {
	mtu := dgram - dgramHeaderLen - frameHeaderBase
	if c.auth != nil {
		mtu -= authLen
	}
	return mtu
}

// send writes a run of datagrams to dst. When the path turns out smaller
// than the MTU, the channel lowers its MTU to the path's and sends the
// rest of the run again, which the transport now carries in IP fragments.
func (c *Channel) send(run []byte, seg int, dst transport.Addr) error {
	err := c.tr.Send(run, seg, dst)
	if err == nil {
		return nil // before errors.As, whose target would escape: no allocation per send
	}
	var me *transport.MTUError
	if !errors.As(err, &me) {
		return err
	}
	from, lowered := c.lowerMTU(me.MTU)
	c.failed(sendFailure{Kind: "path-mtu", To: dst, Err: err, MTU: c.MTU()})
	if lowered {
		detail := fmt.Sprintf("datagrams of %d bytes do not fit the path to %v; the MTU is now %d (was %d)", me.Size, dst, c.MTU(), from)
		c.cnt.mu.Lock()
		c.cnt.events["path-mtu"]++
		c.cnt.mu.Unlock()
		if f := c.cnt.onEvent; f != nil {
			f(Event{Kind: "path-mtu", Detail: detail, At: c.clock.Now()})
		}
	}
	if me.Sent >= len(run) {
		return nil
	}
	return c.tr.Send(run[me.Sent:], seg, dst)
}

// lowerMTU brings the channel's datagram MTU down to mtu (not below the
// smallest a URL may give) for what is cut from now on: the outbox's
// datagrams and the streams' fragments. It reports the MTU before and
// whether it fell.
func (c *Channel) lowerMTU(mtu int) (from int, lowered bool) {
	mtu = max(mtu, minMTU)
	p := &c.pmtu
	p.mu.Lock()
	defer p.mu.Unlock()
	from = int(p.mtu.Load())
	if mtu >= from {
		return from, false
	}
	p.mtu.Store(int64(mtu))
	c.out.setMTU(mtu)
	c.og.lowerMTU(c.stackMTU(mtu))
	return from, true
}

// lowerMTU has the streams' layers that cut packets to size (frag) cut
// them for a stack MTU of mtu from their next parcel; streams built from
// now on too (applyMTU).
func (og *outgoing) lowerMTU(mtu int) {
	og.mtuLimit.Store(int64(mtu))
	for _, os := range og.current() {
		setStackMTU(os.st, mtu)
	}
}

// applyMTU gives a new stream's stack the lowered MTU, if the MTU was
// lowered. Called once its stack is built and again once it is among the
// streams, so that a lowering at the same time reaches it either way.
func (og *outgoing) applyMTU(st *stack.Stack) {
	if mtu := og.mtuLimit.Load(); mtu > 0 {
		setStackMTU(st, int(mtu))
	}
}

// setStackMTU tells the layers of st that can cut packets smaller (frag's
// SetMTU) that the stack's MTU is now mtu.
func setStackMTU(st *stack.Stack, mtu int) {
	for _, l := range st.Layers() {
		if s, ok := l.(interface{ SetMTU(int) }); ok {
			s.SetMTU(mtu)
		}
	}
}

// failed reports a send failure: a Warn log, rate-limited per kind, and
// the hook. Failures while the transport closes are only logged at Debug.
func (c *Channel) failed(f sendFailure) {
	if f.Kind == "" {
		f.Kind = failureKind(f.Err)
	}
	if f.MTU == 0 {
		f.MTU = c.MTU()
	}
	now := c.clock.Now()
	if f.Kind == "closed" {
		c.log.Debug("send failed: closing", "to", f.To, "err", f.Err)
	} else if missed, ok := c.pmtu.warnNow(f.Kind, now); ok {
		attrs := []any{"kind", f.Kind, "to", f.To, "err", f.Err, "lost", f.Lost, "mtu", f.MTU}
		if missed > 0 {
			attrs = append(attrs, "more", missed) // failures of this kind since the last warning
		}
		c.log.Warn("send failed", attrs...)
		if f.Kind != "path-mtu" { // that one is its own event
			c.cnt.report(Event{Kind: "send-error", Detail: fmt.Sprintf("%s: %d datagrams to %v lost: %v (and %d more failures of the kind since the last report)", f.Kind, f.Lost, f.To, f.Err, missed), At: now})
		}
	}
	if f.Lost > 0 && f.Kind != "closed" {
		p := &c.pmtu
		p.failMu.Lock()
		if p.failingSince.IsZero() {
			p.failingSince = now
		}
		p.failures++
		p.lastErr = f.Err
		if !f.To.IsZero() {
			if p.dsts == nil || len(p.dsts) >= maxFailingDsts && p.dsts[f.To] == nil {
				p.dsts = make(map[transport.Addr]*dstFailure) // forget the rest: they fail again if they still do
			}
			d := p.dsts[f.To]
			if d == nil {
				d = &dstFailure{since: now}
				p.dsts[f.To] = d
			}
			d.failures++
			d.err = f.Err
		}
		p.failing.Store(true)
		p.failMu.Unlock()
	}
	if h := c.pmtu.hook.Load(); h != nil {
		(*h)(f)
	}
}

// warnNow reports whether a failure of kind at now is to be logged at
// Warn, and how many of the kind were not since the last that was.
func (p *pathMTU) warnNow(kind string, now time.Time) (missed int, ok bool) {
	p.warnMu.Lock()
	defer p.warnMu.Unlock()
	if p.warned == nil {
		p.warned = make(map[string]warnState)
	}
	w, seen := p.warned[kind]
	if seen && now.Sub(w.at) < failWarnEvery {
		w.missed++
		p.warned[kind] = w
		return 0, false
	}
	p.warned[kind] = warnState{at: now}
	return w.missed, true
}

// failureKind names the kind of a send error: "path-mtu", "closed", the
// system's error, or "send-error".
func failureKind(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, transport.ErrMTU):
		return "path-mtu"
	case errors.Is(err, ErrClosed) || errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.As(err, &errno):
		return errno.Error()
	}
	return "send-error"
}

// sent records that a send to dst succeeded: pushes stop failing (on
// streams to dst too). It takes no lock while nothing fails.
func (p *pathMTU) sent(dst transport.Addr) {
	if !p.failing.Load() {
		return
	}
	p.failMu.Lock()
	p.failingSince, p.failures, p.lastErr = time.Time{}, 0, nil
	delete(p.dsts, dst)
	p.failing.Store(len(p.dsts) > 0)
	p.failMu.Unlock()
}

// sendsFailingTo returns a *SendError when every send to dst has failed
// for failingFor, failingMin times at least, at now; nil otherwise.
func (p *pathMTU) sendsFailingTo(dst transport.Addr, now time.Time) error {
	if dst.IsZero() || !p.failing.Load() {
		return nil
	}
	p.failMu.Lock()
	defer p.failMu.Unlock()
	d := p.dsts[dst]
	if d == nil || d.failures < failingMin || now.Sub(d.since) < failingFor {
		return nil
	}
	return &SendError{Since: d.since, Failures: d.failures, Err: d.err}
}

// sendsFailing returns a *SendError when every send has failed for
// failingFor, failingMin times at least, at now; nil otherwise.
func (p *pathMTU) sendsFailing(now time.Time) error {
	if !p.failing.Load() {
		return nil
	}
	p.failMu.Lock()
	defer p.failMu.Unlock()
	if p.failingSince.IsZero() || p.failures < failingMin || now.Sub(p.failingSince) < failingFor {
		return nil
	}
	return &SendError{Since: p.failingSince, Failures: p.failures, Err: p.lastErr}
}
