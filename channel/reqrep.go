package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Handler answers a Pull request. Returning an error sends a Fault whose
// text the puller gets as a *RemoteError.
type Handler func(ctx context.Context, req *posting.Posting) (*posting.Posting, error)

// requests is the request/reply part of a channel: the handler that
// serves (Serve), the requests waiting for replies (Pull), the choice of
// a server among the members that say they serve, and the handlers'
// goroutines, bounded. It sends through push and says hello through
// hello; it learns of servers from servers (membership).
type requests struct {
	self    uint64
	push    func(ctx context.Context, p *posting.Posting, target uint64) error
	hello   func(dst uint64, flags byte) // queue a HELLO and write it
	servers func() ([]uint64, <-chan struct{})
	clock   stack.Clock
	wait    time.Duration // how long a Pull waits for a server to say hello
	timeout time.Duration // a Pull's bound when its context has none
	cnt     *counters
	log     *slog.Logger
	ctx     context.Context // the channel's lifetime: handlers get it
	wg      *sync.WaitGroup // the channel's: Close waits for handlers

	corr atomic.Uint64
	sem  chan struct{} // handlers running

	mu      sync.Mutex
	closed  bool
	handler Handler
	pulls   map[uint64]pending
	rr      int // round robin among servers
}

type pending struct {
	reply  chan *posting.Posting
	server uint64
}

// init readies r to run at most limit handlers at once, and returns it.
func (r *requests) init(limit int) *requests {
	r.sem, r.pulls = make(chan struct{}, limit), make(map[uint64]pending)
	r.corr.Store(randomID() >> 1)
	return r
}

// serving reports whether this member serves requests.
func (r *requests) serving() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handler != nil
}

// serve installs h and says so to every member.
func (r *requests) serve(h Handler) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.handler = h
	r.mu.Unlock()
	r.hello(everyone, 0)
	return nil
}

// request runs the handler for req on a goroutine of its own, or answers
// a Fault when none serves or too many run.
func (r *requests) request(req *posting.Posting) {
	r.mu.Lock()
	h := r.handler
	closed := r.closed
	if !closed && h != nil {
		r.wg.Add(1)
	}
	r.mu.Unlock()
	if closed {
		return
	}
	if h == nil {
		r.reply(req, nil, errors.New("this member does not serve requests"))
		return
	}
	select {
	case r.sem <- struct{}{}:
	default:
		r.wg.Done()
		r.cnt.drop("server-busy")
		r.reply(req, nil, errors.New("server busy"))
		return
	}
	go func() {
		defer r.wg.Done()
		defer func() { <-r.sem }()
		rep, err := h(r.ctx, req)
		r.reply(req, rep, err)
	}()
}

// reply sends the answer to req back to its sender.
func (r *requests) reply(req, rep *posting.Posting, err error) {
	if rep == nil {
		rep = posting.New(nil)
	}
	rep.Kind = posting.Reply
	if err != nil {
		rep = posting.New(err.Error(), posting.WithKind(posting.Fault))
	}
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

// pull is [Channel.Pull].
func (r *requests) pull(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	server, err := r.pickServer(ctx)
	if err != nil {
		return nil, err
	}
	corr := r.corr.Add(1)
	w := pending{reply: make(chan *posting.Posting, 1), server: server}
	r.mu.Lock()
	r.pulls[corr] = w
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.pulls, corr)
		r.mu.Unlock()
	}()
	req.Kind, req.Correlation, req.ReplyTo = posting.Request, corr, r.self
	if err := r.push(ctx, req, server); err != nil {
		return nil, err
	}
	select {
	case rep := <-w.reply:
		if rep.Kind == posting.Fault {
			msg, _ := rep.Body.(string)
			return nil, &RemoteError{Server: rep.Sender, Message: msg}
		}
		return rep, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no reply from member %016x: %w", ErrTimeout, server, ctx.Err())
		}
		return nil, ctx.Err()
	case <-r.ctx.Done():
		return nil, ErrClosed
	}
}

// pickServer chooses a live member that serves requests, round robin,
// waiting for one to say hello when none is known.
func (r *requests) pickServer(ctx context.Context) (uint64, error) {
	var expired chan struct{}
	for asked := false; ; asked = true {
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return 0, ErrClosed
		}
		servers, seen := r.servers()
		if len(servers) > 0 {
			r.mu.Lock()
			r.rr++
			id := servers[r.rr%len(servers)]
			r.mu.Unlock()
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
			return 0, ErrNoServer
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %w", ErrNoServer, ctx.Err())
		case <-r.ctx.Done():
			return 0, ErrClosed
		}
	}
}

// close refuses new handlers and requests; handlers running finish.
func (r *requests) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}
