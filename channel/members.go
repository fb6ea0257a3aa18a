package channel

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/transport"
)

// members is the membership part of a channel: the other members heard
// from, their addresses, whether they serve requests, and their clock
// offsets. It is bounded (the least recently heard member is evicted) and
// forgets members that fall silent or say goodbye; whoever keeps state per
// member (the incoming flows) learns of it through forgot, called with no
// lock held.
//
// members knows nothing of streams or stacks: the rest of the channel asks
// it whether a member is known, where to send, and whom to ask.
type members struct {
	limit  int            // members kept at most
	remote transport.Addr // the unicast peer named by the URL, if any
	// reachAll: one send to the zero address reaches every member
	// (multicast, mem), so resolve needs no list.
	reachAll  bool
	multicast bool // frames for one member go to the group too
	// helloClocks: hellos are authenticated (keyed channels), so their
	// clocks may feed the skew estimate. On an unkeyed channel anyone can
	// send a hello in a member's name, and a forged clock would make every
	// posting of that member look old (or young): only the postings'
	// own send times are used there.
	helloClocks bool
	// keyed: datagrams are authenticated, so a member's address follows
	// its datagrams. On an unkeyed channel anyone can send in a member's
	// name: its address moves only once it has been silent at the old one
	// for migrateAfter, and a goodbye counts only from its address.
	keyed        bool
	migrateAfter time.Duration
	cnt          *counters
	forgot       func(id uint64) // after a member is forgotten; no lock held

	mu         sync.Mutex
	closed     bool
	peers      map[uint64]*peer
	serverSeen chan struct{}               // closed and replaced when a serving member appears
	dsts       []transport.Addr            // scratch for resolve, used by the one writer
	seen       map[transport.Addr]struct{} // scratch for resolve's de-duplication
}

// smallPeerSet is the most members resolve de-duplicates by a linear scan.
const smallPeerSet = 16

// peer is another member of the channel.
type peer struct {
	id       uint64
	addr     transport.Addr
	addrAt   time.Time // when it was last heard at addr
	lastSeen time.Time
	serves   bool
	skew     skewEstimate // its clock against ours, from its hellos and postings
	// pending: keyed, and it has not echoed our nonce yet (fresh.go); not
	// listed, never a server, evicted first.
	pending  bool
	nonce    uint64    // its nonce, as last echoed to it
	echoedAt time.Time // when we last echoed it
}

func newMembers(limit int, remote transport.Addr, reachAll, multicast bool, cnt *counters, forgot func(uint64)) *members {
	return &members{limit: limit, remote: remote, reachAll: reachAll, multicast: multicast, cnt: cnt, forgot: forgot,
		peers: make(map[uint64]*peer), serverSeen: make(chan struct{})}
}

// touch records that id was heard from at addr, in a datagram that was
// fresh (unkeyed, or keyed and after the member echoed our nonce); it
// reports false when the channel is closed. A new member beyond the limit
// evicts the least recently heard one, a pending member first; a datagram
// that is not fresh only makes a pending member, and evicts only pending
// ones. An unkeyed member's address moves to from only when it has been
// silent at its own for migrateAfter.
func (m *members) touch(id uint64, from transport.Addr, now time.Time, fresh bool) bool {
	var evicted uint64
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	p := m.peers[id]
	if p == nil {
		if len(m.peers) >= m.limit {
			if evicted = m.evictLocked(!fresh); evicted == 0 {
				m.mu.Unlock()
				m.cnt.drop("too-many-pending")
				return true
			}
		}
		p = &peer{id: id, addr: from, addrAt: now, lastSeen: now, pending: !fresh}
		m.peers[id] = p
	}
	switch {
	case !fresh:
		if p.pending { // anything it says may be a recording
			p.addr, p.addrAt = from, now
		}
	case from == p.addr || m.keyed || now.Sub(p.addrAt) >= m.migrateAfter || now.Before(p.addrAt):
		p.addr, p.addrAt, p.lastSeen, p.pending = from, now, now, false
	default:
		p.lastSeen = now // heard, in its name, from elsewhere: the address stays
	}
	m.mu.Unlock()
	if evicted != 0 {
		m.cnt.drop("evicted-peer")
		m.forgot(evicted)
	}
	return true
}

