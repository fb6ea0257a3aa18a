package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Handler answers a Pull request. Returning an error sends a Fault whose
// text the puller gets as a *RemoteError; so does a panic, which the
// channel recovers (see [Channel.ServeName]).
//
// ctx is done when the channel closes, when the client's deadline passes
// (the request carries it), when the client gives up (its Pull's context
// is done: it sends a cancel) and when the client leaves the channel (says
// goodbye or falls silent). context.Cause(ctx) says which.
type Handler func(ctx context.Context, req *posting.Posting) (*posting.Posting, error)

// ServiceHeader is the header in which a request names its service
// ([Channel.PullName]); a request without it is for the default service
// ([Channel.Serve]). Pull sets or removes it on the request it sends, so
// handlers see it.
const ServiceHeader = "rwanda-service"

// MaxServiceName is the longest service name, in bytes.
const MaxServiceName = 255

// faultHeader says, on a Fault the channel itself sends, why: faultPanic
// (the handler panicked), faultBusy (too many handlers running) or
// faultNoService (this member does not serve the request's service: the
// client tries another). A Fault without it carries a handler's error.
const (
	faultHeader    = "rwanda-fault"
	faultPanic     = "panic"
	faultBusy      = "busy"
	faultNoService = "no-service"
)

// Why a handler's context ended, as context.Cause reports it.
var (
	errClientCanceled = errors.New("channel: the client cancelled the request")
	errClientGone     = errors.New("channel: the client left the channel")
	errClientDeadline = fmt.Errorf("channel: the client's deadline passed: %w", context.DeadlineExceeded)
)

// errNoService is a member's answer that it does not serve the service
// asked for; Pull tries another member.
var errNoService = errors.New("no such service")

// requests is the request/reply part of a channel: the handlers, one per
// service name (ServeName), the requests they are running (so that a
// client's cancel or departure ends their contexts), the requests waiting
// for replies (Pull), the choice of a server among the members that say
// they serve, and the handlers' goroutines, bounded. It sends through push
// and says hello through hello; it learns of servers from servers
// (membership), of members' clocks from skew, and of members that left
// through forgot.
//
// Which member serves which name is not announced (HELLO says only that a
// member serves something, and the datagram format stays as it is): a
// member asked for a name it does not serve answers a Fault saying so
// (faultNoService), and the client remembers that for the wait (twice the
// announce interval) and asks another.
type requests struct {
	self    uint64
	push    func(ctx context.Context, p *posting.Posting, target uint64) error
	hello   func(dst uint64, flags byte) // queue a HELLO and write it
	servers func() ([]uint64, <-chan struct{})
	skew    func(id uint64) *skewEstimate // a member's clock offset; nil func or nil result: unknown
	clock   stack.Clock
	wait    time.Duration // how long a Pull waits for a server to say hello
	timeout time.Duration // a Pull's bound when its context has none
	cnt     *counters
	log     *slog.Logger
	ctx     context.Context // the channel's lifetime: handlers' contexts derive from it
	wg      *sync.WaitGroup // the channel's: Close waits for handlers

	corr atomic.Uint64
	sem  chan struct{} // handlers running

	mu       sync.Mutex
	closed   bool
	handlers map[string]Handler
	running  map[runKey]context.CancelCauseFunc
	pulls    map[uint64]*pending
	lacks    map[lackKey]time.Time // (member, name): the member said it does not serve name, at
	rr       map[string]uint       // round robin among the servers of a name
}

// pending is a Pull waiting for its reply.
type pending struct {
	reply  chan *posting.Posting
	server uint64
	gone   chan struct{} // closed when the server is forgotten
	left   bool          // gone is closed
}

// runKey names a request being handled: its client and correlation.
type runKey struct{ client, corr uint64 }

type lackKey struct {
	member uint64
	name   string
}

// maxLacks bounds what a client remembers of members that do not serve a
// name; beyond it, entries past the wait are pruned.
const maxLacks = 1024

// init readies r to run at most limit handlers at once, and returns it.
func (r *requests) init(limit int) *requests {
	r.sem = make(chan struct{}, limit)
	r.handlers, r.running = make(map[string]Handler), make(map[runKey]context.CancelCauseFunc)
	r.pulls, r.lacks, r.rr = make(map[uint64]*pending), make(map[lackKey]time.Time), make(map[string]uint)
	r.corr.Store(randomID() >> 1)
	return r
}

// serving reports whether this member serves requests (of any name).
func (r *requests) serving() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.handlers) > 0
}

// checkName reports a service name too long to travel.
func checkName(name string) error {
	if len(name) > MaxServiceName {
		return fmt.Errorf("channel: service name of %d bytes (at most %d)", len(name), MaxServiceName)
	}
	return nil
}

