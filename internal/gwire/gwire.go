package gwire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// Magic is the first byte of every gateway control datagram.
const Magic = 0x47

// Version is the control format's version.
const Version = 1

// Len is the length of a CHALLENGE or ECHO datagram.
const Len = 10

// ThinnedLen is the length of a THINNED datagram.
const ThinnedLen = 14

// ProbeLen is the length of a PROBE, ProbedLen of a PROBED.
const (
	ProbeLen  = 32
	ProbedLen = 28
)

// ReceiptLen is the length of a RECEIPT.
const ReceiptLen = 18

// ReceiptEvery is how often a gateway's client sends a RECEIPT.
const ReceiptEvery = 100 * time.Millisecond

// DirQueryLen is the length of a DIRQUERY and the most a DIRECTORY holds.
const DirQueryLen = 1200

// ProbeCapability is the PROBE flag asking for the capability test.
const ProbeCapability = 1

// Types of control datagram.
const (
	Challenge = 1
	Echo      = 2
	Thinned   = 3
	Probe     = 4
	Probed    = 5
	CapTest   = 6
	Heartbeat = 7
	DirQuery  = 8
	Directory = 9
	Receipt   = 10
)

// An Entry is one channel a gateway serves: the channel's URL (the
// multicast group it relays) and the address its clients send to.
type Entry struct {
	URL  string
	Addr string
}

// entryLen is an entry's encoded length.
func (e Entry) entryLen() int { return 4 + len(e.URL) + len(e.Addr) }

// ErrMalformed is returned for a datagram that is not a well-formed
// control datagram of this version.
var ErrMalformed = errors.New("gwire: malformed gateway control datagram")

// Control is a decoded control datagram.
type Control struct {
	Type byte
	// Cookie is a CHALLENGE's or ECHO's cookie, a PROBE's, PROBED's or
	// CAPTEST's nonce, or a HEARTBEAT's sequence number; Member and Stream
	// name a THINNED datagram's stream.
	Cookie uint64
	Member uint64
	Stream uint32
	// Flags are a PROBE's; Group a PROBED's.
	Flags byte
	Group netip.AddrPort
	// Index is a DIRQUERY's first entry wanted, or a DIRECTORY's first
	// entry; Total the DIRECTORY's entries in all, Entries those in it.
	Index, Total uint16
	Entries      []Entry
	// Bytes, Datagrams and Clock are a RECEIPT's.
	Bytes     uint64
	Datagrams uint32
	Clock     uint32
}

// Append appends a CHALLENGE, ECHO, CAPTEST or HEARTBEAT datagram
// carrying cookie.
func Append(b []byte, typ byte, cookie uint64) []byte {
	b = append(b, Magic, Version<<4|typ&0x0f)
	return binary.BigEndian.AppendUint64(b, cookie)
}

// AppendThinned appends a THINNED datagram for member's stream.
func AppendThinned(b []byte, member uint64, stream uint32) []byte {
	b = append(b, Magic, Version<<4|Thinned)
	b = binary.BigEndian.AppendUint64(b, member)
	return binary.BigEndian.AppendUint32(b, stream)
}

// Parse reads a control datagram.
func Parse(b []byte) (Control, error) {
	if len(b) < 2 || b[0] != Magic || b[1]>>4 != Version {
		return Control{}, ErrMalformed
	}
	c := Control{Type: b[1] & 0x0f}
	switch c.Type {
	case Challenge, Echo, CapTest, Heartbeat:
		if len(b) != Len {
			return Control{}, ErrMalformed
		}
		c.Cookie = binary.BigEndian.Uint64(b[2:])
		if c.Cookie == 0 {
			return Control{}, ErrMalformed
		}
	case Thinned:
		if len(b) != ThinnedLen {
			return Control{}, ErrMalformed
		}
		c.Member, c.Stream = binary.BigEndian.Uint64(b[2:]), binary.BigEndian.Uint32(b[10:])
		if c.Member == 0 || c.Stream == 0 {
			return Control{}, ErrMalformed
		}
	case Receipt:
		if len(b) != ReceiptLen {
			return Control{}, ErrMalformed
		}
		c.Bytes, c.Datagrams, c.Clock = binary.BigEndian.Uint64(b[2:]), binary.BigEndian.Uint32(b[10:]), binary.BigEndian.Uint32(b[14:])
	case Probe:
		if len(b) != ProbeLen || !zeros(b[11:]) {
			return Control{}, ErrMalformed
		}
		c.Cookie, c.Flags = binary.BigEndian.Uint64(b[2:]), b[10]
		if c.Cookie == 0 {
			return Control{}, ErrMalformed
		}
	case Probed:
		if len(b) != ProbedLen {
			return Control{}, ErrMalformed
		}
		c.Cookie = binary.BigEndian.Uint64(b[2:])
		c.Group = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[10:26])).Unmap(), binary.BigEndian.Uint16(b[26:]))
		if c.Cookie == 0 {
			return Control{}, ErrMalformed
		}
	case DirQuery:
		if len(b) != DirQueryLen || !zeros(b[4:]) {
			return Control{}, ErrMalformed
		}
		c.Index = binary.BigEndian.Uint16(b[2:])
	case Directory:
		if len(b) < 6 || len(b) > DirQueryLen {
			return Control{}, ErrMalformed
		}
		c.Total, c.Index = binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint16(b[4:])
		r := b[6:]
		str := func() (string, bool) {
			if len(r) < 2 {
				return "", false
			}
			n := int(binary.BigEndian.Uint16(r))
			if len(r) < 2+n {
				return "", false
			}
			v := string(r[2 : 2+n])
			r = r[2+n:]
			return v, true
		}
		for len(r) > 0 {
			u, ok1 := str()
			a, ok2 := str()
			if !ok1 || !ok2 {
				return Control{}, ErrMalformed
			}
			c.Entries = append(c.Entries, Entry{URL: u, Addr: a})
		}
		if int(c.Index)+len(c.Entries) > int(c.Total) {
			return Control{}, ErrMalformed
		}
	default:
		return Control{}, ErrMalformed
	}
	return c, nil
}