// evictLocked forgets the member heard from least recently, pending ones
// first, and returns it (0: none, when pendingOnly and none is pending).
func (m *members) evictLocked(pendingOnly bool) uint64 {
	var oldest *peer
	for _, p := range m.peers {
		if pendingOnly && !p.pending {
			continue
		}
		if oldest == nil || p.pending && !oldest.pending ||
			p.pending == oldest.pending && p.lastSeen.Before(oldest.lastSeen) {
			oldest = p
		}
	}
	if oldest == nil {
		return 0
	}
	delete(m.peers, oldest.id)
	return oldest.id
}

// hello handles a member's HELLO, read from address from: its clock
// (Unix nanoseconds, 0: none) feeds the skew estimate, its flags say
// whether it serves or leaves. answer says it asked for our hello. On an
// unkeyed channel a goodbye counts only from the member's address (its
// latest, see touch): anyone can send one in its name, and forgetting a
// member forgets what it sent, so a recording of it would be delivered
// again.
func (m *members) hello(id uint64, flags byte, clock int64, from transport.Addr, now time.Time) (answer bool) {
	m.mu.Lock()
	p := m.peers[id]
	if p == nil || p.pending {
		m.mu.Unlock()
		return false
	}
	if flags&helloBye != 0 && !m.speaksForLocked(p, from) {
		m.mu.Unlock()
		m.cnt.drop("bye-elsewhere")
		return false
	}
	if flags&helloBye != 0 {
		delete(m.peers, id)
		m.mu.Unlock()
		m.forgot(id)
		return false
	}
	if clock != 0 && m.helloClocks {
		p.skew.age(now, time.Unix(0, clock))
	}
	if flags&helloServes != 0 && !p.serves {
		close(m.serverSeen)
		m.serverSeen = make(chan struct{})
	}
	p.serves = flags&helloServes != 0
	m.mu.Unlock()
	return flags&helloAsk != 0
}

// speaksFor says whether a datagram from address from may speak for member
// id on matters that change what this member does for it (a goodbye, a
// refusal): always on a keyed channel; on an unkeyed one only from the
// member's address (see touch).
func (m *members) speaksFor(id uint64, from transport.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peers[id]
	return p != nil && !p.pending && m.speaksForLocked(p, from)
}

// speaksForLocked is speaksFor for a member p known and not pending.
func (m *members) speaksForLocked(p *peer, from transport.Addr) bool {
	return m.keyed || p.addr == from
}

// addrOf returns member id's address (zero: unknown).
func (m *members) addrOf(id uint64) transport.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.peers[id]; p != nil {
		return p.addr
	}
	return transport.Addr{}
}

// nonce records a member's freshness nonce and says whether to echo it:
// when it is new, or when the member asks again (at most every
// freshRetry).
func (m *members) nonce(id, nonce uint64, ask bool, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.peers[id]
	switch {
	case p == nil:
		return false
	case nonce != p.nonce:
		p.nonce = nonce
	case !ask || now.Sub(p.echoedAt) < freshRetry && !now.Before(p.echoedAt):
		return false
	}
	p.echoedAt = now
	return true
}

// skew returns a known member's clock-offset estimate (shared by all its
// flows), or nil when id is not a member.
func (m *members) skew(id uint64) *skewEstimate {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.peers[id]; p != nil {
		return &p.skew
	}
	return nil
}

