package compress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// rxStack is a receiving stack of one compress layer (cfg) whose top
// collects what comes up, with the given memory budget (nil: none).
func rxStack(t testing.TB, cfg Config, mem *stack.Budget) (*stack.Stack, *stack.Pool, *stacktest.Collector) {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := stack.NewPool()
	c := &stacktest.Collector{}
	s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1 << 20, Pool: pool, Memory: mem,
		Wire:    stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Deliver: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, pool, c
}

// allocated returns the bytes the heap grew by while f ran (TotalAlloc
// counts every allocation, freed or not) and how long f took.
func allocated(f func()) (uint64, time.Duration) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, took
}

// zstdFrameOf returns the packet (kind, length, frame) for a zstd frame
// whose header says fcs bytes of content, single segment, and whose blocks
// are the given raw block bytes (headers included).
func zstdFrameOf(declared, fcs uint64, blocks ...[]byte) []byte {
	b := binary.AppendUvarint([]byte{kindZstd}, declared)
	b = append(b, 0x28, 0xB5, 0x2F, 0xFD) // magic
	b = append(b, 0xa0)                   // FCS field of 4 bytes, single segment, no checksum
	b = binary.LittleEndian.AppendUint32(b, uint32(fcs))
	for _, bl := range blocks {
		b = append(b, bl...)
	}
	return b
}

// compressedBlock is a zstd compressed block of 2 content bytes (the
// fewest a compressed block may have): it may make up to 128 KiB as far as
// the block headers can tell, and makes nothing the decoder accepts.
func compressedBlock(last bool) []byte {
	h := uint32(2)<<3 | 2<<1
	if last {
		h |= 1
	}
	return []byte{byte(h), byte(h >> 8), byte(h >> 16), 0, 0}
}

// Packets that declare far more than their bytes can make are refused
// before anything is allocated, even under a max of 1 GiB: the review's
// 7-byte s2 packet declaring 1 GiB made the receiver allocate (and zero)
// 1 GiB and spend about 2 s of CPU on it.
func TestHostileLengthAllocatesLittle(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = MaxMax
	lying := make([][]byte, 8)
	for i := range lying {
		lying[i] = compressedBlock(i == len(lying)-1)
	}
	cases := []struct {
		name   string
		packet []byte
		reason string
		limit  uint64 // bytes one packet may cost
	}{
		// The review's packet: 1 GiB declared, one byte of operations.
		{"s2-7-bytes-1GiB", append(binary.AppendUvarint([]byte{kindS2}, 1<<30), 0), DropCorrupt, 1 << 10},
		// Within the ratio bound (3 bytes of operations may make 10 MB),
		// but the operations make 1 byte.
		{"s2-7-bytes-2MiB", append(binary.AppendUvarint([]byte{kindS2}, 2<<20-1), 0x00, 'x', 0x00), DropCorrupt, 1 << 10},
		// Small enough a claim to be decoded without the walk (s2Trusted):
		// it costs a buffer of 4 KiB, given back.
		{"s2-7-bytes-4KiB", append(binary.AppendUvarint([]byte{kindS2}, 4<<10), 0x00, 'x', 0x00, 0x00), DropCorrupt, 5 << 10},
		// Operations that would make 1 GiB of zeros, declaring 1 GiB less
		// one byte: the walk stops at the declared length.
		{"s2-walk-overruns", S2ZeroBlock(1<<30-1, 1<<30), DropCorrupt, 1 << 10},
		{"zstd-7-bytes-1GiB", append(binary.AppendUvarint([]byte{kindZstd}, 1<<30), 0x28), DropCorrupt, 1 << 10},
		// RLE blocks say exactly what they make: 1 GiB declared, 1 MiB made.
		{"zstd-rle-short", ZstdRLEFrame(1<<30, 1<<30, 1<<20), DropCorrupt, 1 << 10},
		// Compressed blocks could make up to 128 KiB each as far as their
		// headers tell: the frame of 8 such blocks may declare 1 MiB, and
		// costs a buffer that large before the decoder finds them empty.
		// That is the most a packet can make the receiver allocate: its
		// length times ZstdMaxRatio.
		{"zstd-compressed-blocks-lie", zstdFrameOf(1<<20, 1<<20, lying...), DropCorrupt, 1<<20 + 64<<10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, pool, got := rxStack(t, cfg, nil)
			if c.limit > uint64(len(c.packet))*ZstdMaxRatio+64<<10 {
				t.Fatalf("limit %d over the ratio bound", c.limit)
			}
			const rounds = 20
			pks := make([]*stack.Packet, rounds)
			for i := range pks {
				pks[i] = pool.FromBytes(0, c.packet)
			}
			alloc, took := allocated(func() {
				for _, pk := range pks {
					s.Up(pk)
				}
			})
			if n := len(got.Take()); n != 0 {
				t.Fatalf("%d delivered", n)
			}
			if d := drops(s); d[c.reason] != rounds {
				t.Fatalf("drops %v, want %d %q", d, rounds, c.reason)
			}
			t.Logf("%d-byte packet: %d bytes allocated per packet, %v", len(c.packet), alloc/rounds, took/rounds)
			if alloc > rounds*c.limit {
				t.Fatalf("allocated %d bytes for %d packets of %d bytes (limit %d each)", alloc, rounds, len(c.packet), c.limit)
			}
			// Before the bounds each of the 7-byte packets took about 2 s;
			// now microseconds. The limit leaves room for a slow machine.
			if took > 2*time.Second {
				t.Fatalf("%d packets took %v", rounds, took)
			}
		})
	}
}