func zeros(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}

// AppendReceipt appends a RECEIPT: bytes and datagrams received in all,
// counted at clock (microseconds).
func AppendReceipt(b []byte, bytes uint64, datagrams, clock uint32) []byte {
	b = append(b, Magic, Version<<4|Receipt)
	b = binary.BigEndian.AppendUint64(b, bytes)
	b = binary.BigEndian.AppendUint32(b, datagrams)
	return binary.BigEndian.AppendUint32(b, clock)
}

// AppendProbe appends a PROBE carrying nonce and flags.
func AppendProbe(b []byte, nonce uint64, flags byte) []byte {
	b = append(b, Magic, Version<<4|Probe)
	b = binary.BigEndian.AppendUint64(b, nonce)
	b = append(b, flags)
	return append(b, make([]byte, ProbeLen-11)...)
}

// AppendProbed appends a PROBED answering nonce, naming group.
func AppendProbed(b []byte, nonce uint64, group netip.AddrPort) []byte {
	b = append(b, Magic, Version<<4|Probed)
	b = binary.BigEndian.AppendUint64(b, nonce)
	a := group.Addr().As16()
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, group.Port())
}

// AppendDirQuery appends a DIRQUERY asking for the entries from index.
func AppendDirQuery(b []byte, index uint16) []byte {
	b = append(b, Magic, Version<<4|DirQuery)
	b = binary.BigEndian.AppendUint16(b, index)
	return append(b, make([]byte, DirQueryLen-4)...)
}

// AppendDirectory appends a DIRECTORY of entries from index on: as many
// as fit in [DirQueryLen] bytes. It returns the datagram and the number
// of entries it holds, 0 when none is left or the next does not fit alone
// (its URL and address longer than DirQueryLen−10 bytes together; a
// directory should not list such entries).
func AppendDirectory(b []byte, entries []Entry, index int) ([]byte, int) {
	start := len(b)
	total := min(len(entries), 0xffff)
	index = min(max(index, 0), total)
	b = append(b, Magic, Version<<4|Directory)
	b = binary.BigEndian.AppendUint16(b, uint16(total))
	b = binary.BigEndian.AppendUint16(b, uint16(index))
	n := 0
	for _, e := range entries[index:total] {
		if len(b)-start+e.entryLen() > DirQueryLen {
			break
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.URL)))
		b = append(b, e.URL...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Addr)))
		b = append(b, e.Addr...)
		n++
	}
	return b, n
}

// Append appends c's encoding.
func (c Control) Append(b []byte) []byte {
	switch c.Type {
	case Thinned:
		return AppendThinned(b, c.Member, c.Stream)
	case Probe:
		return AppendProbe(b, c.Cookie, c.Flags)
	case Receipt:
		return AppendReceipt(b, c.Bytes, c.Datagrams, c.Clock)
	case Probed:
		return AppendProbed(b, c.Cookie, c.Group)
	case DirQuery:
		return AppendDirQuery(b, c.Index)
	case Directory:
		// The entries as parsed, after Total and Index.
		b = append(b, Magic, Version<<4|Directory)
		b = binary.BigEndian.AppendUint16(b, c.Total)
		b = binary.BigEndian.AppendUint16(b, c.Index)
		for _, e := range c.Entries {
			b = binary.BigEndian.AppendUint16(b, uint16(len(e.URL)))
			b = append(b, e.URL...)
			b = binary.BigEndian.AppendUint16(b, uint16(len(e.Addr)))
			b = append(b, e.Addr...)
		}
		return b
	}
	return Append(b, c.Type, c.Cookie)
}
