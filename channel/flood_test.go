package channel

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFloodMemoryBounded floods a channel (through its real receive path)
// with what a hostile or broken network can send: thousands of members,
// each announcing many streams, sending data for streams never announced,
// and fragments of parcels that never complete (bogus fragment headers
// claiming 64 MiB parcels). The heap after the flood stays under the
// configured caps plus a fixed allowance, and every refusal is counted.
func TestFloodMemoryBounded(t *testing.T) {
	const (
		memCap  = 4 << 20
		flows   = 64
		peers   = 256
		members = 3000
	)
	c := open(t, memURL(t), WithLimits(flows, peers), WithMemory(memCap))
	from := transport.IPAddr(netip.MustParseAddrPort("127.0.0.1:9"))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	payload := make([]byte, 1200)
	n := 0
	feed := func(d []byte) { // as the reader goroutine does: flush the answers after each batch
		c.receive(d, from)
		if n++; n%64 == 0 {
			c.out.flushNow(true)
		}
	}
	before := heapAfterGC()

	for m := range members {
		sender := uint64(m+1) << 16
		feed(appendHello(appendDgramHeader(nil, sender), 0, time.Now()))
		for s := uint32(1); s <= 8; s++ {
			feed(appendAnnounce(appendDgramHeader(nil, sender), announcement{stream: s, name: "s" + strconv.Itoa(int(s)), qos: "frag"}))
		}
		for k := range 6 {
			// A fragment of a parcel of 65535 fragments of 1200 bytes.
			var h [11]byte
			h[0] = 1
			binary.BigEndian.PutUint32(h[1:], rng.Uint32())
			binary.BigEndian.PutUint16(h[5:], uint16(rng.IntN(65534)))
			binary.BigEndian.PutUint16(h[7:], 65535)
			binary.BigEndian.PutUint16(h[9:], uint16(len(payload)))
			frag := append(h[:], payload...)
			stream := uint32(1 + k%8)
			if k%3 == 2 {
				stream = 100 + uint32(k) // never announced: held, then dropped
			}
			d := appendDataHeader(appendDgramHeader(nil, sender), 0, stream, &stack.Meta{}, len(frag))
			feed(append(d, frag...))
		}
	}
	after := heapAfterGC()
	st := c.Stats()
	growth := int64(after) - int64(before)
	// The caps: memCap of buffers (reassembly and held frames), peers
	// members with at most 1024 streams each but 4×flows in all, flows
	// stacks. The allowance for the bookkeeping is generous but fixed: the
	// flood itself is 3000 members × 7 KiB of data.
	const allowance = 4 << 20
	t.Logf("heap growth %d KiB; peers %d, flows %d, drops %v", growth>>10, len(st.Peers), len(st.Flows), st.Drops)
	if growth > memCap+allowance {
		t.Fatalf("heap grew by %d KiB under the flood, cap %d KiB + allowance %d KiB", growth>>10, memCap>>10, allowance>>10)
	}
	if len(st.Peers) > peers || len(st.Flows) > flows {
		t.Fatalf("%d peers (cap %d), %d flows (cap %d)", len(st.Peers), peers, len(st.Flows), flows)
	}
	for _, reason := range []string{"evicted-peer", "too-many-streams"} {
		if st.Drops[reason] == 0 {
			t.Errorf("no %q drops counted: %v", reason, st.Drops)
		}
	}
	if c.mem.Used() > memCap {
		t.Fatalf("budget used %d > %d", c.mem.Used(), memCap)
	}
}

// TestKeyedFloodCostsNoMemory: forged datagrams from thousands of made-up
// members are dropped before anything is kept for them.
func TestKeyedFloodCostsNoMemory(t *testing.T) {
	c := open(t, memURL(t), WithKey(testKey))
	from := transport.IPAddr(netip.MustParseAddrPort("127.0.0.1:9"))
	rng := rand.New(rand.NewPCG(5, 5))
	before := heapAfterGC()
	const n = 20000
	for i := range n {
		d := appendKeyedHeader(nil, uint64(i+1))
		d = appendAnnounce(d, announcement{stream: 1, name: "x", qos: "frag/encrypt"})
		d = append(d, 1)
		d = binary.BigEndian.AppendUint64(d, uint64(i+1))
		for range 16 {
			d = append(d, byte(rng.Uint32()))
		}
		c.receive(d, from)
	}
	growth := int64(heapAfterGC()) - int64(before)
	st := c.Stats()
	if st.Drops["unauthenticated"] != n || len(st.Peers) != 0 {
		t.Fatalf("%d forged datagrams: %d dropped, %d peers kept", n, st.Drops["unauthenticated"], len(st.Peers))
	}
	if len(c.auth.peers) != 0 || growth > 1<<20 {
		t.Fatalf("forgeries left %d auth entries, heap grew %d KiB", len(c.auth.peers), growth>>10)
	}
}
