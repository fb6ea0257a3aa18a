package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

var algos = []Algo{S2, Zstd}

func config(a Algo, level int) Config {
	c := DefaultConfig()
	c.Algo, c.Level = a, level
	return c
}

// send pushes payload down A, and returns the bytes that went on the wire
// and what came up B.
func send(t *testing.T, p *stacktest.Pair, payload []byte, meta stack.Meta) (wire []byte, got []stacktest.Delivered) {
	t.Helper()
	if err := p.Send(payload, meta); err != nil {
		t.Fatalf("send %d bytes: %v", len(payload), err)
	}
	q := p.Link.Queued(stacktest.AtoB)
	if len(q) != 1 {
		t.Fatalf("%d packets on the wire for one payload", len(q))
	}
	p.Link.Flush()
	return q[0], p.GotB.Take()
}

func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 63, 64, 100, 1000, 1500, 4096, 64 << 10, 1 << 20}
	data := map[string]func(n int) []byte{
		"text":   func(n int) []byte { return TextLike(n, uint64(n)) },
		"random": func(n int) []byte { return Random(n, uint64(n)) },
		"zeros":  func(n int) []byte { return make([]byte, n) },
	}
	for _, a := range algos {
		for _, level := range []int{1, 2, 3, 7, 11} {
			if a == S2 && level > MaxS2Level {
				continue
			}
			t.Run(fmt.Sprintf("%v-%d", a, level), func(t *testing.T) {
				p, _, _ := pair(t, config(a, level))
				for kind, gen := range data {
					for _, n := range sizes {
						in := gen(n)
						wire, got := send(t, p, in, stack.Meta{})
						if len(got) != 1 || !bytes.Equal(got[0].Bytes, in) {
							t.Fatalf("%s %d bytes: delivered %d packets", kind, n, len(got))
						}
						if len(wire) > n+HeaderLen {
							t.Fatalf("%s %d bytes: %d on the wire, more than the overhead allows", kind, n, len(wire))
						}
						stored := wire[0] == kindStored
						switch {
						case n < 64 && !stored:
							t.Fatalf("%s %d bytes under min were compressed", kind, n)
						case kind == "random" && !stored:
							t.Fatalf("random %d bytes were sent compressed (%d bytes)", n, len(wire))
						case kind != "random" && n >= 1000 && wire[0] != byte(a):
							t.Fatalf("%s %d bytes sent with kind %d, want %d", kind, n, wire[0], a)
						case stored && len(wire) != n+1:
							t.Fatalf("stored %d bytes as %d", n, len(wire))
						}
						if kind == "text" && n == 64<<10 {
							t.Logf("%v level %d: 64 KiB of text → %d bytes (%.2f×)", a, level, len(wire), float64(n)/float64(len(wire)))
						}
					}
				}
				if g := p.Pool.Grown(); g != 0 {
					t.Fatalf("%d packets grew", g)
				}
				if d := drops(p.B); len(d) != 0 {
					t.Fatalf("drops %v", d)
				}
			})
		}
	}
}

