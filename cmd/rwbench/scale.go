package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	"github.com/rwanda-go/rwanda/posting"
)

// The scale subcommand (issue 30): what idle streams and members cost in
// live heap, and how long the first posting on a brand-new stream takes
// once many exist. It is not part of compare: its figures are absolute
// (nothing to compare them with), its heap readings want a process
// without other measurements' leftovers, and its 10 000-stream row alone
// takes seconds.

const (
	// scaleBody is the size of the one posting per stream or member.
	scaleBody = 64
	// membersPerProc is how many sender channels one child process opens
	// in the members measurement: M channels are spread over ⌈M/250⌉
	// processes.
	membersPerProc = 250
	// membersAnnounce is the announce interval of the members
	// measurement: short, so that the readers of quiet sockets give
	// their read buffers back (at their next hello) before the heap is
	// read, membersQuiet later.
	membersAnnounce = 100 * time.Millisecond
	membersQuiet    = 4 * membersAnnounce
	// firstProbes is how many new streams each repetition of the streams
	// measurement times, one at a time: the Nth, then the (N+1)th, …;
	// their median is the time to first delivery.
	firstProbes = 5
	// scaleStall is how long a measurement waits without a delivery
	// before it gives up and says what the receiver dropped.
	scaleStall = 10 * time.Second
)

// ScaleResult is what the scale subcommand measured.
type ScaleResult struct {
	Streams []ScaleStreamsRow `json:"streams,omitempty"`
	Members []ScaleMembersRow `json:"members,omitempty"`
}

// ScaleStreamsRow is N idle streams from one sender channel to one
// receiver channel, both in rwbench's process (unicast on loopback,
// reliable, one 64-byte posting per stream): the live heap they add,
// both ends together, per stream; and the time from Push to delivery of
// the first posting on a new stream once N−1 exist and their postings
// are delivered: the Nth stream and the next four, one at a time, in
// every repetition (the median and range are of all of them).
type ScaleStreamsRow struct {
	N                int   `json:"n"`
	Reps             int   `json:"reps"`
	HeapKiBPerStream Stat  `json:"heap_kib_per_stream"`
	FirstDeliveryUs  Stat  `json:"first_delivery_us"`
	Pushed           int64 `json:"pushed"`    // all repetitions together
	Delivered        int64 `json:"delivered"` // counted by the receiver, all repetitions together
}

// ScaleMembersRow is M sender channels, spread over Procs child
// processes, each pushing one reliable 64-byte posting to one listener
// channel in rwbench's process (unicast on loopback), every channel
// announcing every 100 ms: once every posting is delivered and the
// sockets have been quiet for four intervals, the live heap grown at the
// listener's process and in the senders' processes, per member.
type ScaleMembersRow struct {
	M                  int   `json:"m"`
	Procs              int   `json:"procs"`
	Reps               int   `json:"reps"`
	ListenerKiBPerMemb Stat  `json:"listener_heap_kib_per_member"`
	SendersKiBPerMemb  Stat  `json:"senders_heap_kib_per_member"`
	TotalKiBPerMemb    Stat  `json:"total_heap_kib_per_member"`
	PeersListed        int   `json:"peers_listed"` // members in the listener's Stats().Peers (fewest of the repetitions)
	Pushed             int64 `json:"pushed"`
	Delivered          int64 `json:"delivered"`
}

// liveHeap collects garbage and returns the live heap.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// perKiB is grown bytes (after − before, at least 0) in KiB per n.
func perKiB(before, after uint64, n int) float64 {
	return float64(after-min(after, before)) / 1024 / float64(n)
}

