package sign_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// FuzzReceive feeds a receiver's sign layer a sequence of packets cut from
// the fuzz input (a length byte, then that many bytes; a zero length
// advances the clock) on a channel, for a flow of the member bound to a
// trusted key. The seeds are genuine SIGNED, DATA and SIG packets of that
// member and key (header version 2, with the member salt), but signed for
// another stream, so nothing can ever verify; and packets of header
// version 1. The layer must never panic, never deliver, stay within its
// bounds, and leak nothing when closed.
func FuzzReceive(f *testing.F) {
	id := ident(f, 1)
	tr := trust(f, id)
	member := keys.MemberID(id.Public(), testSalt)
	other := stack.Flow{Local: member, Remote: member, ID: 1, Instance: 1}
	for _, batch := range []int{1, 4} {
		c := bound(config(id, tr, batch), onChannel, testSalt)
		src, err := stacktest.NewPair(nil, []stack.Layer{mustNew(f, c)},
			[]stack.Layer{mustNew(f, c)}, stacktest.PairConfig{Flow: other})
		if err != nil {
			f.Fatal(err)
		}
		for i := range 4 {
			src.Send(payload(20+i, i), stack.Meta{})
		}
		var seed bytes.Buffer
		for _, pk := range src.Link.Queued(stacktest.AtoB) {
			seed.WriteByte(byte(len(pk)))
			seed.Write(pk)
		}
		seed.WriteByte(0)
		f.Add(seed.Bytes())
		src.Close()
	}
	f.Add([]byte{2, 0x62, 0x05, 0, 3, 0x63, 1, 2})
	f.Add([]byte{1, 0x64, 1, 0x61, 0})
	f.Add([]byte{2, 0x52, 0x05, 0, 3, 0x53, 1, 2}) // version 1
	f.Add([]byte{1, 0x54, 1, 0x51, 0})             // version 1

	f.Fuzz(func(t *testing.T, in []byte) {
		c := bound(config(id, tr, 4), onChannel, testSalt)
		c.Hold, c.Packets, c.Timeout = 64<<10, 8, 100*time.Millisecond
		mem := stack.NewBudget(48 << 10)
		rx := mustNew(t, c)
		p, err := stacktest.NewPair(nil, []stack.Layer{mustNew(t, c)}, []stack.Layer{rx},
			stacktest.PairConfig{Flow: stack.Flow{Local: member, Remote: member, ID: 2, Instance: 1}, Memory: mem})
		if err != nil {
			t.Fatal(err)
		}
		for len(in) > 0 {
			n := int(in[0])
			in = in[1:]
			if n == 0 {
				p.Clock.Advance(50 * time.Millisecond)
				continue
			}
			n = min(n, len(in))
			p.B.Up(p.Pool.FromBytes(0, in[:n]))
			in = in[n:]
			if st := rx.State(); st.Held > c.Packets || st.HeldBytes > c.Hold || st.Remembered > c.Packets || mem.Used() > 48<<10 {
				t.Fatalf("over bounds: %+v, shared %d", st, mem.Used())
			}
			if p.GotB.Len() != 0 {
				t.Fatal("delivered a packet no trusted key signed for this flow")
			}
		}
		p.Clock.Advance(time.Second)
		if st := rx.State(); st.Held != 0 || st.Remembered != 0 {
			t.Fatalf("after the timeout: %+v", st)
		}
		p.Close()
		if mem.Used() != 0 || p.Pool.Outstanding() != 0 {
			t.Fatalf("after close: memory %d, packets %d", mem.Used(), p.Pool.Outstanding())
		}
	})
}