// serve installs h for the service name and says so to every member.
func (r *requests) serve(name string, h Handler) error {
	if err := checkName(name); err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.handlers[name] = h
	r.mu.Unlock()
	r.hello(everyone, 0)
	return nil
}

// request runs the handler of req's service on a goroutine of its own, or
// answers a Fault when this member does not serve it or too many run. A
// request whose client's deadline has already passed is dropped unheard.
func (r *requests) request(req *posting.Posting) {
	name, _ := req.Header(ServiceHeader)
	// The client's deadline, on this member's clock: what it gave
	// (ReplyWithin, from its send time) less the request's age, corrected
	// for the client's clock offset as TTLs are (skewEstimate). The
	// estimate errs young (by the shortest one-way delay), so the
	// handler's deadline is the client's or a little later, never
	// earlier; the client's cancel ends it at the client's time.
	var deadline time.Time
	if req.ReplyWithin > 0 {
		left := req.ReplyWithin - r.age(req)
		if left <= 0 {
			r.cnt.drop("request-expired")
			return
		}
		// A context's deadline is on the system clock, as every
		// context's is; the time left was measured on the channel's.
		deadline = time.Now().Add(left)
	}
	key := runKey{req.Sender, req.Correlation}
	r.mu.Lock()
	h := r.handlers[name]
	_, dup := r.running[key]
	switch {
	case r.closed:
		r.mu.Unlock()
		return
	case h == nil:
		r.mu.Unlock()
		r.fault(req, faultNoService, "this member does not serve "+serviceName(name))
		return
	case dup:
		r.mu.Unlock()
		r.cnt.drop("duplicate-request")
		return
	}
	select {
	case r.sem <- struct{}{}:
	default:
		r.mu.Unlock()
		r.cnt.drop("server-busy")
		r.fault(req, faultBusy, "server busy")
		return
	}
	base, cancel := context.WithCancelCause(r.ctx)
	r.running[key] = cancel
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer func() { <-r.sem }()
		ctx, stop := base, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			ctx, stop = context.WithDeadlineCause(base, deadline, errClientDeadline)
		}
		rep, err := r.call(ctx, h, name, req)
		cause := context.Cause(ctx)
		stop()
		r.mu.Lock()
		delete(r.running, key)
		r.mu.Unlock()
		cancel(nil)
		if cause == errClientCanceled || cause == errClientGone || cause == errClientDeadline {
			// Nobody waits for the answer: the client gave up, left, or
			// its deadline (at or before this one) passed.
			return
		}
		if err != nil {
			code := ""
			var pe *panicError
			if errors.As(err, &pe) {
				code = faultPanic
			}
			r.fault(req, code, err.Error())
			return
		}
		r.reply(req, rep)
	}()
}

// age is how long ago, corrected for its client's clock offset, req was
// sent; 0 when that cannot be told.
func (r *requests) age(req *posting.Posting) time.Duration {
	if r.skew == nil || req.Sent.IsZero() {
		return 0
	}
	if e := r.skew(req.Sender); e != nil {
		return e.age(r.clock.Now(), req.Sent)
	}
	return 0
}

// panicError is what a handler's recovered panic becomes.
type panicError struct{ corr uint64 }

func (e *panicError) Error() string {
	return "handler panicked (request " + strconv.FormatUint(e.corr, 10) + "; the server logged the panic and its stack)"
}

// call runs h, recovering a panic: it is logged with its stack, at Error
// level, and becomes a *panicError. The client learns only that the
// handler panicked: a panic's value and stack describe the server's
// insides (paths, data, addresses), which a handler's returned error,
// chosen by its author to be sent, does not.
func (r *requests) call(ctx context.Context, h Handler, name string, req *posting.Posting) (rep *posting.Posting, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("request handler panicked", "service", name, "client", fmt.Sprintf("%016x", req.Sender),
				"correlation", req.Correlation, "panic", v, "stack", string(debug.Stack()))
			r.cnt.drop("handler-panic")
			rep, err = nil, &panicError{corr: req.Correlation}
		}
	}()
	return h(ctx, req)
}

// reply sends rep, the answer to req, back to its sender.
func (r *requests) reply(req, rep *posting.Posting) {
	if rep == nil {
		rep = posting.New(nil)
	}
	rep.Kind = posting.Reply
	rep.ReplyWithin = 0
	r.send(req, rep)
}

