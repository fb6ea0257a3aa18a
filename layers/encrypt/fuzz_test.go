package encrypt_test

import (
	"bytes"
	"testing"

	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// FuzzReceive feeds arbitrary packets to a receiving encrypt layer, after a
// few authentic ones: nothing but the authentic ones may come out, and
// nothing may panic or leak.
func FuzzReceive(f *testing.F) {
	r := ring(f, 1, 5)
	p := pair(f, r, r, "aes128-gcm")
	// What the seeds carry: nothing else can come out.
	authentic := map[string]bool{"": true, "x": true, "hello, world": true, "ack": true}
	for _, m := range []string{"", "x", "hello, world"} {
		send(f, p, []byte(m))
	}
	for _, b := range p.Link.Queued(stacktest.AtoB) {
		f.Add(b, false)
		f.Add(b, true)
	}
	fb := p.B.NewPacket(3)
	fb.Append([]byte("ack"))
	p.B.Down(fb)
	for _, b := range p.Link.Queued(stacktest.BtoA) {
		f.Add(b, true)
	}
	f.Add([]byte{0x10, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1}, false)
	f.Fuzz(func(t *testing.T, b []byte, atSender bool) {
		p := pair(t, r, r, "aes128-gcm")
		st, got := p.B, p.GotB
		if atSender {
			st, got = p.A, p.GotA
		}
		st.Up(p.Pool.FromBytes(0, b))
		st.Up(p.Pool.FromBytes(0, b)) // and its replay
		// Only the seeds' authentic packets (sealed under the same ring and
		// flow) may pass, and only once: the second copy is a replay.
		d := got.Take()
		if len(d) > 1 || len(d) == 1 && !authentic[string(d[0].Bytes)] {
			t.Fatalf("%d forged or replayed packets delivered: %x", len(d), b)
		}
		send(t, p, bytes.Repeat([]byte("k"), 10))
		p.Link.Flush()
		if p.GotB.Len() != 1 {
			t.Fatal("the layer stopped working after garbage")
		}
	})
}
