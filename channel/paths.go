package channel

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/transport"
)

// paths is what a channel keeps of the transport addresses it hears from,
// so that no datagram from anyone can make it a reflector:
//
//   - Address validation, as QUIC does it (RFC 9000 §8.1): on transports
//     where the channel sends to each member's address (unicast UDP), an
//     address is validated once it has echoed a cookie sent to it
//     (CHALLENGE, then ECHO). Until then the channel sends it at most
//     amplification (3) times the bytes it received from it; what would go
//     beyond is not sent and is counted ("unvalidated"). The peer named by
//     the URL is validated by configuration. On transports where one send
//     reaches every member (multicast, mem) nothing is sent to a source
//     address, so there is nothing to validate.
//   - Answers rate-limited per address and in all: a QUERY is answered at
//     most queryBurst times per announce interval per address and
//     4×queryBurst in all; beyond, it is dropped and counted
//     ("query-limit"). The asker asks again. On multicast a QUERY that
//     an announcement to everyone answered just before costs nothing
//     ("query-recent", outgoing.answerQuery).
//
// A cookie is a MAC of the address under a key random per channel, so
// checking an echo keeps no state per challenge. The table is bounded
// (limit addresses, the least recently heard evicted; an evicted address
// must validate again).
type paths struct {
	validate bool // sends to member addresses are gated
	// configured is validated by configuration: the URL's peer, or the
	// gateway a gateway= channel uses now (it moves on failover, gwsel.go).
	configured atomic.Pointer[transport.Addr]
	limit      int
	every      time.Duration // the announce interval: query budgets refill over it
	cnt        *counters
	key        [32]byte

	mu      sync.Mutex
	m       map[transport.Addr]*path
	queries bucket // all addresses together
}

// path is one remote address.
type path struct {
	recvd, sent int64 // bytes, until validated
	validated   bool
	challenged  time.Time // when a CHALLENGE last went to it
	heard       time.Time
	queries     bucket
}

const (
	amplification  = 3                      // bytes sent per byte received before validation
	challengeEvery = 100 * time.Millisecond // at most one CHALLENGE per address this often
	queryBurst     = 16                     // QUERY answers per address per announce interval
)

func newPaths(validate bool, configured transport.Addr, limit int, every time.Duration, cnt *counters, now time.Time) *paths {
	p := &paths{validate: validate, limit: limit, every: every, cnt: cnt, m: make(map[transport.Addr]*path)}
	p.setPeer(configured)
	rand.Read(p.key[:])
	p.queries = bucket{tokens: 4 * queryBurst, at: now}
	return p
}

// peer is the address validated by configuration (zero: none).
func (ps *paths) peer() transport.Addr { return *ps.configured.Load() }

// setPeer makes a the address validated by configuration.
func (ps *paths) setPeer(a transport.Addr) { ps.configured.Store(&a) }

// cookie is the value an address must echo to validate.
func (ps *paths) cookie(a transport.Addr) uint64 {
	mac := hmac.New(sha256.New, ps.key[:])
	b, _ := a.IP.MarshalBinary()
	mac.Write(b)
	mac.Write([]byte(a.Name))
	return binary.BigEndian.Uint64(mac.Sum(nil))
}

// getLocked returns the path of a, creating it (and evicting the least
// recently heard beyond the limit) when create is set.
func (ps *paths) getLocked(a transport.Addr, now time.Time, create bool) *path {
	p := ps.m[a]
	if p != nil || !create {
		return p
	}
	if len(ps.m) >= ps.limit {
		var oldest transport.Addr
		var op *path
		for k, v := range ps.m {
			if op == nil || v.heard.Before(op.heard) {
				oldest, op = k, v
			}
		}
		delete(ps.m, oldest)
		ps.cnt.drop("evicted-path")
	}
	p = &path{heard: now, queries: bucket{tokens: queryBurst, at: now}}
	ps.m[a] = p
	return p
}

// heard records a datagram of n bytes from a (authentic, on keyed
// channels). It returns a cookie to send in a CHALLENGE when a needs
// validating and has not been challenged lately.
func (ps *paths) heard(a transport.Addr, n int, now time.Time) (cookie uint64, challenge bool) {
	if !ps.validate || a.IsZero() || a == ps.peer() {
		return 0, false
	}
	ps.mu.Lock()
	p := ps.getLocked(a, now, true)
	p.heard = now
	if p.validated {
		ps.mu.Unlock()
		return 0, false
	}
	p.recvd += int64(n)
	challenge = p.challenged.IsZero() || now.Sub(p.challenged) >= challengeEvery
	if challenge {
		p.challenged = now
	}
	ps.mu.Unlock()
	if challenge {
		cookie = ps.cookie(a)
	}
	return cookie, challenge
}

// echoed handles an ECHO from a: a matching cookie validates it.
func (ps *paths) echoed(a transport.Addr, cookie uint64, now time.Time) {
	if !ps.validate || a.IsZero() || a == ps.peer() {
		return
	}
	var got, want [8]byte
	binary.BigEndian.PutUint64(got[:], cookie)
	binary.BigEndian.PutUint64(want[:], ps.cookie(a))
	if !hmac.Equal(got[:], want[:]) {
		ps.cnt.drop("bad-echo")
		return
	}
	ps.mu.Lock()
	if p := ps.getLocked(a, now, true); !p.validated {
		p.validated = true
		p.recvd, p.sent = 0, 0
	}
	ps.mu.Unlock()
}

// allow reports whether n bytes may be sent to a now, and counts them.
func (ps *paths) allow(a transport.Addr, n int) bool {
	if !ps.validate || a.IsZero() || a == ps.peer() {
		return true
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[a]
	switch {
	case p == nil:
		// Never heard from (or evicted): nothing received, nothing owed.
	case p.validated:
		return true
	case p.sent+int64(n) <= amplification*p.recvd:
		p.sent += int64(n)
		return true
	}
	ps.cnt.drop("unvalidated")
	return false
}

// answer reports whether a QUERY from a may be answered now: both its
// address's bucket and the shared one must have a token.
func (ps *paths) answer(a transport.Addr, now time.Time) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.queries.fill(now, ps.every, 4*queryBurst)
	var own *bucket
	if !a.IsZero() {
		own = &ps.getLocked(a, now, true).queries
		own.fill(now, ps.every, queryBurst)
	}
	if ps.queries.tokens < 1 || own != nil && own.tokens < 1 {
		ps.cnt.drop("query-limit")
		return false
	}
	ps.queries.tokens--
	if own != nil {
		own.tokens--
	}
	return true
}

// bucket is a token bucket of burst tokens refilled over every.
type bucket struct {
	tokens float64
	at     time.Time
}

// fill adds the tokens earned up to now.
func (b *bucket) fill(now time.Time, every time.Duration, burst float64) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+burst*float64(d)/float64(every))
		b.at = now
	}
}
