package monitor

import (
	"bytes"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

func FuzzDecodeReport(f *testing.F) {
	f.Add(appendReport(nil, &report{highest: 99, expected: 97, lost: 4, lossPPM: 15625, jitter: 1200, rate: 125000, mpps: 100000, echo: 7, hold: 1e6}))
	f.Add(appendReport(nil, &report{}))
	f.Add([]byte{kindReport, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r report
		if decodeReport(b, &r) != nil {
			return
		}
		if r.lost > r.expected || r.lossPPM > 1e6 {
			t.Fatalf("accepted %+v", r)
		}
		var r2 report
		if err := decodeReport(appendReport(nil, &r), &r2); err != nil || r2 != r {
			t.Fatalf("round trip %+v → %+v (%v)", r, r2, err)
		}
	})
}

// FuzzReceive feeds arbitrary packets, cut from the fuzz input, up a
// sender's and a receiver's monitor: never a panic, never more receivers
// than the bound, never a leaked packet.
func FuzzReceive(f *testing.F) {
	var seed []byte
	for i, m := range [][]byte{
		appendData(nil, 0, 1000), appendData(nil, 1, 2000), appendData(nil, 5, 3000), appendData(nil, 3, 2500),
		appendData(nil, 1<<40, 0), appendData(nil, 1<<40+1, 0), {kindPass, 'x'}, {kindPass},
		appendReport(nil, &report{highest: 5, expected: 3, lost: 1, lossPPM: 333333, jitter: 12, rate: 100, echo: 1000, hold: 5}),
		appendReport(nil, &report{echo: 1 << 31, hold: 1 << 62}), {kindData}, {kindReport}, {'Z'},
	} {
		seed = append(seed, byte(len(m)+i%2*128))
		seed = append(seed, m...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := DefaultConfig()
		cfg.K, cfg.Receivers, cfg.Report = 8, 4, 10*time.Millisecond
		for _, role := range []stack.Role{stack.Sender, stack.Receiver} {
			l, _ := New(cfg)
			s, clock, pool := senderStack(t, l, role)
			rest := in
			for len(rest) > 0 {
				n := min(int(rest[0]&127), len(rest)-1)
				p := pool.FromBytes(0, rest[1:1+n])
				p.Meta.Peer = uint64(rest[0] % 7)
				if rest[0]&128 != 0 {
					p.Meta.Flags |= stack.FlagOverheard
				}
				s.Up(p)
				if k := len(l.snd.peers); k > cfg.Receivers {
					t.Fatalf("%d receivers kept", k)
				}
				rest = rest[1+n:]
				clock.Advance(3 * time.Millisecond)
				if role == stack.Sender && len(rest)%5 == 0 {
					s.Down(s.NewPacket(0))
				}
			}
			r := l.Report()
			if r.Loss < 0 || r.Loss > 1 || r.Lost > r.Expected && role == stack.Receiver {
				t.Fatalf("report %+v", r)
			}
			clock.Advance(time.Minute)
			s.Close()
			if n := pool.Outstanding(); n != 0 {
				t.Fatalf("%d packets leaked", n)
			}
		}
	})
}

// TestDataHeaderRoundTrip: a data header decodes to what was stamped, for
// numbers of every length.
func TestDataHeaderRoundTrip(t *testing.T) {
	for _, seq := range []uint64{0, 127, 128, 1 << 20, 1<<63 + 5, ^uint64(0)} {
		b := appendData(nil, seq, 0xdeadbeef)
		if len(b) > MaxDataHeader {
			t.Fatalf("header of %d bytes", len(b))
		}
		s, ts, n, err := decodeData(append(b, "payload"...))
		if err != nil || s != seq || ts != 0xdeadbeef || n != len(b) {
			t.Fatalf("seq %d: %d %x %d %v", seq, s, ts, n, err)
		}
		if _, _, _, err := decodeData(b[:len(b)-1]); err == nil {
			t.Fatal("truncated header accepted")
		}
	}
	if r := appendReport(nil, &report{highest: ^uint64(0), expected: ^uint64(0), lost: ^uint64(0), lossPPM: ^uint64(0), jitter: ^uint64(0),
		rate: ^uint64(0), mpps: ^uint64(0), hold: ^uint64(0)}); len(r) != MaxReportLen || bytes.Count(r, []byte{0xff}) == 0 {
		t.Fatalf("longest report %d bytes, MaxReportLen %d", len(r), MaxReportLen)
	}
}
