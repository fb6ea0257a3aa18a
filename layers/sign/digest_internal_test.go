package sign

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// A packet's digest is SHA-256 of its canonical relay metadata then its
// payload, cut to 16 bytes, and computing it allocates nothing.
func TestDigestCoversRelayMetadata(t *testing.T) {
	var g digester
	payload := bytes.Repeat([]byte("p"), 1000)
	m := stack.Meta{Media: posting.Video, Flags: stack.FlagDroppable | stack.FlagFrameEnd | stack.FlagLeft,
		Tag: &stack.Tag{Key: string(bytes.Repeat([]byte("k"), posting.MaxKeyLen)), Frame: 1 << 62}, Left: 1<<32 - 1,
		Deadline: time.Unix(1, 0), Seq: 9, Peer: 3}
	want := sha256.Sum256(append(stack.AppendRelay(nil, &m), payload...))
	if d := g.digest(&m, payload); !bytes.Equal(d[:], want[:DigestLen]) {
		t.Fatalf("digest %x, want %x", d, want[:DigestLen])
	}
	// Fields that are not relay metadata are not covered.
	m2 := m
	m2.Deadline, m2.Seq, m2.Peer = time.Time{}, 0, 0
	m2.Flags |= stack.FlagSealed | stack.FlagRetransmit
	if g.digest(&m, payload) != g.digest(&m2, payload) {
		t.Fatal("the digest covers more than the relay metadata")
	}
	if n := testing.AllocsPerRun(100, func() { g.digest(&m, payload) }); n != 0 {
		t.Fatalf("digest allocates %v times per packet", n)
	}
}

// The signed message is the v3 domain, the channel's hash, then the
// member id, the member salt, the stream, the fingerprint, the instance,
// the first sequence number and the count (fixed size, big-endian), then
// the digests.
func TestMessageBindsChannel(t *testing.T) {
	ch := channelHash("udp://239.1.2.3:5000")
	d := bytes.Repeat([]byte{0xdd}, DigestLen)
	msg := appendMessage(nil, &ch, flowID{member: 1, stream: 2}, 9, 3, 4, 5, 1, d)
	if len(msg) != msgPrefixLen+DigestLen {
		t.Fatalf("message of %d bytes, want %d", len(msg), msgPrefixLen+DigestLen)
	}
	sum := sha256.Sum256([]byte("udp://239.1.2.3:5000"))
	want := append([]byte("rwanda/sign/v3\x00"), sum[:]...)
	want = binary.BigEndian.AppendUint64(want, 1) // member
	want = binary.BigEndian.AppendUint64(want, 9) // salt
	want = binary.BigEndian.AppendUint32(want, 2) // stream
	want = binary.BigEndian.AppendUint64(want, 3) // fingerprint
	want = binary.BigEndian.AppendUint64(want, 4) // instance
	want = binary.BigEndian.AppendUint64(want, 5) // first
	want = binary.BigEndian.AppendUint32(want, 1) // count
	want = append(want, d...)
	if !bytes.Equal(msg, want) {
		t.Fatalf("message\n%x, want\n%x", msg, want)
	}
	empty := channelHash("")
	if other := appendMessage(nil, &empty, flowID{member: 1, stream: 2}, 9, 3, 4, 5, 1, d); bytes.Equal(other, msg) {
		t.Fatal("the channel identity does not change the message")
	}
	if other := appendMessage(nil, &ch, flowID{member: 1, stream: 2}, 8, 3, 4, 5, 1, d); bytes.Equal(other, msg) {
		t.Fatal("the member salt does not change the message")
	}
}

// BenchmarkDigest compares the per-packet digest as version 1 computed it
// (SHA-256 of the payload alone) with the current one (relay metadata,
// here the longest, then the payload, through the layer's reused state).
func BenchmarkDigest(b *testing.B) {
	m := stack.Meta{Media: posting.Video, Flags: stack.FlagDroppable | stack.FlagFrameEnd | stack.FlagLeft,
		Tag: &stack.Tag{Key: string(bytes.Repeat([]byte("k"), posting.MaxKeyLen)), Frame: 1 << 62}, Left: 1000}
	for _, n := range []int{100, 1400, 64 << 10} {
		payload := bytes.Repeat([]byte("p"), n)
		b.Run(fmt.Sprintf("%dB/v1-payload", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var d [DigestLen]byte
			for b.Loop() {
				h := sha256.Sum256(payload)
				copy(d[:], h[:])
			}
		})
		b.Run(fmt.Sprintf("%dB/v2-relay+payload", n), func(b *testing.B) {
			var g digester
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				g.digest(&m, payload)
			}
		})
	}
}
