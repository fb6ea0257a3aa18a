package floor

import "slices"

// The coordinator: its lease, the queue, grants, hand-overs.

func (c *Core) stepDown(t int64) {
	if c.role != coordinator {
		return
	}
	c.role = follower
	c.emit(t, Event{Kind: Resigned, Epoch: c.co.epoch})
	c.co = coordination{}
	if c.rq.token != 0 && c.rq.leaseEnd > t {
		c.rq.leaseEnd = t // our own lease was ours to give; end it with us
	}
	c.electAt = t + c.electDelay()
}

func (c *Core) ack(voter string, echo int64) {
	c.co.acks[voter] = max(c.co.acks[voter], echo+c.short(c.lease))
	c.computeLease()
}

func (c *Core) onAck(t int64, m *Message) {
	if c.role == coordinator && m.Epoch == c.co.epoch && m.Echo >= c.co.start && c.voters[m.From.Name] {
		c.ack(m.From.Name, m.Echo)
	}
}

// computeLease: a majority of voters is bound to us until the quorum-th
// latest of their promises.
func (c *Core) computeLease() {
	vals := make([]int64, 0, len(c.co.acks))
	for v, u := range c.co.acks {
		if c.voters[v] {
			vals = append(vals, u)
		}
	}
	if len(vals) < c.quorum {
		c.co.leaseEnd = 0
		return
	}
	slices.Sort(vals)
	c.co.leaseEnd = vals[len(vals)-c.quorum]
}

// leaseFor is the longest lease the coordinator may grant at t.
func (c *Core) leaseFor(t int64) int64 {
	d := min(c.lease, c.co.leaseEnd-t)
	if c.co.takenBy != 0 {
		d = min(d, c.co.takenBy-t)
	}
	return d
}

func (c *Core) heartbeat(t int64) {
	st := c.view.clone()
	c.send(Message{Kind: KindHeartbeat, Epoch: c.co.epoch, TS: t, State: &st})
	c.co.nextHB = t + c.hb
}

// changed bumps the state's version and has it sent at once.
func (c *Core) changed(t int64) {
	c.view.Version++
	c.co.nextHB = t
	c.emit(t, Event{Kind: Changed})
}

func (c *Core) coHandle(t int64, m *Message) {
	h := c.view.Holder
	switch m.Kind {
	case KindRequest:
		c.co.recvAt[m.From.Name] = t
		if h == m.From {
			// The holder asks again: it missed its grant.
			c.confirm(t, m.TS)
			return
		}
		if i := c.view.find(m.From.Name); i >= 0 {
			e := &c.view.Queue[i]
			if e.Member != m.From || e.TS != m.TS {
				e.Member, e.TS = m.From, m.TS
				c.changed(t)
			}
			return
		}
		tk := m.Ticket
		if tk == 0 {
			tk = c.view.NextTicket + 1
		}
		c.view.NextTicket = max(c.view.NextTicket, tk)
		c.enqueue(Entry{Member: m.From, Priority: m.Priority, Ticket: tk, TS: m.TS})
		c.changed(t)
	case KindWithdraw:
		if i := c.view.find(m.From.Name); i >= 0 && c.view.Queue[i].Member == m.From && c.view.Queue[i].TS <= m.TS {
			c.view.Queue = slices.Delete(c.view.Queue, i, i+1)
			c.changed(t)
		}
	case KindRenew:
		if h == m.From && (m.Token == c.view.Token || !c.co.confirmed) {
			c.confirm(t, m.TS)
		}
	case KindRelease:
		// A release older than a request or renewal we granted from is
		// stale: the holder asked again after sending it.
		if h == m.From && m.TS >= c.co.lastEcho && (m.Token == c.view.Token || !c.co.confirmed && c.co.holderEnd <= t) {
			c.free(t)
		}
	}
	c.schedule(t)
}

func (c *Core) enqueue(e Entry) {
	q := c.view.Queue
	i := len(q)
	for j, x := range q {
		if c.before(e, x) {
			i = j
			break
		}
	}
	c.view.Queue = slices.Insert(q, i, e)
}

func (c *Core) before(a, b Entry) bool {
	if c.cfg.Policy != FIFO && a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if a.Ticket != b.Ticket {
		return a.Ticket < b.Ticket
	}
	return a.Member.Name < b.Member.Name
}