// The ratio bounds are the formats' own limits: packets built to reach
// them decode, and one byte more declared is refused before decoding.
func TestRatioBoundsAreTheFormats(t *testing.T) {
	// s2: a literal, a copy, and repeats of the longest kind.
	s2Max := func(repeats int) []byte {
		ops := []byte{0x00, 0, 0x01, 1} // literal 0, copy of 4 at offset 1
		for range repeats {
			ops = append(ops, 7<<2|1, 0, 0xff, 0xff, 0xff) // repeat of 0xffffff+65536+4
		}
		return ops
	}
	for _, repeats := range []int{1, 4} {
		ops := s2Max(repeats)
		n := 1 + 4 + repeats*16842755
		if got, ok := s2Len(ops, n); !ok || got != n {
			t.Fatalf("%d repeats: s2Len %d %v, want %d", repeats, got, ok, n)
		}
		out, err := s2.Decode(nil, append(binary.AppendUvarint(nil, uint64(n)), ops...))
		if err != nil || len(out) != n {
			t.Fatalf("%d repeats: s2 decodes %d bytes: %v", repeats, len(out), err)
		}
		ratio := float64(n) / float64(len(ops))
		t.Logf("s2: %d bytes of operations make %d bytes (%.0f:1; bound %d:1)", len(ops), n, ratio, S2MaxRatio)
		if n > len(ops)*S2MaxRatio || repeats > 1 && ratio < 0.8*S2MaxRatio {
			t.Fatalf("ratio %.0f against the bound %d", ratio, S2MaxRatio)
		}
	}
	// zstd: RLE blocks of 128 KiB, 4 bytes each; the frame header and
	// its 9 bytes keep the whole frame under the bound.
	frame := ZstdRLEFrame(64<<20, 64<<20, 64<<20)
	_, k := binary.Uvarint(frame[1:])
	fl := len(frame) - 1 - k
	t.Logf("zstd: a frame of %d bytes makes %d (%.0f:1; bound %d:1)", fl, 64<<20, float64(64<<20)/float64(fl), ZstdMaxRatio)
	if 64<<20 > fl*ZstdMaxRatio || 64<<20 < fl*ZstdMaxRatio*99/100 {
		t.Fatalf("frame of %d bytes for 64 MiB against the bound %d", fl, ZstdMaxRatio)
	}
	cfg := DefaultConfig()
	cfg.Max = 64 << 20
	s, pool, got := rxStack(t, cfg, nil)
	s.Up(pool.FromBytes(0, frame))
	if g := got.Take(); len(g) != 1 || len(g[0].Bytes) != 64<<20 {
		t.Fatalf("frame at 32000:1 not delivered: drops %v", drops(s))
	}
	// One byte more than a packet's operations can make is refused
	// before decoding.
	ops := s2Max(1)
	over := append(binary.AppendUvarint([]byte{kindS2}, uint64(len(ops)*S2MaxRatio+1)), ops...)
	s.Up(pool.FromBytes(0, over))
	if len(got.Take()) != 0 || drops(s)[DropCorrupt] != 1 {
		t.Fatalf("declared over the s2 bound: drops %v", drops(s))
	}
}