// runScale measures the streams rows, then the members rows, repetition by
// repetition; a measurement that fails (a posting not delivered, a Push
// refused) is reported in the errors and not repeated.
func (b *bench) runScale(ctx context.Context) (*ScaleResult, []string) {
	var errs []string
	out := &ScaleResult{}
	total, done := b.cfg.reps*(len(b.cfg.streams)+len(b.cfg.members)), 0
	for _, n := range b.cfg.streams {
		var heap, first []float64
		var pushed, delivered int64
		for rep := 1; rep <= b.cfg.reps && ctx.Err() == nil; rep++ {
			done++
			b.progress(fmt.Sprintf("[%d/%d] scale streams n=%d rep %d/%d", done, total, n, rep, b.cfg.reps))
			s, err := scaleStreams(ctx, n)
			pushed, delivered = pushed+s.pushed, delivered+s.delivered
			if err != nil {
				if ctx.Err() == nil {
					errs = append(errs, fmt.Sprintf("scale streams n=%d: %v", n, err))
				}
				done += b.cfg.reps - rep
				break
			}
			heap = append(heap, s.heapKiB)
			for _, f := range s.firsts {
				first = append(first, f.Seconds()*1e6)
			}
		}
		if len(heap) > 0 {
			out.Streams = append(out.Streams, ScaleStreamsRow{N: n, Reps: len(heap), HeapKiBPerStream: statOf(heap),
				FirstDeliveryUs: statOf(first), Pushed: pushed, Delivered: delivered})
		}
	}
	for _, m := range b.cfg.members {
		var lst, snd, tot []float64
		var pushed, delivered int64
		peers := -1
		procs := (m + membersPerProc - 1) / membersPerProc
		for rep := 1; rep <= b.cfg.reps && ctx.Err() == nil; rep++ {
			done++
			b.progress(fmt.Sprintf("[%d/%d] scale members m=%d procs=%d rep %d/%d", done, total, m, procs, rep, b.cfg.reps))
			s, err := b.scaleMembers(ctx, m, procs)
			pushed, delivered = pushed+s.pushed, delivered+s.delivered
			if err != nil {
				if ctx.Err() == nil {
					errs = append(errs, fmt.Sprintf("scale members m=%d: %v", m, err))
				}
				done += b.cfg.reps - rep
				break
			}
			lst, snd, tot = append(lst, s.listenerKiB), append(snd, s.sendersKiB), append(tot, s.listenerKiB+s.sendersKiB)
			if peers < 0 || s.peers < peers {
				peers = s.peers
			}
		}
		if len(lst) > 0 {
			out.Members = append(out.Members, ScaleMembersRow{M: m, Procs: procs, Reps: len(lst), ListenerKiBPerMemb: statOf(lst),
				SendersKiBPerMemb: statOf(snd), TotalKiBPerMemb: statOf(tot), PeersListed: peers, Pushed: pushed, Delivered: delivered})
		}
	}
	b.progress("")
	return out, errs
}

// deliveries counts what a receiving channel delivers and remembers when
// the marked posting (first byte 1) arrived.
type deliveries struct {
	n      atomic.Int64
	marked chan time.Time
}

func newDeliveries(ch *channel.Channel) (*deliveries, error) {
	d := &deliveries{marked: make(chan time.Time, 1)}
	_, err := ch.SubscribeFunc(func(p *posting.Posting) {
		now := time.Now()
		d.n.Add(1)
		if b, ok := p.Body.([]byte); ok && len(b) > 0 && b[0] == 1 {
			select {
			case d.marked <- now:
			default:
			}
		}
	})
	return d, err
}