// confirm renews the holder's lease (its first, for an offered or inherited
// holder) from its request or renewal sent at its clock's ts.
func (c *Core) confirm(t, ts int64) {
	h := c.view.Holder
	if c.co.takenBy != 0 {
		c.send(Message{Kind: KindTaken, To: h, Token: c.view.Token, Lease: max(c.co.takenBy-t, 0)})
		if c.co.takenBy <= t {
			return
		}
	}
	d := c.leaseFor(t)
	if d <= 0 {
		return
	}
	c.co.confirmed = true
	c.co.holderEnd = max(c.co.holderEnd, t+d)
	c.co.lastEcho = max(c.co.lastEcho, ts)
	c.send(Message{Kind: KindGrant, To: h, Epoch: c.co.epoch, Token: c.view.Token, Echo: ts, Lease: d, Version: c.view.Version})
}

// offer makes e the holder under a new token. A request that arrived just
// now is granted a lease at once; otherwise the holder must renew first.
func (c *Core) offer(t int64, e Entry) {
	c.co.seq++
	c.view.Holder, c.view.HolderPriority, c.view.HolderTicket = e.Member, e.Priority, e.Ticket
	c.view.Token = c.co.epoch<<32 | c.co.seq
	c.co.confirmed, c.co.confirmBy, c.co.takenBy, c.co.lastEcho = false, t+2*c.hb, 0, 0
	c.changed(t)
	if at, ok := c.co.recvAt[e.Member.Name]; ok && t-at < c.hb && e.TS != 0 {
		c.confirm(t, e.TS)
	} else {
		c.send(Message{Kind: KindGrant, To: e.Member, Epoch: c.co.epoch, Token: c.view.Token, Echo: e.TS, Version: c.view.Version})
	}
}

func (c *Core) free(t int64) {
	c.view.Holder, c.view.Token, c.view.HolderPriority, c.view.HolderTicket = Member{}, 0, 0, 0
	c.co.takenBy, c.co.confirmed, c.co.lastEcho = 0, false, 0
	c.changed(t)
}

// schedule drops a holder whose lease surely ended and gives the floor to
// the next request.
func (c *Core) schedule(t int64) {
	if c.role != coordinator {
		return
	}
	if h := c.view.Holder; !h.IsZero() {
		end := max(c.co.holderEnd, c.co.guard)
		if !c.co.confirmed {
			end = max(end, c.co.confirmBy)
		}
		if t >= end {
			c.free(t)
		}
	}
	h := c.view.Holder
	if len(c.view.Queue) == 0 || t >= c.co.leaseEnd {
		return
	}
	next := c.view.Queue[0]
	if !h.IsZero() {
		if c.cfg.Policy >= Preemptive && c.co.takenBy == 0 && next.Priority > c.view.HolderPriority {
			grace := int64(0)
			if c.cfg.Policy == DelayedPreemptive {
				grace = int64(c.cfg.Grace)
			}
			c.co.takenBy = t + grace
			c.send(Message{Kind: KindTaken, To: h, Token: c.view.Token, Lease: grace})
		}
		return
	}
	c.view.Queue = slices.Delete(c.view.Queue, 0, 1)
	if c.cfg.Mode == Everywhere && next.Member != c.self {
		c.handoff(t, next)
		return
	}
	c.offer(t, next)
}

// handoff passes the coordination of an everywhere resource to the next
// holder, with the floor.
func (c *Core) handoff(t int64, next Entry) {
	c.view.Holder, c.view.HolderPriority, c.view.HolderTicket, c.view.Token = next.Member, next.Priority, next.Ticket, 0
	c.view.Version++
	c.emit(t, Event{Kind: Changed})
	c.passOn(t, next.Member, 0)
}

// passOn steps down in favour of next, releasing our voters to it.
func (c *Core) passOn(t int64, next Member, holderLeft int64) {
	st := c.view.clone()
	m := Message{Kind: KindHandoff, From: c.self, Epoch: c.co.epoch, Next: next, State: &st, Lease: holderLeft}
	c.stepDown(t)
	c.send(m)
	c.ho = handoffState{msg: &m, until: t + c.lease, next: t + c.hb}
}

// resign: a leaving coordinator hands over to the first member in rank
// heard from lately, or, holding nothing out, releases its voters.
func (c *Core) resign(t int64) {
	var next Member
	for _, n := range c.rank() {
		if s, ok := c.seen[n]; ok && n != c.self.Name && t-s.at < c.lease {
			next = s.m
			break
		}
	}
	left := int64(0)
	if !c.view.Holder.IsZero() && c.view.Holder != c.self {
		left = max(c.co.holderEnd-t, 0)
	}
	if !next.IsZero() {
		c.passOn(t, next, left)
		return
	}
	if left == 0 && c.co.guard <= t {
		c.send(Message{Kind: KindAbdicate, Epoch: c.co.epoch})
	}
	c.stepDown(t)
}