// What the layer's own encoders make is never refused: 1 MiB of zeros and
// of repetitive text at every level, text, random data and 16 MiB of zeros
// and of repetitive text at every encoder speed, and 64 MiB of zeros at the
// densest level of each algorithm make the round trip, within the ratio
// bounds. The log shows the best ratios reached.
func TestOwnEncoderNeverRefused(t *testing.T) {
	rep := func(n int) []byte { return bytes.Repeat([]byte("abcdefgh"), n/8) }
	zeros := func(n int) []byte { return make([]byte, n) }
	type payload struct {
		name string
		data []byte
	}
	// At every level: 1 MiB of zeros and of repetitive text.
	small := []payload{{"zeros-1MiB", zeros(1 << 20)}, {"repeat-1MiB", rep(1 << 20)}}
	// At each encoder speed: more and larger payloads, compressible and
	// not.
	large := []payload{
		{"text-1MiB", TextLike(1<<20, 9)},
		{"random-1MiB", Random(1<<20, 9)},
		{"zeros-16MiB", zeros(16 << 20)},
		{"repeat-16MiB", rep(16 << 20)},
	}
	// 64 MiB of zeros, the densest payload, at the level of each algorithm
	// that compresses it most.
	largest := payload{"zeros-64MiB", zeros(64 << 20)}
	var levels []struct {
		a     Algo
		level int
	}
	for l := 1; l <= MaxS2Level; l++ {
		levels = append(levels, struct {
			a     Algo
			level int
		}{S2, l})
	}
	for l := 1; l <= MaxZstdLevel; l++ {
		levels = append(levels, struct {
			a     Algo
			level int
		}{Zstd, l})
	}
	best := map[Algo]float64{}
	for _, lv := range levels {
		cfg := config(lv.a, lv.level)
		cfg.Max = 64 << 20
		a, _ := New(cfg)
		b, _ := New(cfg)
		p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{MTU: 65 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ps := slices.Clone(small)
		// Once per encoder speed: s2's three, zstd's four (levels 1, 3, 6
		// and 10 start them).
		if lv.a == S2 || lv.level == 1 || lv.level == 3 || lv.level == 6 || lv.level == 10 {
			ps = append(ps, large...)
		}
		if !testing.Short() && (lv.a == S2 && lv.level == 1 || lv.a == Zstd && lv.level == 6) {
			ps = append(ps, largest)
		}
		for _, pl := range ps {
			wire, got := send(t, p, pl.data, stack.Meta{})
			if len(got) != 1 || !bytes.Equal(got[0].Bytes, pl.data) {
				t.Fatalf("%v level %d, %s: not delivered (drops %v)", lv.a, lv.level, pl.name, drops(p.B))
			}
			if wire[0] == kindStored {
				continue
			}
			_, k := binary.Uvarint(wire[1:])
			body := len(wire) - 1 - k // s2: the operations; zstd: the frame
			r := float64(len(pl.data)) / float64(body)
			best[lv.a] = max(best[lv.a], r)
			bound := float64(S2MaxRatio)
			if lv.a == Zstd {
				bound = ZstdMaxRatio
			}
			if r > bound {
				t.Fatalf("%v level %d, %s: %.0f:1 exceeds the bound %.0f:1 and yet decoded", lv.a, lv.level, pl.name, r, bound)
			}
		}
		p.Close()
	}
	for _, a := range algos {
		t.Logf("%v: best ratio %.0f:1", a, best[a])
	}
}

// A decoded packet is reserved from the channel's budget while the layer
// holds it: a budget too small for it refuses it (dropped, "no-memory",
// nothing allocated), one just large enough lets it through, and nothing
// stays reserved afterwards. Stored payloads are not decoded and not
// charged.
func TestDecodeReservesBudget(t *testing.T) {
	for _, a := range algos {
		t.Run(a.String(), func(t *testing.T) {
			in := TextLike(512<<10, 4)
			p, _, _ := pair(t, config(a, 1))
			if err := p.Send(in, stack.Meta{}); err != nil {
				t.Fatal(err)
			}
			wire := p.Link.Queued(stacktest.AtoB)[0]
			p.Link.Flush()
			p.GotB.Take()

			mem := stack.NewBudget(int64(len(in)) - 1)
			s, pool, got := rxStack(t, DefaultConfig(), mem)
			pk := pool.FromBytes(0, wire)
			alloc, _ := allocated(func() { s.Up(pk) })
			if len(got.Take()) != 0 || drops(s)[DropNoMemory] != 1 || mem.Denied() != 1 || mem.Used() != 0 {
				t.Fatalf("refused budget: drops %v, denied %d, used %d", drops(s), mem.Denied(), mem.Used())
			}
			if alloc > 64<<10 {
				t.Fatalf("refused packet allocated %d bytes", alloc)
			}

			mem = stack.NewBudget(int64(len(in)))
			var during int64 = -1
			l, _ := New(DefaultConfig())
			pool = stack.NewPool()
			s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1 << 20, Pool: pool, Memory: mem,
				Wire: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
				Deliver: stack.HandlerFunc(func(q *stack.Packet) error {
					if bytes.Equal(q.Bytes(), in) {
						during = mem.Used()
					}
					q.Release()
					return nil
				})})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Up(pool.FromBytes(0, wire))
			// Handed on, the output is no longer the layer's to hold.
			if during != 0 || mem.Used() != 0 || mem.Denied() != 0 {
				t.Fatalf("budget of exactly the decoded length: delivered with %d reserved, %d after, %d denied", during, mem.Used(), mem.Denied())
			}
			// A stored payload costs no reservation, even over the budget.
			s.Up(pool.FromBytes(0, append([]byte{kindStored}, in...)))
			s.Up(pool.FromBytes(0, append([]byte{kindStored}, make([]byte, len(in)+1)...)))
			if mem.Denied() != 0 || pool.Outstanding() != 0 {
				t.Fatalf("stored payloads: %d denied, %d outstanding", mem.Denied(), pool.Outstanding())
			}
		})
	}
}

