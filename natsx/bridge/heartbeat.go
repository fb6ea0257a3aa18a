package bridge

import (
	"encoding/binary"
	"time"
)

// What bridges say to each other on the WAN subject. Neither message is a
// channel datagram (the first byte is not the wire magic), so a channel
// member reading the subject directly drops both as malformed: the WAN
// subject is the bridges'.
//
// A heartbeat, every Config.Heartbeat:
//
//	"rwhb"      4 bytes
//	bridge id   8 bytes, big-endian
//	flags       1 byte: bit 0, bye (the bridge is closing)
//	clock       8 bytes: the bridge's Unix nanoseconds when sent
//
// A relayed datagram:
//
//	"rwbd"      4 bytes
//	bridge id   8 bytes, big-endian
//	clock       8 bytes: the bridge's Unix nanoseconds when sent
//	residence   4 bytes: microseconds the datagram spent in this bridge
//	datagram    the rest: as the member sent it, byte for byte
//
// Core NATS drops messages silently when the path to their subscribers
// breaks (a leaf node link down while both servers run), so a bridge
// cannot learn from its own connection that the far site is unreachable:
// the far bridges' heartbeats stopping is how it knows. And it keeps what
// is already on its way: messages in a stalled leaf node connection's TCP
// buffers arrive when the link is back, seconds late. The clocks let the
// receiving bridge see that without synchronised clocks: the smallest
// (arrival − clock) seen from a far bridge is the clock offset plus the
// shortest transit, so (arrival − clock) less that minimum, plus the far
// bridge's residence, never exceeds the time the datagram has spent
// between the bridges. A droppable datagram whose time left at send that
// has reached is dropped before it enters the site ("expired"), never early.
const (
	hbMagic  = "rwhb"
	hbLen    = 4 + 8 + 1 + 8
	hbBye    = 1
	envMagic = "rwbd"
	envLen   = 4 + 8 + 8 + 4
)

func appendHeartbeat(b []byte, id uint64, bye bool, now time.Time) []byte {
	b = append(b, hbMagic...)
	b = binary.BigEndian.AppendUint64(b, id)
	var f byte
	if bye {
		f |= hbBye
	}
	b = append(b, f)
	return binary.BigEndian.AppendUint64(b, uint64(now.UnixNano()))
}

// isHeartbeat reports whether d claims to be a heartbeat.
func isHeartbeat(d []byte) bool { return len(d) >= 4 && string(d[:4]) == hbMagic }

// parseHeartbeat reads a heartbeat; ok is false if it is malformed.
func parseHeartbeat(d []byte) (id uint64, bye bool, clock time.Time, ok bool) {
	if len(d) != hbLen || string(d[:4]) != hbMagic || d[12]&^hbBye != 0 {
		return 0, false, time.Time{}, false
	}
	id = binary.BigEndian.Uint64(d[4:])
	ns := int64(binary.BigEndian.Uint64(d[13:]))
	return id, d[12]&hbBye != 0, time.Unix(0, ns), id != 0 && ns > 0
}

// appendEnvelope appends the envelope of a relayed datagram.
func appendEnvelope(b []byte, id uint64, now time.Time, residence time.Duration) []byte {
	b = append(b, envMagic...)
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint64(b, uint64(now.UnixNano()))
	us := min(max(residence/time.Microsecond, 0), 1<<32-1)
	return binary.BigEndian.AppendUint32(b, uint32(us))
}

// parseEnvelope reads a relayed datagram's envelope and returns the
// datagram; ok is false if it is malformed.
func parseEnvelope(d []byte) (id uint64, clock time.Time, residence time.Duration, dgram []byte, ok bool) {
	if len(d) < envLen || string(d[:4]) != envMagic {
		return 0, time.Time{}, 0, nil, false
	}
	id = binary.BigEndian.Uint64(d[4:])
	ns := int64(binary.BigEndian.Uint64(d[12:]))
	residence = time.Duration(binary.BigEndian.Uint32(d[20:])) * time.Microsecond
	return id, time.Unix(0, ns), residence, d[envLen:], id != 0 && ns > 0
}

// transit estimates, without synchronised clocks, how long messages from
// one far bridge spent on the way beyond the fastest: the smallest
// (arrival − clock) seen over two epochs stands for the clock offset plus
// the shortest transit (as channel members do for postings' ages).
type transit struct {
	cur, prev time.Duration
	epoch     time.Time
	have      bool
}

const transitEpoch = 10 * time.Second

// sample folds a message stamped clock, arriving at now, into the estimate
// and returns how much longer than the fastest it took (never more than
// it really did).
func (e *transit) sample(now, clock time.Time) time.Duration {
	off := now.Sub(clock)
	if !e.have || now.Sub(e.epoch) >= transitEpoch {
		if e.have {
			e.prev = e.cur
		} else {
			e.prev = off
		}
		e.cur, e.epoch, e.have = off, now, true
	}
	e.cur = min(e.cur, off)
	return max(off-min(e.cur, e.prev), 0)
}

// idSet is the members heard on one side, so that their datagrams are not
// relayed back to them from the other: bounded (idLimit, the least
// recently heard evicted) and forgetful (idTTL).
type idSet struct {
	m map[uint64]time.Time
}

const (
	idLimit = 4096             // a channel tracks at most 4096 members (channel.WithLimits)
	idTTL   = 30 * time.Second // members say hello every second
)

func newIDSet() idSet { return idSet{m: make(map[uint64]time.Time)} }

func (s idSet) has(id uint64, now time.Time) bool {
	at, ok := s.m[id]
	if ok && now.Sub(at) >= idTTL {
		delete(s.m, id)
		return false
	}
	return ok
}

func (s idSet) add(id uint64, now time.Time) {
	if _, ok := s.m[id]; !ok && len(s.m) >= idLimit {
		var oldest uint64
		var at time.Time
		for k, t := range s.m {
			if at.IsZero() || t.Before(at) {
				oldest, at = k, t
			}
		}
		delete(s.m, oldest)
	}
	s.m[id] = now
}
