package floor

import "time"

// The requester and holder.

func (c *Core) sendRequest(t int64) {
	c.send(Message{Kind: KindRequest, Priority: c.rq.priority, Ticket: c.rq.ticket, TS: t})
	c.rq.sentAt = t
}

func (c *Core) onGrant(t int64, m *Message) {
	r := &c.rq
	if !r.want && r.token == 0 {
		c.send(Message{Kind: KindRelease, Token: m.Token, TS: t}) // not wanted (any more)
		return
	}
	if m.Lease <= 0 {
		// An offer: claim it with a fresh request (or renewal), whose echo
		// will date our lease.
		switch {
		case r.token == 0:
			c.sendRequest(t)
		case m.Token > r.token:
			r.renewAt = t
		}
		return
	}
	if m.Echo < r.since || r.token != 0 && m.Token < r.token {
		return // stale
	}
	if m.Token != r.token {
		if r.token != 0 {
			c.lose(t, ReasonRegranted)
		}
		r.token, r.tokenVer, r.leaseEnd, r.yieldAt = m.Token, m.Version, 0, 0
		r.renewAt = t + c.hb
	}
	if end := m.Echo + c.short(m.Lease); end > r.leaseEnd {
		r.leaseEnd = end
	}
	if r.leaseEnd <= t {
		r.renewAt = min(r.renewAt, t)
	}
}

func (c *Core) onTaken(t int64, m *Message) {
	r := &c.rq
	if r.token == 0 || m.Token != r.token {
		return
	}
	if m.Lease <= 0 {
		c.release(t, ReasonTaken)
		return
	}
	if r.yieldAt == 0 {
		r.yieldAt = t + c.short(m.Lease)
		c.emit(t, Event{Kind: Preempted, Token: r.token, Grace: time.Duration(m.Lease)})
	}
}

// release stops holding (before telling the coordinator) or withdraws.
func (c *Core) release(t int64, why Reason) {
	r := &c.rq
	if tok := r.token; tok != 0 {
		c.lose(t, why)
		c.send(Message{Kind: KindRelease, Token: tok, TS: t})
		return
	}
	if r.want {
		r.want, r.sentAt = false, t
		c.send(Message{Kind: KindWithdraw, Ticket: r.ticket, TS: t})
	}
}

// lose ends this member's tenure as holder.
func (c *Core) lose(t int64, why Reason) {
	r := &c.rq
	tok := r.token
	r.token, r.leaseEnd, r.yieldAt, r.valid = 0, 0, 0, false
	if why != ReasonRegranted {
		r.want = false
	}
	c.emit(t, Event{Kind: Lost, Token: tok, Reason: why})
}