// s2Len agrees with s2's decoder on what the encoder makes, on the crafted
// bombs and on their truncations.
func TestS2LenMatchesDecoder(t *testing.T) {
	var blocks [][]byte
	for _, in := range [][]byte{nil, {1}, TextLike(100, 1), TextLike(70000, 2), make([]byte, 300000), Random(5000, 3),
		bytes.Repeat([]byte("0123456789"), 10000)} {
		blocks = append(blocks, s2.Encode(nil, in), s2.EncodeBetter(nil, in), s2.EncodeBest(nil, in))
	}
	blocks = append(blocks, S2ZeroBlock(1<<20, 1<<20)[1:], S2ZeroBlock(1000, 1<<20)[1:], S2ZeroBlock(1<<20, 1000)[1:])
	for i, b := range blocks {
		for cut := range len(b) + 1 {
			if cut < 40 || cut > len(b)-40 { // truncations near both ends
				checkS2Len(t, fmt.Sprintf("block %d cut to %d of %d", i, cut, len(b)), b[:cut])
			}
		}
	}
}

// checkS2Len fails t if s2Len and s2.Decode disagree about block (varint
// included).
func checkS2Len(t testing.TB, what string, block []byte) {
	t.Helper()
	size, k := binary.Uvarint(block)
	if k <= 0 || k > binary.MaxVarintLen32 || size > 1<<26 {
		return // refused by the layer before s2Len, as by s2's decoder
	}
	n, ok := s2Len(block[k:], int(size))
	out, err := s2.Decode(nil, block)
	switch {
	case err == nil && (!ok || n != len(out)):
		t.Fatalf("%s: decodes to %d bytes, s2Len says %d %v", what, len(out), n, ok)
	case err != nil && ok && n == int(size):
		t.Fatalf("%s: s2Len accepts %d bytes, the decoder fails: %v", what, n, err)
	}
}

// FuzzS2Len checks s2Len against s2's decoder: it accepts exactly the
// blocks that decode to their declared length.
func FuzzS2Len(f *testing.F) {
	for _, in := range [][]byte{TextLike(300, 1), make([]byte, 1000), Random(100, 2), bytes.Repeat([]byte("ab"), 500)} {
		f.Add(s2.Encode(nil, in))
		f.Add(s2.EncodeBest(nil, in))
	}
	f.Add(S2ZeroBlock(5000, 5000)[1:])
	f.Add(S2ZeroBlock(100, 5000)[1:])
	f.Fuzz(func(t *testing.T, block []byte) { checkS2Len(t, fmt.Sprintf("%x", block), block) })
}

// FuzzCheckFrame checks the zstd frame walk against an unbounded decoder:
// a frame the walk refuses never decodes to its content size, and a frame
// it passes is within the ratio bound.
func FuzzCheckFrame(f *testing.F) {
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedBestCompression} {
		for _, in := range [][]byte{{}, TextLike(300, 1), make([]byte, 200000), Random(100, 2)} {
			e := getEncoder(level)
			f.Add(e.EncodeAll(in, nil))
			putEncoder(level, e)
		}
	}
	f.Add(ZstdRLEFrame(300000, 300000, 300000)[1+3:])
	f.Add(zstdFrameOf(1000, 1000, compressedBlock(false), compressedBlock(true))[1+2:])
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(d.Close)
	f.Fuzz(func(t *testing.T, in []byte) {
		var h zstd.Header
		if err := h.Decode(in); err != nil || h.Skippable || !h.HasFCS || h.DictionaryID != 0 || h.FrameContentSize > 1<<22 {
			return
		}
		if checkFrame(in, &h) == "" && h.FrameContentSize > uint64(len(in))*ZstdMaxRatio {
			t.Fatalf("frame of %d bytes passes for %d bytes of content", len(in), h.FrameContentSize)
		}
		// The walk on the first frame alone: whatever follows it is
		// refused by design (the layer sends one frame a packet).
		n, reason := frameLen(in, &h)
		frame := in
		if reason == "" {
			frame = in[:n]
			if r := checkFrame(frame, &h); r != "" {
				t.Fatalf("frameLen passes %d bytes, checkFrame refuses them (%s)", n, r)
			}
		}
		out, err := d.DecodeAll(frame, nil)
		if reason != "" && err == nil && uint64(len(out)) == h.FrameContentSize {
			t.Fatalf("refused (%s) a frame that decodes to its %d bytes", reason, len(out))
		}
	})
}
