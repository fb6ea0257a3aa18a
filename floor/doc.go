// Package floor is floor control over a channel: who may draw, speak or
// present, one member at a time, with a coordinator that survives crashes
// and, for an everywhere resource, migrates with the floor. It follows the
// Odust thesis's protocol (request, grant, release, taken, withdraw;
// heartbeats; FIFO, priority, preemptive and delayed preemptive policies;
// localised and everywhere resources) and adds what the thesis left out:
// leases that stay safe without synchronised clocks, elections that keep
// the queue when the coordinator dies, and fencing tokens.
//
//	f, err := floor.Open(ch, "whiteboard", floor.Config{
//		Name: "ana", Voters: []string{"ana", "ben", "cy"}, Mode: floor.Everywhere})
//	defer f.Close()
//
//	g, err := f.Request(ctx, 0) // waits for the floor, or ctx
//	for g.Valid() { draw(g.Token) }
//	<-g.Done()                  // or: the floor is gone (g.Err() says why)
//	f.Release()
//
//	st := f.State()             // st.Holder, st.Queue, st.Coordinator
//	<-f.Changed()               // closed at the next change
//
// # Members, voters, the coordinator
//
// Every member names itself (Config.Name) and every member agrees on the
// voters (Config.Voters). Any member may request the floor and any member
// may coordinate; a majority of the voters elects the coordinator and, by
// answering its heartbeats, keeps it in office. The floor stays available
// while a majority of the voters is up and connected. A localised resource's
// coordinator stays where it was elected (the first voter in the list
// stands first); an everywhere resource's coordinator is the holder, and
// granting the floor hands the coordination over with it.
//
// # Messages
//
// All messages travel on the channel stream Stream(resource), to every
// member (the addressed ones are ignored by the others):
//
//	Request     requester → coordinator  priority, ticket (kept when asking again), sender's clock
//	Withdraw    requester → coordinator  a pending request is given up
//	Grant       coordinator → holder     token, lease duration, echo of the request's or renewal's clock
//	Renew       holder → coordinator     "still holding": token, sender's clock
//	Release     holder → coordinator     the floor is free again (the holder stopped first)
//	Taken       coordinator → holder     preempted: release now, or within the grace period
//	Heartbeat   coordinator → all        epoch, the state (holder, token, queue), sender's clock
//	Ack         voter → coordinator      the voter promises itself to the coordinator: echo
//	VoteRequest candidate → all          epoch, sender's clock (and its predecessor, after a handoff)
//	Vote        voter → candidate        yes (a promise, with the freshest state it knows) or no (why, how long)
//	Handoff     coordinator → all        it steps down for its successor (the next holder), with the state
//	Abdicate    candidate → all          a failed candidacy (named by its VoteRequest's clock) releases its votes;
//	                                     a leaving coordinator with no lease out releases its voters
//
// # States
//
// A member's coordination role is follower, candidate or coordinator; as
// a requester it is idle, requesting (queued), or holder (with or without
// a valid lease); as a voter it is free, bound to one member until a time
// on its own clock, or, just started, guarding the promises of its earlier
// incarnation for one lease. A follower that hears no heartbeat for a lease
// (plus a stagger by rank: the holder and queue first for an everywhere
// resource, the voters first for a localised one) stands: it becomes a
// candidate at an epoch above every one it knows and sends VoteRequest. A
// voter votes yes at most once per epoch, only above any epoch at which it
// voted or heard a coordinator, and only if it is not bound to someone
// else; a yes binds it to the candidate for L from receipt. A candidate
// with a majority of yes becomes coordinator; one that cannot get a
// majority abdicates and stands again later. The new coordinator takes the
// freshest state among its own and its voters' (the queue survives), keeps
// the holder it inherits if that holder renews within two heartbeats (a
// localised resource), and grants the floor under a new token. A
// coordinator steps down when it hears a heartbeat of a later epoch, when
// it hands over, and when its majority lapses (it then stands again at a
// new epoch before granting anything).
//
// # Leases without synchronised clocks
//
// Nobody compares another member's clock with its own: every duration is
// measured on one clock, from events of that clock's owner. With L the
// lease and ε the margin (Config.Margin, default 1%):
//
//   - A voter that votes for, or acknowledges a heartbeat of, coordinator C
//     is bound to C for L from the moment it receives the message, and binds
//     itself to nobody else until then.
//   - C counts each voter's promise as lasting (1−ε)·L from the moment C
//     *sent* the message the voter answered (the answer echoes C's clock).
//     C's lease ends at the latest time until which a majority's promises
//     last; C grants nothing beyond it.
//   - C grants a holder H a lease of D ≤ min(L, C's lease left), answering a
//     request or renewal that H sent at H's clock h; H counts it as ending
//     at h + (1−ε)·D on its own clock. C counts it as ending at D after it
//     sent the grant, and grants the floor to nobody else before then unless
//     H released it.
//
// Because each beneficiary starts counting before the promiser received
// anything, message delay only shortens leases. If every clock runs at a
// rate within ρ of true time, a duration of (1−ε)·d on one clock is over
// before d has passed on another whenever (1−ε)(1+ρ) ≤ 1−ρ; the handoff
// of a localised resource's coordinator also needs (1+ε)(1−ρ) ≥ 1+ρ. Both
// hold for ρ ≤ ε/(2+ε): 4975 ppm for the default ε = 1%, fifty times the
// drift of ordinary quartz. Clock offsets do not matter at all.
//
// So: a voter is bound to at most one member at any instant, a coordinator
// acts only while a majority is bound to it, so at most one coordinator
// acts at any instant; its holder's lease ends before its majority's
// promises do, and it gives the floor to one member at a time. Hence at most
// one member holds a valid lease at any instant. This holds with any
// message delay, loss, duplication or reordering and under partitions (the
// minority side's leases run out; it elects nobody), and needs no bound
// on delay. Liveness needs delays well under L: after a holder or
// coordinator crashes, the floor is granted again after about a lease (the
// harness measures p99 under 600 ms for L = 300 ms).
//
// What a lease does not cover is the time between a holder checking it and
// its action taking effect elsewhere (a process pause, a delayed write).
// For that the protocol provides fencing: every grant carries a token
// (epoch << 32 | grant number), tokens increase from grant to grant, and a
// resource that keeps a Fence refuses a token older than one it accepted.
// Epochs, and so tokens, live in the members' memories: they keep
// increasing while every majority of voters holds one that remembers the
// latest epoch; if a majority restarts at once, they start again.
//
// Duplicated and stale messages are harmless: grants are matched to the
// holder's request by the echoed clock (a grant for an earlier request is
// ignored), releases and withdrawals carry the sender's clock and are
// ignored when older than the request they would end, votes and acks count
// only for the epoch and term they answer (their echo must be later than
// the term's start), an abdication releases only the candidacy it names,
// a coordinator never adopts another's state of its own epoch, and a
// member restarted under the same name is a new incarnation (Member.Inc)
// that does not vote for a lease after it starts, so the promises of its
// predecessor are kept.
//
// # Limitations
//
// Members are trusted: on an unkeyed channel anyone who can send to it can
// forge floor messages, so use a keyed channel (channel.WithKey), and a
// signed one (channel.WithIdentity, WithTrusted) to bind each member's
// messages to it (the adapter drops a message whose incarnation is not the
// member id of the posting's sender). Names must be unique among live members: two live members with one voter
// name can elect two coordinators. Members must agree on Config (but
// Name). A member whose clock runs faster or slower than ρ ≤ ε/(2+ε)
// breaks the lease arithmetic. Tokens are monotonic only as described
// above. The preempted holder is not queued again. Every message goes to
// every member (the channel multicasts), and the state, queue included, is
// in every heartbeat: this suits sessions of up to some hundreds of
// members and queues of some hundreds of requests.
//
// # Inside
//
// [Core] is the protocol as a deterministic state machine: no goroutines,
// no clock, no I/O; every call takes the member's clock reading, and
// Deadline says when to call Tick. [Floor] is the adapter onto a
// *channel.Channel: one goroutine that pushes what the core sends and
// delivers events, a subscription that feeds it postings, one timer.
// The tests drive thousands of Cores through a simulated network with
// per-member clocks (sim_test.go).
package floor
