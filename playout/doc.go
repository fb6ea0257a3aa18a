// Package playout plays a channel's media streams at the receiver: an
// adaptive playout buffer per stream that releases each posting at its
// playout time, and inter-stream sync that plays the streams of one source
// against one virtual observer's clock (the Odust thesis's model) — with no
// clock synchronisation between sender and receiver.
//
//	g := playout.NewGroup(playout.Config{Offset: func() (time.Duration, bool) { return ch.ClockOffset(sender) }})
//	audio, video := g.Stream(playout.Config{}), g.Stream(playout.Config{})
//	ch.SubscribeFunc(func(p *posting.Posting) { ... audio.Push(p, clock.Now()) ... })
//	for {
//		due, ok := g.Due()                // sleep until due (or a push)
//		for p := g.Next(clock.Now()); p != nil; p = g.Next(clock.Now()) {
//			play(p)
//		}
//	}
//
// Time is injected: Push takes the arrival time, Due says when the next
// posting is due and Next releases what is due at the time given. The
// package starts no goroutine and reads no clock; the caller's loop does.
//
// # The playout clock
//
// A posting sent at p.Sent (the sender's clock) plays when the stream's
// playout clock reaches p.Sent; the playout clock reads t − T at time t,
// where T is the receiver-minus-sender offset of the clock plus the
// playout delay. When the delay should rise the clock stands still (a
// pause); when it should fall the clock runs faster, by at most MaxSpeedup.
// A posting that arrives after its playout time is late: refused and
// counted. A posting missing from the sequence is never waited for: the
// next one present plays at its own playout time (a lost posting stalls
// nothing; pion's jitter buffer waits forever for it, pion/interceptor#256).
//
// # The delay estimate
//
// Each posting's relative delay, arrival − Sent − offset, is its one-way
// delay beyond the shortest one lately, with the clock offset removed;
// offset is the sender's clock-offset estimate (Config.Offset, normally the
// channel's channel.Channel.ClockOffset, and the group's own minimum of
// arrival − Sent). The target delay is
//
//		floor + jitter allowance
//
//	  - floor, the smallest relative delay of the last five postings, follows
//	    a delay step or spike within five postings (a fall at once), and the
//	    sender's clock drift continuously (Stats.DriftPPM reports the drift
//	    fitted over the last minute).
//	  - The jitter of a posting is its delay above the floor of the postings
//	    before it (the floor the delay was set from when it came). Its
//	    distribution is held in two histograms that forget in time, not in
//	    postings: the body's over 20 s (it follows a change in the jitter
//	    quickly), the upper tail's over 120 s (a quiet stretch does not make
//	    it forget the peaks of a burst). The share of jitter above y is read
//	    as the larger of the two, the long memory counting only for shares
//	    under 1 %. Both start fast: until their memory has filled, all
//	    samples weigh the same.
//	  - The allowance is the jitter whose share p keeps the late budget of
//	    every 10 s safe — the thesis's late-packet feedback, held per span:
//	    the budget is strictly fewer lates than TargetLate of the span's
//	    postings (4 of about 490 at 1 % and 20 ms), and a posting counts
//	    when it came late for jitter (not because the floor rose under it).
//	    With k such lates in the last 10 s, the lates to come until the
//	    oldest of them leaves the span are taken as Poisson with mean
//	    p × the postings in that time, and p is the largest for which the
//	    chance of overspending what is left of the budget stays under a risk
//	    that falls as the budget runs out (30 % with three or more lates
//	    left, 20 % with two, 7 % with one, 1 % with none); each of the
//	    k + 1 horizons (until the first, second, … late leaves, and a
//	    whole span) must hold. So a span without lates plays near the
//	    budget's quantile, each late raises the delay, and with the budget
//	    nearly spent the delay goes to the height of the peaks the tail's
//	    memory holds, until the oldest late leaves the span; then it falls,
//	    at MaxSpeedup. While the samples are few, p is scaled down by
//	    n/(n + 0.5/p) (a tail they barely show is not trusted); and for the
//	    first 250 postings the delay is at least InitialDelay, giving way to
//	    the estimate (the thesis's fast start: its late-ratio estimator
//	    alone took a minute).
//
// On issue 20's yardstick (Pareto jitter with bursts, 2 % loss, a 300-ms
// spike, a clock 100 ppm fast) it plays 0.44–0.57 % late at 0.92–1.09× the
// delay of the offline optimum (the best constant delay), with at most 4
// late in any 10-s window but the spike's on each of the test's 20 seeds;
// see bench/RESULTS.md for more seeds, a variant with bursts every 7 s,
// and what it misses there.
//
// Limits: a sender clock stepped back makes its postings look older than
// those played, and they are refused as late until its clock passes the
// last one played; one stepped forward is followed as the delay falls, at
// MaxSpeedup. On an unkeyed channel a forged posting in a sender's name
// can move the floor and the offset as it can the channel's TTL checks.
//
// # Inter-stream sync
//
// The streams of a [Group] (one source: audio, video, whiteboard) share the
// sender's clock, so one T maps all of them to the receiver: the group's
// target is the largest of its streams' own targets, and every stream's
// playout clock moves to it. The leading stream (the one whose data would
// allow less delay) is delayed — paused until it matches — and the lagging
// one is never hurried past its data. A stream that has not been pushed to
// for Idle stops holding the group up. When the group pauses to raise its
// delay, a video frame captured inside an audio packet already playing
// shows after the pause, later than its sound by the pause: on the
// yardstick 0–0.36 % of frames out of −125…+45 ms, the skew's 1st to
// 99th percentiles within −6…+22 ms.
package playout
