package channel

import "time"

// ClockOffset returns this channel's estimate of a member's clock offset:
// the smallest (arrival − send time) seen lately over that member's
// datagrams that carry its clock, arrival read on this channel's clock
// (WithClock) and send time on the member's. It is the difference between
// the two clocks plus the shortest one-way delay, so a posting p from that
// member arrived
//
//	arrival − p.Sent − offset
//
// after the fastest of its recent postings would have: its delay beyond the
// floor, with no clock synchronisation. This is how the channel ages
// postings against their TTL, and what package playout plays against.
// The second result is false when id is not a member (or, on a keyed
// channel, not yet a confirmed one) or nothing has fed the estimate yet.
//
// What feeds it, and its limits:
//   - The member's postings that carry a TTL (those whose age the channel
//     checks), and on keyed channels its hellos (authenticated, sent every
//     announce interval). On an unkeyed channel hellos do not count: anyone
//     can send one in a member's name, and a forged clock would move the
//     estimate; a posting without a TTL does not count either. A stream
//     with no TTL on an unkeyed channel therefore leaves it unknown unless
//     the member sends other postings with one.
//   - The minimum is kept over two 10-second epochs, so it follows a
//     drifting clock: a fast sender clock (the offset falls) at once, a
//     slow one as the epochs roll over, up to 20 s late (2 ms at 100 ppm).
//   - It moves when the member's clock is stepped, after up to 20 s.
//   - On an unkeyed channel anyone can send postings in a member's name, so
//     the estimate is only as trustworthy as the channel; keyed channels
//     authenticate everything that feeds it.
func (c *Channel) ClockOffset(member uint64) (time.Duration, bool) {
	return c.members.offset(member)
}

// offset returns a confirmed member's clock-offset estimate (see
// ClockOffset): read only, it moves nothing.
func (m *members) offset(id uint64) (time.Duration, bool) {
	m.mu.Lock()
	p := m.peers[id]
	if p == nil || p.pending {
		m.mu.Unlock()
		return 0, false
	}
	e := &p.skew // a member's estimate lives as long as the member
	m.mu.Unlock()
	return e.offset()
}

// offset returns the estimate, min over the two epochs, and whether any
// sample has fed it.
func (e *skewEstimate) offset() (time.Duration, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return min(e.cur, e.prev), e.have
}