// fault sends a Fault with text msg, and with code (when not "") in
// faultHeader, back to req's sender.
func (r *requests) fault(req *posting.Posting, code, msg string) {
	rep := posting.New(msg, posting.WithKind(posting.Fault))
	if code != "" {
		rep.Headers = []posting.Header{{Name: faultHeader, Value: code}}
	}
	r.send(req, rep)
}

func (r *requests) send(req, rep *posting.Posting) {
	rep.Correlation = req.Correlation
	rep.Stream = req.Stream
	rep.ReplyTo = 0
	if perr := r.push(r.ctx, rep, req.Sender); perr != nil && !errors.Is(perr, ErrClosed) {
		r.log.Debug("reply failed", "to", fmt.Sprintf("%016x", req.Sender), "err", perr)
	}
}

// answer hands a Reply or Fault to the Pull waiting for it; anything else
// (nobody waits, or it comes from another member than the one asked) is a
// stray, counted.
func (r *requests) answer(p *posting.Posting) {
	r.mu.Lock()
	w, ok := r.pulls[p.Correlation]
	r.mu.Unlock()
	if !ok || w.server != p.Sender {
		r.cnt.drop("stray-reply")
		return
	}
	select {
	case w.reply <- p:
	default:
		r.cnt.drop("stray-reply")
	}
}

// cancel ends the handler running for the request p names (a client's
// Cancel). A cancel that finds none (the handler has finished, or never
// ran here) is counted as "cancel".
func (r *requests) cancel(p *posting.Posting) {
	r.mu.Lock()
	c := r.running[runKey{p.Sender, p.Correlation}]
	r.mu.Unlock()
	if c == nil {
		r.cnt.drop("cancel")
		return
	}
	c(errClientCanceled)
}

// forgot is told that membership forgot member id (it said goodbye, fell
// silent, or was evicted): the Pulls waiting for its replies fail with
// ErrNoServer at once, and the handlers running its requests have their
// contexts cancelled.
func (r *requests) forgot(id uint64) {
	var cancels []context.CancelCauseFunc
	r.mu.Lock()
	for _, w := range r.pulls {
		if w.server == id && !w.left {
			w.left = true
			close(w.gone)
		}
	}
	for k, c := range r.running {
		if k.client == id {
			cancels = append(cancels, c)
		}
	}
	for k := range r.lacks {
		if k.member == id {
			delete(r.lacks, k)
		}
	}
	r.mu.Unlock()
	for _, c := range cancels {
		c(errClientGone)
	}
}

// pull is [Channel.PullName]: to, when not 0, is the only member asked.
func (r *requests) pull(ctx context.Context, name string, to uint64, req *posting.Posting) (*posting.Posting, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	setService(req, name)
	for {
		server, err := r.pickServer(ctx, name, to)
		if err != nil {
			return nil, err
		}
		rep, err := r.exchange(ctx, req, server)
		if !errors.Is(err, errNoService) {
			return rep, err
		}
		r.lack(server, name)
		if to != 0 {
			return nil, fmt.Errorf("%w: member %016x does not serve %s", ErrNoServer, to, serviceName(name))
		}
	}
}

// exchange sends req to server and waits for the answer.
func (r *requests) exchange(ctx context.Context, req *posting.Posting, server uint64) (*posting.Posting, error) {
	corr := r.corr.Add(1)
	w := &pending{reply: make(chan *posting.Posting, 1), server: server, gone: make(chan struct{})}
	r.mu.Lock()
	r.pulls[corr] = w
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pulls, corr)
		r.mu.Unlock()
	}()
	// The server may have left between its choice and now: from here on
	// forgot closes w.gone.
	if servers, _ := r.servers(); !slices.Contains(servers, server) {
		return nil, fmt.Errorf("%w: member %016x left", ErrNoServer, server)
	}
	dl, _ := ctx.Deadline()
	within := time.Until(dl)
	if within <= 0 || ctx.Err() != nil {
		return nil, r.ctxErr(ctx, server)
	}
	req.Kind, req.Correlation, req.ReplyTo, req.ReplyWithin = posting.Request, corr, r.self, within
	if err := r.push(ctx, req, server); err != nil {
		return nil, err
	}
	select {
	case rep := <-w.reply:
		return result(rep)
	case <-w.gone:
		select {
		case rep := <-w.reply: // it answered, then left
			return result(rep)
		default:
		}
		return nil, fmt.Errorf("%w: member %016x left before it replied", ErrNoServer, server)
	case <-ctx.Done():
		r.sendCancel(ctx, req, server)
		return nil, r.ctxErr(ctx, server)
	case <-r.ctx.Done():
		return nil, ErrClosed
	}
}

// ctxErr is Pull's error for its context's end.
func (r *requests) ctxErr(ctx context.Context, server uint64) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: no reply from member %016x: %w", ErrTimeout, server, ctx.Err())
	}
	return ctx.Err()
}