// servers returns the members that serve requests, in id order, and a
// channel closed when another one appears.
func (m *members) servers() ([]uint64, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []uint64
	for id, p := range m.peers {
		if p.serves && !p.pending {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, m.serverSeen
}

// expire forgets the members not heard from since silentSince.
func (m *members) expire(silentSince time.Time) {
	var gone []uint64
	m.mu.Lock()
	for id, p := range m.peers {
		if p.lastSeen.Before(silentSince) {
			delete(m.peers, id)
			gone = append(gone, id)
		}
	}
	m.mu.Unlock()
	for _, id := range gone {
		m.forgot(id)
	}
}

// resolve returns the transport addresses of an outbox destination (a
// member id, or everyone), appended to a scratch slice that only the
// outbox's one writer uses.
func (m *members) resolve(dst uint64) []transport.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.dsts[:0]
	switch {
	case m.reachAll && (dst == everyone || m.multicast):
		out = append(out, transport.Addr{})
	case dst == everyone:
		// One send per address, however many members share it (members
		// behind one relay, or ids invented by someone spoofing it).
		if len(m.peers) > smallPeerSet && m.seen == nil {
			m.seen = make(map[transport.Addr]struct{}, len(m.peers))
		}
		for _, p := range m.peers {
			if p.addr.IsZero() {
				continue
			}
			if len(m.peers) > smallPeerSet {
				if _, dup := m.seen[p.addr]; dup {
					continue
				}
				m.seen[p.addr] = struct{}{}
			} else if slices.Contains(out, p.addr) {
				continue
			}
			out = append(out, p.addr)
		}
		clear(m.seen)
		if !m.remote.IsZero() && !slices.Contains(out, m.remote) {
			out = append(out, m.remote)
		}
	default:
		if p := m.peers[dst]; p != nil && !p.addr.IsZero() {
			out = append(out, p.addr)
		} else {
			m.cnt.drop("no-route")
		}
	}
	m.dsts = out
	return out
}

// moveRemote makes to the unicast peer instead of from, and moves the
// members heard at from to to (a gateway= channel moving to another
// gateway, gwsel.go): they are reached through the new one now, and the
// silence of the old one does not count against them (they are heard
// from as of now).
func (m *members) moveRemote(from, to transport.Addr, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.remote == from {
		m.remote = to
	}
	for _, p := range m.peers {
		if p.addr == from {
			p.addr, p.addrAt = to, now
			if now.After(p.lastSeen) {
				p.lastSeen = now
			}
		}
	}
}

// list describes the members, in id order.
func (m *members) list() []PeerInfo {
	m.mu.Lock()
	var out []PeerInfo
	for _, p := range m.peers {
		if p.pending {
			continue
		}
		out = append(out, PeerInfo{ID: p.id, Addr: p.addr, Serves: p.serves, LastSeen: p.lastSeen})
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// len is the number of members known.
func (m *members) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.peers)
}

// close stops accepting members.
func (m *members) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
}

// skewEstimate removes the clock offset between a sender and this member
// without synchronised clocks: the smallest (arrival − send time) seen
// recently, over the sender's postings (and, on keyed channels, where
// they are authenticated, its hellos, which carry its clock and leave at
// once), is the offset plus the shortest one-way delay,
// so a posting's age is its (arrival − send time) less that minimum. A
// posting older than its TTL is obsolete. The minimum is kept over two
// 10-second epochs so a drifting clock is followed.
type skewEstimate struct {
	mu        sync.Mutex
	cur, prev time.Duration
	epoch     time.Time
	have      bool
}

const skewEpoch = 10 * time.Second

// age returns how long ago, corrected for clock offset, a posting sent at
// sent was sent, and folds the sample into the estimate. A send time
// before 1970 or after 2262 (beyond Unix nanoseconds) is no clock
// reading: it is refused, and ages nothing (0).
func (e *skewEstimate) age(now, sent time.Time) time.Duration {
	if sent.UnixNano() <= 0 || sent.Year() >= 2262 {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	off := now.Sub(sent)
	if !e.have || now.Sub(e.epoch) >= skewEpoch {
		if e.have {
			e.prev = e.cur
		} else {
			e.prev = off
		}
		e.cur, e.epoch, e.have = off, now, true
	}
	e.cur = min(e.cur, off)
	return off - min(e.cur, e.prev)
}
