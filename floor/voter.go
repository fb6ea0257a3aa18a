package floor

// The voter: promises to one member at a time.

// mayBind says whether this voter may promise itself to y at epoch e (by a
// vote or by acknowledging a heartbeat), and if not, for how long it
// remains bound elsewhere.
func (c *Core) mayBind(t int64, y Member, e uint64, vote bool) (bool, int64) {
	v := &c.vo
	if t < v.guardUntil {
		return false, v.guardUntil - t
	}
	if e < v.votedEpoch || e == v.votedEpoch && v.votedFor != y {
		return false, 0
	}
	if e < v.seenEpoch || vote && e == v.seenEpoch && v.votedFor != y {
		return false, 0 // a coordinator was heard at a later epoch
	}
	if t < v.boundUntil && v.bound != y && !(v.votedFor == y && e == v.votedEpoch) {
		return false, v.boundUntil - t
	}
	return true, 0
}

func (c *Core) bind(t int64, y Member, e uint64, ts int64) {
	v := &c.vo
	v.bound, v.boundEpoch, v.boundTS, v.boundUntil = y, e, ts, t+c.lease
	v.votedEpoch, v.votedFor = e, y
}

func (c *Core) onHeartbeat(t int64, m *Message) {
	c.learn(t, m.State)
	if m.Epoch >= c.coordEpoch {
		c.coord, c.coordEpoch = m.From, m.Epoch
		if c.role == follower {
			c.electAt = t + c.electDelay()
		}
		if c.ho.msg != nil && m.Epoch > c.ho.msg.Epoch {
			c.ho.msg = nil
		}
		if m.From != c.self && c.role == candidate {
			c.abandon(t) // a coordinator is alive
		}
	}
	if m.From != c.self && c.role == coordinator && m.Epoch > c.co.epoch {
		c.stepDown(t)
	}
	c.vo.seenEpoch = max(c.vo.seenEpoch, m.Epoch)
	if c.isVoter {
		if ok, _ := c.mayBind(t, m.From, m.Epoch, false); ok {
			c.bind(t, m.From, m.Epoch, m.TS)
			c.send(Message{Kind: KindAck, To: m.From, Epoch: m.Epoch, Echo: m.TS})
		}
	}
}

func (c *Core) onVoteRequest(t int64, m *Message) {
	if m.From != c.self && c.role == follower {
		// Someone stands: give it time before standing ourselves.
		c.electAt = max(c.electAt, t+c.hb+c.electDelay()-c.lease)
	}
	if !c.isVoter {
		return
	}
	if !m.Next.IsZero() && m.Epoch > 0 {
		c.released(m.Next, m.Epoch-1, m.From)
	}
	if ok, wait := c.mayBind(t, m.From, m.Epoch, true); ok {
		c.bind(t, m.From, m.Epoch, m.TS)
		st := c.view.clone()
		c.send(Message{Kind: KindVote, To: m.From, Epoch: m.Epoch, Echo: m.TS, State: &st})
	} else {
		c.send(Message{Kind: KindVote, To: m.From, Epoch: max(c.vo.votedEpoch, c.vo.seenEpoch), Echo: m.TS, No: true, Lease: wait})
	}
}

func (c *Core) onHandoff(t int64, m *Message) {
	fresh := m.Epoch >= c.coordEpoch
	c.learn(t, m.State)
	c.vo.seenEpoch = max(c.vo.seenEpoch, m.Epoch)
	c.released(m.From, m.Epoch, m.Next)
	if fresh {
		c.coord, c.coordEpoch = m.From, m.Epoch
		if c.role == follower {
			c.electAt = t + c.electDelay()
		}
	}
	if fresh && m.Next == c.self && m.From != c.self && c.role != coordinator &&
		!(c.role == candidate && c.cand.epoch > m.Epoch) {
		guard := int64(0)
		if m.Lease > 0 {
			guard = t + c.long(m.Lease)
		}
		if c.role == candidate {
			c.abandon(t)
		}
		c.standAfter(t, m.Epoch+1, true, guard, m.From)
	}
}

// released: our coordinator pred, of epoch e, stepped down for next.
func (c *Core) released(pred Member, e uint64, next Member) {
	v := &c.vo
	if v.bound == pred && e >= v.boundEpoch && e+1 > v.votedEpoch {
		// Our promise to it passes to the successor (and to nobody else
		// until it expires).
		v.votedEpoch, v.votedFor = e+1, next
	}
}

// onAbdicate: a failed candidacy (identified by the clock reading of its
// VoteRequest: a member may stand twice at one epoch) releases the voters
// bound by it; a leaving member (TS 0, it will send nothing more) releases
// all its voters.
func (c *Core) onAbdicate(t int64, m *Message) {
	v := &c.vo
	if v.bound == m.From && (m.TS == 0 || v.boundTS == m.TS) && v.boundUntil > t {
		v.boundUntil = t
	}
}
