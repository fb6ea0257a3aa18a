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
//		floor + q-quantile of the jitter above the floor × (1 + boost)
//
//	  - floor, the smallest relative delay of the last five postings, follows
//	    a delay step or spike within five postings (a fall at once), and the
//	    sender's clock drift continuously (Stats.DriftPPM reports the drift
//	    fitted over the last minute).
//	  - The jitter of a posting is its delay above the floor of the postings
//	    before it (the floor the delay was set from when it came). Its
//	    histogram forgets exponentially, over 2000 postings (40 s of 20-ms
//	    audio): with the drift and the spikes in the floor it can have the
//	    long memory a 1 % tail needs. It starts fast: until it is full, all
//	    samples weigh the same.
//	  - q is 1 − 0.7 × TargetLate, raised while the samples are few (a tail
//	    they barely show is not trusted); and for the first 250 postings the
//	    delay is at least InitialDelay, giving way to the estimate (the
//	    thesis's fast start: its late-ratio estimator alone took a minute).
//	  - boost is late-ratio feedback (the thesis's late-packet estimator,
//	    held per span rather than on average): it grows with the share of the
//	    late budget of the last 10 s (TargetLate of its postings) already
//	    spent by postings late for jitter, so the late ratio stays under
//	    TargetLate in each 10 s, not only overall.
//
// On issue 20's yardstick (Pareto jitter with bursts, 2 % loss, a 300-ms
// spike, a clock 100 ppm fast) it plays 0.4–0.6 % late at 0.92–1.09× the
// delay of the offline optimum (the best constant delay); see
// bench/RESULTS.md for its figures and what it misses.
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
// yardstick 0–0.12 % of frames, the skew otherwise within ±5 ms.
package playout
