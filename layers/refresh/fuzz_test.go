package refresh

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// FuzzReceive feeds a refresh receiver packets cut from the fuzz input: it
// never panics, delivers each parcel id at most once per turn of the
// 32-bit id space, and every packet is either delivered or dropped
// (nothing leaks).
func FuzzReceive(f *testing.F) {
	var seed []byte
	for i, kind := range []byte{kindOriginal, kindRefresh, kindRefresh, kindOriginal} {
		pk := []byte{kind, 0, 0, 0, 0, 'x'}
		binary.BigEndian.PutUint32(pk[1:], uint32(i%2))
		seed = append(append(seed, byte(len(pk))), pk...)
	}
	f.Add(seed)
	f.Add([]byte{5, 9, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, _ := New(Config{Every: time.Hour, Keep: 64, Bytes: 1 << 20, Seed: 1})
		b, _ := New(Config{Every: time.Hour, Keep: 64, Bytes: 1 << 20, Seed: 2})
		p, err := stacktest.NewPair(nil, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{})
		if err != nil {
			t.Fatal(err)
		}
		// Parcel ids are 32-bit serial numbers: each is delivered at most
		// once per turn of the id space. The ids of well-formed packets,
		// unwrapped (as serial arithmetic reads them) against the newest
		// before them, count the parcels that may be delivered.
		ids := make(map[uint64]bool)
		var top uint64
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			pk := in[1 : 1+n]
			if len(pk) >= HeaderLen && pk[0] <= kindRefresh {
				id := binary.BigEndian.Uint32(pk[1:])
				ext := uint64(id) + 1<<32
				if len(ids) > 0 {
					ext = top + uint64(int64(int32(id-uint32(top))))
				}
				top = max(top, ext)
				ids[ext] = true
			}
			p.B.Up(p.Pool.FromBytes(0, pk))
			in = in[1+n:]
		}
		if got := len(p.GotB.Take()); got > len(ids) {
			t.Fatalf("%d deliveries of %d parcel ids", got, len(ids))
		}
		p.Close()
		if p.Pool.Outstanding() != 0 {
			t.Fatalf("%d packets outstanding after close", p.Pool.Outstanding())
		}
	})
}