// A receiver decodes what it is sent whatever its own algo.
func TestMixedAlgorithms(t *testing.T) {
	a, _ := New(config(S2, 1))
	b, _ := New(config(Zstd, 3))
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{MTU: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	in := TextLike(10000, 1)
	wire, got := send(t, p, in, stack.Meta{})
	if wire[0] != kindS2 || len(got) != 1 || !bytes.Equal(got[0].Bytes, in) {
		t.Fatalf("kind %d, %d delivered", wire[0], len(got))
	}
}

// Over frag, compress sees whole postings and frag splits what it made.
func TestOverFrag(t *testing.T) {
	for _, a := range algos {
		t.Run(a.String(), func(t *testing.T) {
			cfg := config(a, 1)
			mk := func() []stack.Layer {
				c, _ := New(cfg)
				return []stack.Layer{c, &splitter{}}
			}
			p, err := stacktest.NewPair(t, mk(), mk(), stacktest.PairConfig{MTU: 1500})
			if err != nil {
				t.Fatal(err)
			}
			in := TextLike(200<<10, 2)
			if err := p.Send(in, stack.Meta{}); err != nil {
				t.Fatal(err)
			}
			frags := p.Link.Pending(stacktest.AtoB)
			p.Link.Flush()
			got := p.GotB.Take()
			if len(got) != 1 || !bytes.Equal(got[0].Bytes, in) {
				t.Fatalf("delivered %d", len(got))
			}
			t.Logf("200 KiB of text in %d packets of 1500 bytes (%d uncompressed)", frags, (len(in)+1498)/1499)
			if frags > (len(in)/1499)/2 {
				t.Fatalf("%d fragments: the payload was not compressed before splitting", frags)
			}
		})
	}
}

// splitter is a minimal fragmentation layer for TestOverFrag (the real frag
// lives in another package that imports nothing of this one, but tests here
// stay within the package): a 1-byte header saying "more follows".
type splitter struct {
	stack.Base
	acc []byte
}

func (*splitter) Name() string  { return "splitter" }
func (*splitter) Overhead() int { return 1 }
func (s *splitter) Down(p *stack.Packet) error {
	defer p.Release()
	b := s.Binding()
	room := b.Room() - 1
	data := p.Bytes()
	for len(data) > 0 || p.Len() == 0 {
		n := min(room, len(data))
		q := b.NewPacket(n)
		q.Append(data[:n])
		data = data[n:]
		more := byte(0)
		if len(data) > 0 {
			more = 1
		}
		q.Push(1)[0] = more
		if err := b.Down.Handle(q); err != nil || p.Len() == 0 {
			return err
		}
	}
	return nil
}
func (s *splitter) Up(p *stack.Packet) error {
	h, ok := p.Consume(1)
	if !ok {
		s.Binding().Drop(p, "malformed")
		return nil
	}
	s.acc = append(s.acc, p.Bytes()...)
	if h[0] == 1 {
		p.Release()
		return nil
	}
	q := s.Binding().Pool.FromBytes(0, s.acc)
	s.acc = s.acc[:0]
	p.Release()
	return s.Binding().Up.Handle(q)
}

func TestIncompressibleStored(t *testing.T) {
	for _, a := range algos {
		t.Run(a.String(), func(t *testing.T) {
			p, _, _ := pair(t, config(a, 1))
			in := Random(64<<10, 3)
			wire, got := send(t, p, in, stack.Meta{})
			if wire[0] != kindStored || !bytes.Equal(wire[1:], in) {
				t.Fatalf("kind %d, %d bytes", wire[0], len(wire))
			}
			if len(got) != 1 || !bytes.Equal(got[0].Bytes, in) {
				t.Fatal("not delivered intact")
			}
			c := counters(p.A)
			if c["stored"] != 1 || c["compressed"] != 0 || c["raw-bytes"] != 64<<10 || c["sent-bytes"] != 64<<10+1 {
				t.Fatalf("sender counters %v", c)
			}
			if c := counters(p.B); c["received-stored"] != 1 {
				t.Fatalf("receiver counters %v", c)
			}
		})
	}
}

// direct returns a layer bound by hand, with handlers that collect what it
// passes on: for checking flags without a stack in between.
func direct(t *testing.T, cfg Config) (l *Layer, down, up *[]*stack.Packet, pool *stack.Pool) {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool = stack.NewPool()
	down, up = new([]*stack.Packet), new([]*stack.Packet)
	err = l.Bind(stack.Binding{
		Down:  stack.HandlerFunc(func(p *stack.Packet) error { *down = append(*down, p); return nil }),
		Up:    stack.HandlerFunc(func(p *stack.Packet) error { *up = append(*up, p); return nil }),
		Clock: stack.NewManualClock(stack.ManualEpoch), MTU: 1 << 20, Pool: pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, down, up, pool
}

func TestFlags(t *testing.T) {
	l, down, up, pool := direct(t, config(Zstd, 1))
	text := TextLike(4000, 4)

	// A control packet made above (window's acks, when compress is below
	// window) is framed stored, never compressed.
	c := pool.FromBytes(8, text)
	c.Meta.Flags = stack.FlagControl
	if err := l.Down(c); err != nil {
		t.Fatal(err)
	}
	if got := (*down)[0]; got.Bytes()[0] != kindStored || !bytes.Equal(got.Bytes()[1:], text) || got.Meta.Flags != stack.FlagControl {
		t.Fatalf("control packet sent as kind %d, %d bytes", got.Bytes()[0], got.Len())
	}
	// The peer reads it like any stored packet.
	if err := l.Up(pool.FromBytes(0, (*down)[0].Bytes())); err != nil || !bytes.Equal((*up)[0].Bytes(), text) {
		t.Fatalf("control packet came up as %d bytes: %v", (*up)[0].Len(), err)
	}

	// Metadata stays with the packet both ways (it never crosses the wire).
	m := stack.Meta{Seq: 7, Peer: 9, Media: 3, Deadline: time.Unix(1e9, 0)}
	d := pool.FromBytes(8, text)
	d.Meta = m
	l.Down(d)
	if got := (*down)[len(*down)-1]; got.Meta != m || got.Bytes()[0] != kindZstd {
		t.Fatalf("down: meta %+v, kind %d", got.Meta, got.Bytes()[0])
	}
	u := pool.FromBytes(0, (*down)[len(*down)-1].Bytes())
	u.Meta = m
	l.Up(u)
	if got := (*up)[len(*up)-1]; got.Meta != m || !bytes.Equal(got.Bytes(), text) {
		t.Fatalf("up: meta %+v", got.Meta)
	}

	// Skip markers pass unchanged both ways; so do control packets made
	// below on the way up.
	for _, dir := range []string{"down", "up"} {
		sk := stack.NewSkip(pool, 10, 3)
		want := append([]byte(nil), sk.Bytes()...)
		var out *[]*stack.Packet
		if dir == "down" {
			out = down
			l.Down(sk)
		} else {
			out = up
			l.Up(sk)
		}
		got := (*out)[len(*out)-1]
		if first, n, ok := got.Skip(); !ok || first != 10 || n != 3 || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s: skip marker changed to %x", dir, got.Bytes())
		}
	}
	ctl := pool.FromBytes(0, []byte{0xff, 1, 2})
	ctl.Meta.Flags = stack.FlagControl
	l.Up(ctl)
	if got := (*up)[len(*up)-1]; !bytes.Equal(got.Bytes(), []byte{0xff, 1, 2}) {
		t.Fatalf("control packet from below changed to %x", got.Bytes())
	}

	// A shared packet (kept by a retransmission buffer above) is left
	// intact when compressed.
	sh := pool.FromBytes(8, text)
	sh.Retain()
	l.Down(sh)
	if got := (*down)[len(*down)-1]; got == sh || got.Bytes()[0] != kindZstd || !bytes.Equal(sh.Bytes(), text) {
		t.Fatal("shared packet not compressed into a new one, or changed")
	}
	sh.Release()

	for _, p := range append(*down, *up...) {
		p.Release()
	}
	if n := pool.Outstanding(); n != 0 {
		t.Fatalf("%d packets outstanding", n)
	}
}

func TestDownRefusesOverMax(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = 1000
	p, _, _ := pair(t, cfg)
	err := p.Send(make([]byte, 1001+HeaderAllowance), stack.Meta{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
	if d := drops(p.A); d[DropTooLarge] != 1 {
		t.Fatalf("drops %v", d)
	}
	if _, got := send(t, p, make([]byte, 1000+HeaderAllowance), stack.Meta{}); len(got) != 1 {
		t.Fatal("max and the header allowance refused")
	}
}

// The bombs: packets that decode (or claim to decode) to a GiB of zeros.
// Each is dropped and counted, and handling it allocates a small fraction
// of the bomb.
func TestBombRefused(t *testing.T) {
	const gib = 1 << 30
	// The crafted packets are genuine: small versions decode to what
	// they say with an unbounded decoder.
	if b := ZstdRLEFrame(1<<20, 1<<20, 1<<20); true {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		out, err := d.DecodeAll(b[1+3:], nil)
		d.Close()
		if err != nil || !bytes.Equal(out, make([]byte, 1<<20)) {
			t.Fatalf("crafted zstd frame does not decode: %v", err)
		}
	}
	if b := S2ZeroBlock(1<<25, 1<<25); true {
		out, err := s2.Decode(nil, b[1:])
		if err != nil || !bytes.Equal(out, make([]byte, 1<<25)) {
			t.Fatalf("crafted s2 block does not decode: %v", err)
		}
	}

	cases := []struct {
		name   string
		packet []byte
		reason string
	}{
		// Honest about its size: refused from the length field alone.
		{"zstd-1GiB", ZstdRLEFrame(gib, gib, gib), DropTooLarge},
		{"s2-1GiB", S2ZeroBlock(gib, gib), DropTooLarge},
		// Lying: the length field says 1 KiB, the frame header 1 GiB.
		{"zstd-header-lies", ZstdRLEFrame(1000, gib, gib), DropCorrupt},
		// Lying twice: both say 1000 bytes, the blocks make 1 GiB. The
		// decoder stops at the buffer of 1000 bytes.
		{"zstd-blocks-lie", ZstdRLEFrame(1000, 1000, gib), DropCorrupt},
		{"zstd-blocks-lie-at-max", ZstdRLEFrame(16<<20, 16<<20, gib), DropCorrupt},
		// The s2 length says 1000 bytes, the operations make 1 GiB.
		{"s2-lies", S2ZeroBlock(1000, gib), DropCorrupt},
		{"s2-lies-at-max", S2ZeroBlock(16<<20, gib), DropCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _, _ := pair(t, DefaultConfig())
			const rounds = 8
			pks := make([]*stack.Packet, rounds)
			for i := range pks {
				pks[i] = p.Pool.FromBytes(0, c.packet)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for _, pk := range pks {
				p.B.Up(pk)
			}
			runtime.ReadMemStats(&after)
			if got := p.GotB.Take(); len(got) != 0 {
				t.Fatalf("bomb delivered (%d bytes)", len(got[0].Bytes))
			}
			if d := drops(p.B); d[c.reason] != rounds {
				t.Fatalf("drops %v, want %d %q", d, rounds, c.reason)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte packet: %d KiB allocated for %d of them", len(c.packet), alloc>>10, rounds)
			// Lying at max legitimately allocates max (16 MiB) per packet;
			// the rest allocate next to nothing. Either way, far from 1 GiB.
			limit := uint64(8 << 20)
			if strings.HasSuffix(c.name, "at-max") {
				limit = rounds * (16<<20 + 4<<20)
			}
			if alloc > limit {
				t.Fatalf("allocated %d bytes for %d bombs (limit %d)", alloc, rounds, limit)
			}
		})
	}
}

// A packet whose length field disagrees with its data is dropped.
func TestLyingLengthRefused(t *testing.T) {
	text := TextLike(5000, 5)
	enc := func(a Algo) []byte {
		p, _, _ := pair(t, config(a, 1))
		wire, _ := send(t, p, text, stack.Meta{})
		return wire
	}
	withLen := func(b []byte, n uint64) []byte {
		// Replace the uvarint after the kind byte (same width: 5000±1
		// takes two bytes either way).
		_, k := binary.Uvarint(b[1:])
		out := append([]byte{b[0]}, binary.AppendUvarint(nil, n)...)
		return append(out, b[1+k:]...)
	}
	// Compressed blocks that make more than the frame says: 256 KiB of
	// text in two blocks, in a frame that says 130 KiB. Only the decoder
	// can tell, and it stops after the block that overruns.
	overrun := func() []byte {
		cfg := config(Zstd, 1)
		cfg.Max = 1 << 20
		p, _, _ := pair(t, cfg)
		wire, _ := send(t, p, TextLike(256<<10, 7), stack.Meta{})
		_, k := binary.Uvarint(wire[1:])
		frame := wire[1+k:]
		if frame[4] != 0xa4 { // FCS field of 4 bytes, single segment, checksum
			t.Fatalf("frame header descriptor %#x", frame[4])
		}
		binary.LittleEndian.PutUint32(frame[5:], 130<<10)
		return append(binary.AppendUvarint([]byte{kindZstd}, 130<<10), frame...)
	}()
	cases := map[string][]byte{
		"zstd-blocks-overrun": overrun,
		"s2-short":            withLen(enc(S2), 4999),
		"s2-long":             withLen(enc(S2), 5001),
		"zstd-short":          withLen(enc(Zstd), 4999),
		"zstd-long":           withLen(enc(Zstd), 5001),
		"zstd-fcs-long":       ZstdRLEFrame(3000, 3000, 2000),
		"zstd-fcs-short":      ZstdRLEFrame(1000, 1000, 2000),
		"zstd-fcs-absent":     append(ZstdRLEFrame(1000, 1000, 1000)[:1+2+4], 0x00),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p, _, _ := pair(t, DefaultConfig())
			p.B.Up(p.Pool.FromBytes(0, b))
			if got := p.GotB.Take(); len(got) != 0 {
				t.Fatalf("delivered %d bytes", len(got[0].Bytes))
			}
			if d := drops(p.B); d[DropCorrupt]+d[DropMalformed] != 1 {
				t.Fatalf("drops %v", d)
			}
		})
	}
}

// Corrupt input is dropped, never delivered as something else.
func TestCorruptRefused(t *testing.T) {
	for _, a := range algos {
		t.Run(a.String(), func(t *testing.T) {
			p, _, _ := pair(t, config(a, 1))
			text := TextLike(3000, 6)
			wire, _ := send(t, p, text, stack.Meta{})
			try := func(b []byte) (delivered []byte, ok bool) {
				p.B.Up(p.Pool.FromBytes(0, b))
				got := p.GotB.Take()
				if len(got) == 0 {
					return nil, false
				}
				return got[0].Bytes, true
			}
			// Every truncation is dropped.
			for n := 0; n < len(wire); n++ {
				if _, ok := try(wire[:n]); ok {
					t.Fatalf("truncated to %d of %d bytes: delivered", n, len(wire))
				}
			}
			// Unknown kinds, and garbage after a compressed kind.
			for _, b := range [][]byte{{3}, {0xff, 1, 2}, {kindS2}, {kindZstd}, {kindS2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {kindZstd, 10, 1, 2, 3, 4}, append([]byte{kindS2, 100}, Random(50, 1)...), append([]byte{kindZstd, 100}, Random(50, 1)...)} {
				if _, ok := try(b); ok {
					t.Fatalf("%x delivered", b)
				}
			}
			// Every single-byte change is dropped or (when it touched a
			// byte that does not matter) decodes to the original. zstd's
			// checksum catches all changes to the data; s2 has none, so for
			// s2 only the first is checked.
			wrong := 0
			for i := 1; i < len(wire); i++ {
				b := append([]byte(nil), wire...)
				b[i] ^= 0x5a
				if got, ok := try(b); ok && !bytes.Equal(got, text) {
					wrong++
				}
			}
			t.Logf("%d of %d single-byte changes delivered different data", wrong, len(wire)-1)
			if a == Zstd && wrong != 0 {
				t.Fatalf("zstd delivered %d corrupted payloads", wrong)
			}
			if d := drops(p.B); d[DropCorrupt] == 0 || d[DropMalformed] == 0 {
				t.Fatalf("drops %v", d)
			}
		})
	}
}

// Stored payloads over max (and the header allowance) are dropped as
// well: nothing delivered exceeds it.
func TestStoredOverMaxDropped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = 100
	p, _, _ := pair(t, cfg)
	p.B.Up(p.Pool.FromBytes(0, append([]byte{kindStored}, make([]byte, 101+HeaderAllowance)...)))
	p.B.Up(p.Pool.FromBytes(0, append([]byte{kindStored}, make([]byte, 100+HeaderAllowance)...)))
	if got := p.GotB.Take(); len(got) != 1 || len(got[0].Bytes) != 100+HeaderAllowance {
		t.Fatalf("delivered %d", len(got))
	}
	if d := drops(p.B); d[DropTooLarge] != 1 {
		t.Fatalf("drops %v", d)
	}
}

// Using both algorithms in both directions and closing leaves no goroutine
// behind, and no packet.
func TestNoGoroutineLeak(t *testing.T) {
	runtime.GC()
	before := runtime.NumGoroutine()
	for _, a := range algos {
		for _, level := range []int{1, 3} {
			l1, _ := New(config(a, level))
			l2, _ := New(config(a, level))
			p, err := stacktest.NewPair(nil, []stack.Layer{l1}, []stack.Layer{l2}, stacktest.PairConfig{MTU: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				p.Send(TextLike(1000*i, uint64(i)), stack.Meta{})
				p.B.Up(p.Pool.FromBytes(0, ZstdRLEFrame(1000, 1000, 1<<20)))
			}
			p.Link.Flush()
			p.Close()
			if n := p.Pool.Outstanding(); n != 0 {
				t.Fatalf("%d packets outstanding", n)
			}
		}
	}
	runtime.GC()
	if err := testnet.WaitGoroutines(before, 5*time.Second); err != "" {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Algo: 0, Level: 1, Max: 1},
		{Algo: S2, Level: 0, Max: 1},
		{Algo: S2, Level: 4, Max: 1},
		{Algo: Zstd, Level: 23, Max: 1},
		{Algo: S2, Level: 1, Min: -1, Max: 1},
		{Algo: S2, Level: 1, Max: 0},
		{Algo: S2, Level: 1, Max: MaxMax + 1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRegistry(t *testing.T) {
	ls, err := registry.Build("compress(algo=zstd, level=7, min=128B, max=1MiB)", registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ls[0].(*Layer).Config(), (Config{Algo: Zstd, Level: 7, Min: 128, Max: 1 << 20}); got != want {
		t.Fatalf("config %+v, want %+v", got, want)
	}
	ls, err = registry.Build("compress", registry.Env{})
	if err != nil || ls[0].(*Layer).Config() != DefaultConfig() {
		t.Fatalf("defaults: %v %+v", err, ls)
	}
	for qos, want := range map[string]string{
		"compress(algo=lz4)":          "want one of s2, zstd",
		"compress(level=4)":           "s2 level 4",
		"compress(algo=zstd,level=0)": "zstd level 0",
		"compress(max=2GiB)":          "max",
		"compress(max=0)":             "max",
		"compress(window=1)":          "unknown parameter",
	} {
		_, err := registry.Build(qos, registry.Env{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", qos, err, want)
		}
	}
}
