package udpio

import "net/netip"

// Message is one receive slot for [Conn.ReadBatch].
type Message struct {
	// Buf is the caller-provided buffer. Give 64 KiB so that a GRO batch
	// fits; the kernel truncates what does not fit.
	Buf []byte
	// N is the number of bytes received into Buf.
	N int
	// Seg is the GRO segment size: Buf[:N] holds consecutive datagrams of
	// Seg bytes each (the last one may be shorter). 0 means Buf[:N] is one
	// datagram; always 0 with the portable implementation.
	Seg int
	// From is the sender. IPv4 senders are 4-byte addresses (never
	// IPv4-mapped IPv6); link-local IPv6 senders carry their zone.
	From netip.AddrPort
	// IfIndex is the index of the interface the datagram arrived on, 0 when
	// the OS does not report it (see the package documentation).
	IfIndex int
	// Truncated reports that the datagram (or GRO batch) was longer than
	// Buf and the excess was discarded by the kernel (MSG_TRUNC). A cut-off
	// GRO batch is trimmed to its whole datagrams; a single datagram is
	// returned cut off (N == len(Buf)).
	Truncated bool
}

// Datagrams calls yield for each datagram in m, splitting a GRO batch, until
// yield returns false. It has the shape of an iter.Seq[[]byte], so
//
//	for d := range m.Datagrams { ... }
//
// works. The yielded slices alias m.Buf and have their capacity capped at
// their length. A message with N == 0 yields one empty datagram.
func (m *Message) Datagrams(yield func([]byte) bool) {
	b := m.Buf[:m.N]
	seg := m.Seg
	if seg <= 0 || len(b) <= seg {
		yield(b[:len(b):len(b)])
		return
	}
	for len(b) > 0 {
		n := min(seg, len(b))
		if !yield(b[:n:n]) {
			return
		}
		b = b[n:]
	}
}