// sendCancel tells server that the client gave up on req, so its handler's
// context ends. It goes on req's stream and medium, so on req's stack,
// after req; it is sent without waiting (ctx is done), and if the queue is
// full it is not sent at all: the handler's deadline still ends it.
func (r *requests) sendCancel(ctx context.Context, req *posting.Posting, server uint64) {
	c := &posting.Posting{Stream: req.Stream, Media: req.Media, Kind: posting.Cancel, Correlation: req.Correlation}
	if err := r.push(ctx, c, server); err != nil && !errors.Is(err, ErrClosed) {
		r.log.Debug("cancel not sent", "to", fmt.Sprintf("%016x", server), "err", err)
	}
}

// result turns an answer into Pull's return values.
func result(rep *posting.Posting) (*posting.Posting, error) {
	if rep.Kind != posting.Fault {
		return rep, nil
	}
	code, _ := rep.Header(faultHeader)
	if code == faultNoService {
		return nil, errNoService
	}
	msg, _ := rep.Body.(string)
	return nil, &RemoteError{Server: rep.Sender, Message: msg, Panicked: code == faultPanic}
}

// setService names the service in req's headers, replacing any earlier
// naming (a request reused for another service), without writing to the
// caller's backing array.
func setService(req *posting.Posting, name string) {
	hs := req.Headers
	if i := slices.IndexFunc(hs, func(h posting.Header) bool { return h.Name == ServiceHeader }); i >= 0 {
		hs = slices.DeleteFunc(slices.Clone(hs), func(h posting.Header) bool { return h.Name == ServiceHeader })
	}
	if name != "" {
		hs = append(hs[:len(hs):len(hs)], posting.Header{Name: ServiceHeader, Value: name})
	}
	if len(hs) == 0 {
		hs = nil
	}
	req.Headers = hs
}

// serviceName is name as errors and faults show it.
func serviceName(name string) string {
	if name == "" {
		return "the default service"
	}
	return "service " + strconv.Quote(name)
}

// lack records that member does not serve name.
func (r *requests) lack(member uint64, name string) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lacks) >= maxLacks {
		for k, at := range r.lacks {
			if now.Sub(at) >= r.wait || now.Before(at) {
				delete(r.lacks, k)
			}
		}
		if len(r.lacks) >= maxLacks {
			clear(r.lacks)
		}
	}
	r.lacks[lackKey{member, name}] = now
}

// choose picks among servers the next, round robin per name, that may
// serve name (it has not said otherwise within the wait), and is to when
// to is not 0.
func (r *requests) choose(servers []uint64, name string, to uint64) (uint64, bool) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	cands := servers[:0:0]
	for _, id := range servers {
		if to != 0 && id != to {
			continue
		}
		if at, ok := r.lacks[lackKey{id, name}]; ok {
			if now.Sub(at) < r.wait && !now.Before(at) {
				continue
			}
			delete(r.lacks, lackKey{id, name})
		}
		cands = append(cands, id)
	}
	if len(cands) == 0 {
		return 0, false
	}
	n, ok := r.rr[name]
	if !ok && len(r.rr) >= maxLacks {
		clear(r.rr)
	}
	r.rr[name] = n + 1
	return cands[n%uint(len(cands))], true
}

// pickServer chooses a live member that serves requests (and may serve
// name; to, when not 0), round robin, waiting for one to say hello when
// none is known.
func (r *requests) pickServer(ctx context.Context, name string, to uint64) (uint64, error) {
	var expired chan struct{}
	for asked := false; ; asked = true {
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return 0, ErrClosed
		}
		servers, seen := r.servers()
		if id, ok := r.choose(servers, name, to); ok {
			return id, nil
		}
		if !asked {
			r.hello(everyone, helloAsk)
			expired = make(chan struct{})
			t := r.clock.AfterFunc(r.wait, func() { close(expired) })
			defer t.Stop()
		}
		select {
		case <-seen:
		case <-expired:
			return 0, noServer(name, to)
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %w", noServer(name, to), ctx.Err())
		case <-r.ctx.Done():
			return 0, ErrClosed
		}
	}
}

// noServer is Pull's ErrNoServer for name and to.
func noServer(name string, to uint64) error {
	switch {
	case to != 0:
		return fmt.Errorf("%w: member %016x is not known to serve %s", ErrNoServer, to, serviceName(name))
	case name != "":
		return fmt.Errorf("%w: none serves %s", ErrNoServer, serviceName(name))
	}
	return ErrNoServer
}

// close refuses new handlers and requests; handlers running finish.
func (r *requests) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}
