package compress

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// Test data and crafted packets, shared by the package's tests (the
// exported names are for the external test package).

var words = []string{
	"the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by",
	"on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had",
	"they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if",
	"more", "when", "will", "would", "who", "so", "no", "channel", "posting", "stream", "packet",
	"window", "receiver", "sender", "multicast", "frame", "video", "audio", "latency", "network",
	"message", "delivery", "reliable", "order", "fragment", "parcel", "deadline", "compress",
	"Kigali", "Rwanda", "hills", "thousand", "coffee", "morning", "market", "river", "lake", "Kivu",
}

// TextLike returns n bytes of word salad: text that compresses about as
// chat messages and JSON-free logs do (2–3× with s2), deterministic for a
// seed.
func TextLike(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x7e47))
	b := make([]byte, 0, n+16)
	for len(b) < n {
		w := words[rng.IntN(len(words))]
		b = append(b, w...)
		switch r := rng.IntN(20); {
		case r == 0:
			b = append(b, ". "...)
		case r == 1:
			b = append(b, ", "...)
		case r == 2:
			b = append(b, ' ', '0'+byte(rng.IntN(10)), ' ')
		default:
			b = append(b, ' ')
		}
	}
	return b[:n]
}

// Random returns n incompressible bytes, deterministic for a seed.
func Random(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x4a4d))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// ZstdRLEFrame returns a zstd frame, in a packet of this layer's kind 2
// with declared as its length field, whose header says fcs bytes of content
// and whose RLE blocks decode to actual zero bytes. Each 4-byte block
// stands for 128 KiB: a 1 GiB frame is 32 KiB.
func ZstdRLEFrame(declared, fcs, actual uint64) []byte {
	b := []byte{kindZstd}
	b = binary.AppendUvarint(b, declared)
	b = append(b, 0x28, 0xB5, 0x2F, 0xFD) // magic
	b = append(b, 0x80)                   // FCS field of 4 bytes, not single segment, no checksum, no dictionary
	b = append(b, 0x50)                   // window 1 MiB: exponent 10, mantissa 0
	b = binary.LittleEndian.AppendUint32(b, uint32(fcs))
	const block = 128 << 10
	for left := actual; ; {
		n := min(left, block)
		left -= n
		h := uint32(n)<<3 | 1<<1 // RLE
		if left == 0 {
			h |= 1 // last
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 0)
		if left == 0 {
			return b
		}
	}
}

// S2ZeroBlock returns a packet of kind 1 whose s2 block says declared bytes
// and whose operations produce actual zero bytes (actual ≥ 5): a literal
// zero, a copy of it, and repeats of up to 16 MiB each, so a 1 GiB block is
// about 330 bytes.
func S2ZeroBlock(declared, actual uint64) []byte {
	b := []byte{kindS2}
	b = binary.AppendUvarint(b, declared)
	b = append(b, 0x00, 0) // literal of one byte: 0
	b = append(b, 0x01, 1) // copy1: length 4, offset 1
	buf := make([]byte, 5*(actual>>24+2))
	n := emitRepeat(buf, 1, int(actual-5))
	return append(b, buf[:n]...)
}

// emitRepeat is s2's own (encode_go.go): a repeat of the last offset.
func emitRepeat(dst []byte, offset, length int) int {
	const tagCopy1 = 0x01
	length -= 4
	if length <= 4 {
		dst[0] = uint8(length)<<2 | tagCopy1
		dst[1] = 0
		return 2
	}
	if length < 8 && offset < 2048 {
		dst[1] = uint8(offset)
		dst[0] = uint8(offset>>8)<<5 | uint8(length)<<2 | tagCopy1
		return 2
	}
	if length < (1<<8)+4 {
		length -= 4
		dst[2] = uint8(length)
		dst[1] = 0
		dst[0] = 5<<2 | tagCopy1
		return 3
	}
	if length < (1<<16)+(1<<8) {
		length -= 1 << 8
		dst[3] = uint8(length >> 8)
		dst[2] = uint8(length >> 0)
		dst[1] = 0
		dst[0] = 6<<2 | tagCopy1
		return 4
	}
	const maxRepeat = (1 << 24) - 1
	length -= 1 << 16
	left := 0
	if length > maxRepeat {
		left = length - maxRepeat + 4
		length = maxRepeat - 4
	}
	dst[4] = uint8(length >> 16)
	dst[3] = uint8(length >> 8)
	dst[2] = uint8(length >> 0)
	dst[1] = 0
	dst[0] = 7<<2 | tagCopy1
	if left > 0 {
		return 5 + emitRepeat(dst[5:], offset, left)
	}
	return 5
}

// pair returns two stacks with one compress layer each (cfg), joined by a
// lossless link, with an MTU that carries any payload the tests use whole.
func pair(t testing.TB, cfg Config) (*stacktest.Pair, *Layer, *Layer) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{MTU: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return p, a, b
}

// drops returns the compress layer's drops in s's statistics.
func drops(s *stack.Stack) map[string]uint64 {
	for _, ls := range s.Stats().Layers {
		if ls.Name == "compress" {
			return ls.Drops
		}
	}
	return nil
}

// counters returns the compress layer's counters in s's statistics.
func counters(s *stack.Stack) map[string]uint64 {
	for _, ls := range s.Stats().Layers {
		if ls.Name == "compress" {
			return ls.Counters
		}
	}
	return nil
}
