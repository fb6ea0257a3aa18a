package floor

import "slices"

// Elections: standing, counting votes, winning or abdicating.

func (c *Core) stand(t int64, epoch uint64, designated bool, guard int64) {
	c.standAfter(t, epoch, designated, guard, Member{})
}

func (c *Core) standAfter(t int64, epoch uint64, designated bool, guard int64, pred Member) {
	if epoch == 0 {
		epoch = max(c.maxEpoch, c.view.Epoch, c.coordEpoch, c.vo.votedEpoch) + 1
	}
	c.noteEpoch(epoch)
	c.attempts++
	c.role = candidate
	c.cand = candidacy{
		epoch: epoch, start: t, until: t + c.hb,
		votes: map[string]int64{}, refused: map[string]bool{},
		best: c.view.clone(), designated: designated, guard: guard, pred: pred,
	}
	// A successor's request carries its predecessor, which stepped down:
	// it releases the voters as the Handoff does, should it arrive first.
	c.send(Message{Kind: KindVoteRequest, Epoch: epoch, TS: t, Next: pred})
}

func (c *Core) onVote(t int64, m *Message) {
	if !c.voters[m.From.Name] {
		return
	}
	if m.No {
		if c.role == candidate && m.Echo >= c.cand.start {
			c.cand.refused[m.From.Name] = true
			c.cand.wait = max(c.cand.wait, m.Lease)
			if len(c.cand.refused) > len(c.cfg.Voters)-c.quorum {
				c.abandon(t) // no majority possible now
			}
		}
		return
	}
	switch {
	case c.role == candidate && m.Epoch == c.cand.epoch && m.Echo >= c.cand.start:
		c.cand.votes[m.From.Name] = max(c.cand.votes[m.From.Name], m.Echo+c.short(c.lease))
		if m.State != nil && m.State.newer(&c.cand.best) {
			c.cand.best = m.State.clone()
			c.noteEpoch(m.State.Epoch)
		}
		if len(c.cand.votes) >= c.quorum {
			c.win(t)
		}
	case c.role == coordinator && m.Epoch == c.co.epoch && m.Echo >= c.co.start:
		c.ack(m.From.Name, m.Echo)
	}
}

// abandon gives up a candidacy: the voters that voted for us are released
// and we stand again later.
func (c *Core) abandon(t int64) {
	if c.role != candidate {
		return
	}
	c.send(Message{Kind: KindAbdicate, Epoch: c.cand.epoch, TS: c.cand.start})
	wait := c.long(c.cand.wait)
	c.role = follower
	jitter := int64(mix(c.self.Inc, c.attempts) % uint64(max(c.stagger, 1)))
	r := slices.Index(c.rank(), c.self.Name)
	if r < 0 {
		r = len(c.rank())
	}
	c.electAt = t + wait + c.stagger*int64(1+r) + jitter
}

func mix(a, b uint64) uint64 {
	x := a ^ (b+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9
	x ^= x >> 31
	x *= 0x94d049bb133111eb
	return x ^ x>>29
}

// win makes this candidate the coordinator.
func (c *Core) win(t int64) {
	cd := c.cand
	if cd.best.Epoch >= cd.epoch || c.view.Epoch >= cd.epoch {
		// The floor's history went further than our epoch: stand again
		// above it (the voters bound to us vote for us again).
		c.send(Message{Kind: KindAbdicate, Epoch: cd.epoch, TS: cd.start})
		c.role = follower
		c.standAfter(t, 0, cd.designated, cd.guard, Member{})
		return
	}
	c.role = coordinator
	c.co = coordination{epoch: cd.epoch, start: cd.start, acks: cd.votes, guard: cd.guard,
		holderEnd: t, recvAt: map[string]int64{}}
	st := cd.best
	if c.view.newer(&st) {
		st = c.view.clone()
	}
	st.Epoch, st.Version, st.Coordinator = cd.epoch, 1, c.self
	if h := st.Holder; !h.IsZero() && c.cfg.Mode == Everywhere && h != c.self && !cd.designated {
		// An everywhere resource's holder was its coordinator, which we
		// replaced: its tenure is over.
		st.Holder, st.Token, st.HolderPriority, st.HolderTicket = Member{}, 0, 0, 0
	}
	c.coord, c.coordEpoch = c.self, cd.epoch
	c.view = st
	c.computeLease()
	c.emit(t, Event{Kind: Coordinating, Epoch: cd.epoch})
	c.emit(t, Event{Kind: Changed})
	if !st.Holder.IsZero() {
		// The holder we inherit keeps the floor if it renews in time.
		c.offer(t, Entry{Member: st.Holder, Priority: st.HolderPriority, Ticket: st.HolderTicket})
	}
	c.heartbeat(t)
}