// wait waits until want postings are delivered; it fails when none
// arrives for scaleStall, saying what the receiver dropped and what the
// sender heard.
func (d *deliveries) wait(ctx context.Context, want int64, why func() string) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	last, since := d.n.Load(), time.Now()
	for {
		n := d.n.Load()
		if n >= want {
			return nil
		}
		if n != last {
			last, since = n, time.Now()
		}
		if time.Since(since) > scaleStall {
			return fmt.Errorf("%d of %d postings delivered, none for %v; %s", n, want, scaleStall, why())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// capNames say which cap a receiver's drop reason stands for.
var capNames = map[string]string{
	"too-many-streams": "the receiver's cap on announced streams (1024 per member, 4 × WithLimits flows in all)",
	"evicted-flow":     "the receiver's flow cap (WithLimits flows)",
	"evicted-peer":     "the receiver's member cap (WithLimits peers)",
	"too-many-pending": "the receiver's member cap (WithLimits peers)",
	"evicted-path":     "the receiver's path cap (WithLimits peers)",
	"no-memory":        "the receiver's memory budget (WithMemory)",
	"slow-consumer":    "the subscription's queue",
}

// dropsSaid describes a receiver's drops, naming the caps they stand for.
func dropsSaid(who string, drops map[string]uint64) string {
	if len(drops) == 0 {
		return who + " dropped nothing"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(drops)) {
		s := fmt.Sprintf("%s=%d", k, drops[k])
		if c := capNames[k]; c != "" {
			s += " (refused by " + c + ")"
		}
		parts = append(parts, s)
	}
	return who + " drops: " + strings.Join(parts, ", ")
}

// eventLog keeps the first events a channel reports, for error messages.
type eventLog struct {
	mu sync.Mutex
	ev []string
	n  int
}

func (l *eventLog) add(e channel.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if len(l.ev) < 3 {
		l.ev = append(l.ev, strings.TrimSpace(fmt.Sprintf("%s %s %s", e.Kind, e.Stream, e.Detail)))
	}
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return "the sender heard of no refusal"
	}
	return fmt.Sprintf("the sender's events (%d): %s", l.n, strings.Join(l.ev, "; "))
}

type streamsSample struct {
	heapKiB           float64
	firsts            []time.Duration // Push to delivery on new streams N, N+1, …
	pushed, delivered int64
}

// scaleStreams opens a receiver and a sender channel in this process,
// pushes one 64-byte posting on each of n−1 new streams, then times one
// on the nth, reads the live heap the n streams added (both ends), and
// times firstProbes−1 more new streams.
func scaleStreams(ctx context.Context, n int) (s streamsSample, err error) {
	// Both ends' caps are raised above n: the sender's streams and the
	// receiver's flows (4096 each by default).
	limits := channel.WithLimits(max(4096, n+64), 64)
	rx, err := openListening(ctx, unicastListen, []channel.Option{limits})
	if err != nil {
		return s, err
	}
	defer rx.Close()
	d, err := newDeliveries(rx)
	if err != nil {
		return s, err
	}
	var ev eventLog
	tx, err := channel.Open(ctx, unicastPeer(strconv.Itoa(int(rx.LocalAddr().Port()))),
		channel.WithQoS("reliable"), channel.WithBlockingPush(), limits, channel.WithEvents(ev.add))
	if err != nil {
		return s, err
	}
	defer tx.Close()
	why := func() string { return dropsSaid("receiver", rx.Stats().Drops) + "; " + ev.String() }
	body := make([]byte, scaleBody)
	push := func(stream string, b []byte) error {
		if err := tx.Push(ctx, posting.New(b, posting.WithStream(stream))); err != nil {
			return fmt.Errorf("push on stream %s (%d streams open): %w", stream, s.pushed, err)
		}
		s.pushed++
		return nil
	}
	if err := push("warm", body); err != nil {
		return s, err
	}
	err = d.wait(ctx, 1, why)
	s.delivered = d.n.Load()
	if err != nil {
		return s, err
	}
	before := liveHeap()
	for i := range n - 1 {
		if err := push("s"+strconv.Itoa(i), body); err != nil {
			s.delivered = d.n.Load()
			return s, err
		}
	}
	err = d.wait(ctx, int64(n), why)
	s.delivered = d.n.Load()
	if err != nil {
		return s, err
	}
	// probe times the posting on new stream i (the (i+1)th), alone in
	// flight.
	probe := func(i int) (time.Duration, error) {
		b := make([]byte, scaleBody)
		b[0] = 1
		t0 := time.Now()
		err := push("s"+strconv.Itoa(i), b)
		if err == nil {
			select {
			case t1 := <-d.marked:
				return t1.Sub(t0), nil
			case <-time.After(scaleStall):
				err = fmt.Errorf("the posting on new stream %d not delivered within %v; %s", i+1, scaleStall, why())
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		s.delivered = d.n.Load()
		return 0, err
	}
	// The Nth stream, then the heap of the N streams, then more new
	// streams (N+1, …) for the median.
	first, err := probe(n - 1)
	if err != nil {
		return s, err
	}
	s.delivered = d.n.Load()
	s.heapKiB = perKiB(before, liveHeap(), n)
	s.firsts = append(s.firsts, first)
	for i := range firstProbes - 1 {
		if first, err = probe(n + i); err != nil {
			return s, err
		}
		s.firsts = append(s.firsts, first)
	}
	s.delivered = d.n.Load()
	return s, nil
}

type membersSample struct {
	listenerKiB, sendersKiB float64
	peers                   int
	pushed, delivered       int64
}

// membersReply is what a rw-members child answers: to "go", the postings
// it pushed (or why it could not); to "heap", its live heap and its heap
// when it started.
type membersReply struct {
	Pushed int    `json:"pushed"`
	Heap   uint64 `json:"heap"`
	Base   uint64 `json:"base"`
	Error  string `json:"error,omitempty"`
}

// scaleMembers opens a listener in this process and m sender channels in
// procs child processes, each pushing one posting; once all are delivered
// and the sockets have been quiet, it reads the live heap on both sides.
func (b *bench) scaleMembers(ctx context.Context, m, procs int) (s membersSample, err error) {
	rx, err := openListening(ctx, unicastListen, []channel.Option{channel.WithAnnounceInterval(membersAnnounce),
		channel.WithLimits(max(4096, 2*m), max(4096, m+64))})
	if err != nil {
		return s, err
	}
	defer rx.Close()
	d, err := newDeliveries(rx)
	if err != nil {
		return s, err
	}
	before := liveHeap()
	var children []*harness.Child
	defer func() {
		for _, c := range children {
			c.Kill()
		}
	}()
	peer := unicastPeer(strconv.Itoa(int(rx.LocalAddr().Port())))
	counts := make([]int, procs)
	for i := range m {
		counts[i%procs]++
	}
	for _, k := range counts {
		c, err := b.child(ctx, false, "rw-members", "--url", peer, "--m", strconv.Itoa(k), "--announce", membersAnnounce.String())
		if err != nil {
			return s, err
		}
		children = append(children, c)
	}
	ask := func(cmd string, timeout time.Duration) ([]membersReply, error) {
		for _, c := range children {
			if err := c.Send(cmd); err != nil {
				return nil, err
			}
		}
		rs := make([]membersReply, len(children))
		for i, c := range children {
			line, err := c.Line(ctx, timeout)
			if err == nil {
				err = json.Unmarshal([]byte(line), &rs[i])
			}
			if err == nil && rs[i].Error != "" {
				err = errors.New(rs[i].Error)
			}
			if err != nil {
				return nil, fmt.Errorf("sender process %d: %w", i+1, err)
			}
		}
		return rs, nil
	}
	rs, err := ask("go", 2*time.Minute)
	for _, r := range rs {
		s.pushed += int64(r.Pushed)
	}
	if err != nil {
		return s, err
	}
	err = d.wait(ctx, int64(m), func() string { return dropsSaid("listener", rx.Stats().Drops) })
	s.delivered = d.n.Load()
	if err != nil {
		return s, err
	}
	select {
	case <-time.After(membersQuiet):
	case <-ctx.Done():
		return s, ctx.Err()
	}
	after := liveHeap()
	s.peers = len(rx.Stats().Peers)
	if rs, err = ask("heap", time.Minute); err != nil {
		return s, err
	}
	var grown uint64
	for _, r := range rs {
		grown += r.Heap - min(r.Heap, r.Base)
	}
	s.listenerKiB = perKiB(before, after, m)
	s.sendersKiB = float64(grown) / 1024 / float64(m)
	return s, nil
}

// childMembers is the child kind rw-members: it prints "ready", then on
// "go" opens m channels to url (announcing every announce), pushes one
// reliable 64-byte posting on each and answers with a membersReply; on
// "heap" it answers with its live heap. It ends when stdin closes,
// without closing the channels (the process's end does).
func childMembers(url string, m int, announce time.Duration, stdin io.Reader, stdout io.Writer) error {
	base := liveHeap()
	if _, err := fmt.Fprintln(stdout, "ready"); err != nil {
		return err
	}
	ctx := context.Background()
	var chs []*channel.Channel
	reply := func(r membersReply) error {
		b, _ := json.Marshal(r)
		_, err := fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		var r membersReply
		switch sc.Text() {
		case "go":
			for range m {
				ch, err := channel.Open(ctx, url, channel.WithQoS("reliable"), channel.WithBlockingPush(), channel.WithAnnounceInterval(announce))
				if err != nil {
					r.Error = fmt.Sprintf("opening channel %d of %d: %v", len(chs)+1, m, err)
					break
				}
				chs = append(chs, ch)
				if err := ch.Push(ctx, posting.New(make([]byte, scaleBody))); err != nil {
					r.Error = fmt.Sprintf("push on channel %d of %d: %v", len(chs), m, err)
					break
				}
				r.Pushed++
			}
		case "heap":
			r.Heap, r.Base = liveHeap(), base
		default:
			r.Error = fmt.Sprintf("unknown command %q", sc.Text())
		}
		if err := reply(r); err != nil {
			return err
		}
	}
	return nil
}

// writeScaleTable prints the scale rows.
func writeScaleTable(w io.Writer, sr *ScaleResult) {
	if sr == nil {
		return
	}
	rng := func(s Stat) string { return rangeOf(s, sig) }
	if len(sr.Streams) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "scale: N idle streams, one sender and one receiver channel in one process (unicast on loopback, reliable, one 64 B posting per stream);")
		fmt.Fprintln(w, "live heap per stream, both ends together (issue 30 target: ≤ 16 KiB); first delivery: Push to delivery on the Nth new stream once N−1 exist (and on the next 4, one at a time)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "N\tKiB/stream [min–max]\tfirst delivery µs [min–max]\tdelivered")
		for _, r := range sr.Streams {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.N, rng(r.HeapKiBPerStream), rng(r.FirstDeliveryUs), pct(r.Delivered, r.Pushed))
		}
		tw.Flush()
	}
	if len(sr.Members) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "scale: M sender channels in child processes (%d each), one reliable 64 B posting each, to one listener channel in this process (unicast on loopback);\n", membersPerProc)
		fmt.Fprintf(w, "live heap per member once quiet (announce every %v, read %v after the last delivery): at the listener's process, in the senders' processes, and both (issue 30 target: ≤ 64 KiB per opened channel)\n", membersAnnounce, membersQuiet)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "M\tprocesses\tlistener KiB/member [min–max]\tsenders KiB/member [min–max]\ttotal KiB/member\tpeers listed\tdelivered")
		for _, r := range sr.Members {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%s\n", r.M, r.Procs, rng(r.ListenerKiBPerMemb), rng(r.SendersKiBPerMemb),
				sig(r.TotalKiBPerMemb.Median), r.PeersListed, pct(r.Delivered, r.Pushed))
		}
		tw.Flush()
	}
}
