package floor

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// FuzzCore feeds a member arbitrary messages (any kind, sender, epoch,
// token, clock readings, lease, state) at arbitrary times, as a hostile or
// broken member could, and checks that it neither panics nor spins (after
// Tick nothing is due until later), and that its postings round-trip.
func FuzzCore(f *testing.F) {
	f.Add([]byte{7, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(make([]byte, 96))
	f.Fuzz(func(t *testing.T, data []byte) {
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		c, err := NewCore(Config{Name: "a", Voters: []string{"a", "b", "c"}, Policy: Policy(len(data) % 4), Mode: Mode(len(data) / 4 % 2)}, 1, t0)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		members := []Member{{"a", 1}, {"b", 2}, {"c", 3}, {"a", 9}, {}}
		for len(data) >= 32 {
			b := data[:32]
			data = data[32:]
			u := func(i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }
			now = now.Add(time.Duration(b[2]) * time.Millisecond)
			switch b[0] % 16 {
			case 13:
				c.Request(now, int(int8(b[1])))
			case 14:
				c.Release(now)
			case 15:
				c.Tick(now)
			default:
				m := Message{Kind: Kind(b[0] % 13), From: members[b[1]%5], To: members[b[3]%5],
					Epoch: u(4) % 64, Token: u(8), TS: int64(u(16)), Echo: int64(u(24)), Lease: int64(u(16)) % int64(time.Second),
					Next: members[b[1]/5%5], No: b[3]&0x80 != 0, Priority: int(int8(b[3]))}
				if b[1]&0x80 != 0 {
					m.State = &State{Epoch: u(4) % 64, Version: uint64(b[3]), Holder: members[b[3]%5], Token: u(8),
						Queue: []Entry{{Member: members[b[2]%5], Ticket: uint64(b[2])}}}
				}
				c.Receive(now, &m)
				p := posting.New(m)
				enc, err := p.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				q, err := posting.Decode(enc)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := q.Body.(Message); !ok {
					t.Fatalf("decoded %T", q.Body)
				}
			}
			c.Tick(now)
			c.Outbox()
			c.Events()
			if d := c.Deadline(); !d.After(now) {
				t.Fatalf("still due at %v after Tick (deadline %v): it would spin", now.Sub(t0), d.Sub(t0))
			}
		}
	})
}
