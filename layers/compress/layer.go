package compress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/rwanda-go/rwanda/stack"
)

// The kind byte that starts every packet the layer sends.
const (
	kindStored = 0
	kindS2     = byte(S2)
	kindZstd   = byte(Zstd)
)

// HeaderLen is the most the layer adds to a packet: the kind byte of a
// stored packet. A compressed packet is sent only when it is shorter than
// the payload it carries, headers included.
const HeaderLen = 1

// Drop reasons, as they appear in the stack's statistics.
const (
	// DropMalformed: an empty packet, an unknown kind byte, a bad length
	// varint, or a zstd frame header that is not one the layer sends.
	DropMalformed = "malformed"
	// DropTooLarge: the decoded length a packet declares (or a stored
	// payload's length) exceeds Config.Max. Nothing was allocated for it.
	DropTooLarge = "too-large"
	// DropCorrupt: the packet cannot decode to exactly the length it
	// declares: the length is more than its bytes can make (see
	// [S2MaxRatio] and [ZstdMaxRatio]), the s2 operations or zstd blocks,
	// read without decoding, make another length, or the decoder failed
	// (corrupt data, a zstd checksum mismatch). Nothing was allocated for
	// it unless the decoder had to run to tell.
	DropCorrupt = "corrupt"
	// DropNoMemory: the channel's memory budget (stack.Binding.Memory)
	// refused the decoded length. Nothing was allocated for it.
	DropNoMemory = "no-memory"
)

// The most bytes one byte of compressed data can decode to in each format.
// A packet declaring a decoded length over its compressed length times the
// bound is refused (DropCorrupt) before anything is allocated for it. Both
// are the formats' own limits, so nothing a conforming encoder makes is
// refused.
const (
	// S2MaxRatio is s2's: its densest operation, a repeat of the last
	// offset with a 3-byte length, takes 5 bytes and makes at most
	// 65536+0xffffff+4 = 16842755 bytes. It applies to the block's
	// operations, after the length varint. s2's own encoder comes close:
	// 64 MiB of zeros take 24 bytes of operations (2796203 to one).
	S2MaxRatio = 16842755 / 5
	// ZstdMaxRatio is zstd's (RFC 8878): a block makes at most 128 KiB and
	// takes at least 4 bytes, an RLE block's 3-byte header and the byte it
	// repeats. It applies to the frame, header and checksum included.
	// zstd's own encoder comes close: 64 MiB of zeros make a frame of 2061
	// bytes (32561 to one).
	ZstdMaxRatio = maxBlockSize / 4
)

// ErrTooLarge is returned by Down for a payload larger than Config.Max.
var ErrTooLarge = errors.New("compress: payload too large")

// Layer compresses packets on their way down and decompresses them on their
// way up. Create one with [New] (or from a QoS string through the
// registry); a Layer serves one stack.
type Layer struct {
	b      stack.Binding
	cfg    Config
	zlevel zstd.EncoderLevel
	dec    *sync.Pool // zstd decoders bounded by cfg.Max
	n      struct {
		compressed, stored, rawBytes, sentBytes uint64 // down
		decompressed, receivedStored            uint64 // up
	}
}

// New returns a compress layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Layer{
		cfg:    cfg,
		zlevel: zstd.EncoderLevelFromZstd(cfg.Level),
		dec:    decoderPool(decLimit(cfg.Largest())),
	}, nil
}

// Name returns "compress".
func (l *Layer) Name() string { return "compress" }

// Overhead is [HeaderLen]: a stored packet grows by its kind byte, and a
// compressed one is never longer than that.
func (l *Layer) Overhead() int { return HeaderLen }

// Capabilities declares compression.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapCompressed}}
}

// Config returns the layer's configuration.
func (l *Layer) Config() Config { return l.cfg }

// Bind stores the binding.
func (l *Layer) Bind(b stack.Binding) error {
	l.b = b
	return nil
}

// Counters reports what the layer did (stack.Counted): on the way down
// "compressed" and "stored" packets, "raw-bytes" given to it and
// "sent-bytes" it passed on (their ratio is the compression achieved); on
// the way up "decompressed" and "received-stored" packets.
func (l *Layer) Counters() map[string]uint64 {
	m := make(map[string]uint64, 6)
	for k, v := range map[string]uint64{
		"compressed": l.n.compressed, "stored": l.n.stored,
		"raw-bytes": l.n.rawBytes, "sent-bytes": l.n.sentBytes,
		"decompressed": l.n.decompressed, "received-stored": l.n.receivedStored,
	} {
		if v > 0 {
			m[k] = v
		}
	}
	return m
}

// Down compresses p when that makes it shorter and sends it stored
// otherwise. Control packets are sent stored, skip markers pass unchanged;
// a payload over Config.Max is refused with [ErrTooLarge].
func (l *Layer) Down(p *stack.Packet) error {
	if p.Meta.Flags&stack.FlagSkip != 0 {
		return l.b.Down.Handle(p)
	}
	n := p.Len()
	if int64(n) > l.cfg.Largest() {
		l.b.Drop(p, DropTooLarge)
		return fmt.Errorf("%w: %d bytes, max %d and %d of headers", ErrTooLarge, n, l.cfg.Max, HeaderAllowance)
	}
	l.n.rawBytes += uint64(n)
	if n > 0 && n >= l.cfg.Min && p.Meta.Flags&stack.FlagControl == 0 {
		if q := l.compress(p); q != nil {
			l.n.compressed++
			l.n.sentBytes += uint64(q.Len())
			p.Release()
			return l.b.Down.Handle(q)
		}
	}
	l.n.stored++
	l.n.sentBytes += uint64(n + HeaderLen)
	p.Push(HeaderLen)[0] = kindStored
	return l.b.Down.Handle(p)
}

// compress returns a new packet holding p compressed with its header, or
// nil when that would not be shorter than p. It leaves p untouched (p may
// be shared with a retransmission buffer above).
func (l *Layer) compress(p *stack.Packet) *stack.Packet {
	src := p.Bytes()
	n := len(src)
	var q *stack.Packet
	var dst, out []byte
	switch l.cfg.Algo {
	case S2:
		// The s2 block starts with the decoded length as a uvarint: it is
		// the length field of the header.
		bound := s2.MaxEncodedLen(n)
		if bound < 0 {
			return nil
		}
		q = l.b.NewPacket(1 + bound)
		q.Extend(1)[0] = kindS2
		dst = q.Extend(bound)
		switch l.cfg.Level {
		case 1:
			out = s2.Encode(dst, src)
		case 2:
			out = s2.EncodeBetter(dst, src)
		default:
			out = s2.EncodeBest(dst, src)
		}
	case Zstd:
		enc := getEncoder(l.zlevel)
		defer putEncoder(l.zlevel, enc)
		var lenBuf [binary.MaxVarintLen64]byte
		k := binary.PutUvarint(lenBuf[:], uint64(n))
		bound := enc.MaxEncodedSize(n)
		q = l.b.NewPacket(1 + k + bound)
		h := q.Extend(1 + k)
		h[0] = kindZstd
		copy(h[1:], lenBuf[:k])
		dst = q.Extend(bound)
		out = enc.EncodeAll(src, dst[:0])
	default:
		return nil
	}
	hdr := q.Len() - len(dst)
	if hdr+len(out) >= n || len(out) == 0 || &out[0] != &dst[:1][0] {
		// Not shorter (or the encoder outgrew the buffer, which only a
		// longer output does): send it stored.
		q.Release()
		return nil
	}
	q.Truncate(hdr + len(out))
	q.Meta = p.Meta
	return q
}

// Up delivers stored payloads and decompresses compressed ones, dropping
// (and counting) packets that are malformed, corrupt, would decode to more
// than Config.Max, or whose decoded length the channel's memory budget
// refuses. Control packets and skip markers pass unchanged: they were made
// below this layer and carry no header of its.
func (l *Layer) Up(p *stack.Packet) error {
	if p.Meta.Flags&(stack.FlagSkip|stack.FlagControl) != 0 {
		return l.b.Up.Handle(p)
	}
	b := p.Bytes()
	if len(b) == 0 {
		l.b.Drop(p, DropMalformed)
		return nil
	}
	switch b[0] {
	case kindStored:
		if int64(len(b)-HeaderLen) > l.cfg.Largest() {
			l.b.Drop(p, DropTooLarge)
			return nil
		}
		p.Consume(HeaderLen)
		l.n.receivedStored++
		return l.b.Up.Handle(p)
	case kindS2, kindZstd:
		q, reason := l.decode(b)
		if q == nil {
			l.b.Drop(p, reason)
			return nil
		}
		q.Meta = p.Meta
		p.Release()
		l.n.decompressed++
		return l.b.Up.Handle(q)
	}
	l.b.Drop(p, DropMalformed)
	return nil
}

// decode decompresses the packet bytes b (kind byte first) into a new
// packet, or says why it cannot. Before anything is allocated the declared
// length is checked against Config.Max and against what the compressed
// bytes can make at most (the format's ratio bound), and the compressed
// data is read without decoding: an s2 block declaring more than s2Trusted
// must have operations that make exactly that (s2Len), a zstd frame's
// blocks must be able to (checkFrame). Then the declared length is
// reserved from the channel's memory budget for as long as decode holds
// the output, and the data is decoded into a buffer of exactly that
// length: neither decoder writes past it.
func (l *Layer) decode(b []byte) (*stack.Packet, string) {
	size, k := binary.Uvarint(b[1:])
	if k <= 0 || k > binary.MaxVarintLen32 {
		return nil, DropMalformed
	}
	if size > uint64(l.cfg.Largest()) {
		return nil, DropTooLarge
	}
	n := int(size)
	src := b[1:] // s2: the block, which starts with the length just read
	switch b[0] {
	case kindS2:
		ops := b[1+k:]
		if size > uint64(len(ops))*S2MaxRatio {
			return nil, DropCorrupt
		}
		// Ordinary ratios are decoded straight away: walking the
		// operations first would double the work, and a lie costs no
		// more than s2Trusted allows.
		if size > s2Trusted(len(ops)) {
			if got, ok := s2Len(ops, n); !ok || got != n {
				return nil, DropCorrupt
			}
		}
	case kindZstd:
		src = b[1+k:]
		if size > uint64(len(src))*ZstdMaxRatio {
			return nil, DropCorrupt
		}
		// Only single frames with their content size, no dictionary: what
		// this layer sends. The content size must be the declared length.
		var h zstd.Header
		if err := h.Decode(src); err != nil || h.Skippable || !h.HasFCS || h.DictionaryID != 0 {
			return nil, DropMalformed
		}
		if h.FrameContentSize != size {
			return nil, DropCorrupt
		}
		if reason := checkFrame(src, &h); reason != "" {
			return nil, reason
		}
	}
	if !l.b.Memory.Reserve(int64(n)) {
		return nil, DropNoMemory
	}
	// The reservation covers the output while this layer holds it: Up
	// hands it on as soon as decode returns.
	defer l.b.Memory.Release(int64(n))
	q := l.b.Pool.Get(0, n, 0)
	dst := q.Extend(n)
	var out []byte
	var err error
	if b[0] == kindS2 {
		out, err = s2.Decode(dst, src)
	} else {
		dec := l.dec.Get().(*zstd.Decoder)
		out, err = dec.DecodeAll(src, dst[:0])
		l.dec.Put(dec)
	}
	if err != nil || len(out) != n || n > 0 && &out[0] != &dst[0] {
		q.Release()
		return nil, DropCorrupt
	}
	return q, ""
}

// s2Trusted is the most an s2 block with m bytes of operations may declare
// and be decoded without s2Len's walk first: 16 times its length and 4 KiB,
// more than text and most data compress to. A packet declaring more than
// its operations make costs at most a buffer that large before the decoder
// finds out; one declaring more than s2Trusted is walked, and costs no
// allocation unless its operations make exactly what it declares.
func s2Trusted(m int) uint64 { return 16*uint64(m) + 4<<10 }

// s2 block operations: the low two bits of an operation's first byte.
const (
	s2Literal = 0
	s2Copy1   = 1 // or, with an offset of 0, a repeat of the last offset
	s2Copy2   = 2
	s2Copy4   = 3
)

// s2Len reads the operations of an s2 block (what follows its length
// varint) as s2's decoder does, without decoding them, and returns how many
// bytes they make. It reports false as soon as an operation is truncated,
// copies from before the start or from an offset never set, or the
// operations would make more than limit bytes: exactly what makes the
// decoder fail, so a block s2Len accepts at the declared length decodes.
// Its work is proportional to len(src), whatever the block says it makes.
func s2Len(src []byte, limit int) (int, bool) {
	d, s, offset := 0, 0, 0
	for s < len(src) {
		tag := src[s]
		var length int
		switch tag & 3 {
		case s2Literal:
			x := int(tag >> 2)
			switch {
			case x < 60:
				s++
			case x == 60:
				if len(src)-s < 2 {
					return d, false
				}
				x = int(src[s+1])
				s += 2
			case x == 61:
				if len(src)-s < 3 {
					return d, false
				}
				x = int(src[s+1]) | int(src[s+2])<<8
				s += 3
			case x == 62:
				if len(src)-s < 4 {
					return d, false
				}
				x = int(src[s+1]) | int(src[s+2])<<8 | int(src[s+3])<<16
				s += 4
			default:
				if len(src)-s < 5 {
					return d, false
				}
				x = int(binary.LittleEndian.Uint32(src[s+1:]))
				s += 5
			}
			length = x + 1
			if length <= 0 || length > limit-d || length > len(src)-s {
				return d, false
			}
			d += length
			s += length
			continue
		case s2Copy1:
			if len(src)-s < 2 {
				return d, false
			}
			length = int(tag>>2) & 7
			o := int(tag&0xe0)<<3 | int(src[s+1])
			s += 2
			if o != 0 {
				offset = o
			} else {
				// A repeat: the last offset again, with a longer length.
				switch length {
				case 5:
					if len(src)-s < 1 {
						return d, false
					}
					length = int(src[s]) + 4
					s++
				case 6:
					if len(src)-s < 2 {
						return d, false
					}
					length = (int(src[s]) | int(src[s+1])<<8) + 1<<8
					s += 2
				case 7:
					if len(src)-s < 3 {
						return d, false
					}
					length = (int(src[s]) | int(src[s+1])<<8 | int(src[s+2])<<16) + 1<<16
					s += 3
				}
			}
			length += 4
		case s2Copy2:
			if len(src)-s < 3 {
				return d, false
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint16(src[s+1:]))
			s += 3
		case s2Copy4:
			if len(src)-s < 5 {
				return d, false
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint32(src[s+1:]))
			s += 5
		}
		if offset <= 0 || d < offset || length > limit-d {
			return d, false
		}
		d += length
	}
	return d, true
}

// Close does nothing: the layer holds no packets, and borrows its zstd
// coders only for the length of one call.
func (l *Layer) Close() error { return nil }

// Block types and sizes of the zstd format (RFC 8878, 3.1.1.2).
const (
	blockRaw        = 0
	blockRLE        = 1
	blockCompressed = 2
	maxBlockSize    = 128 << 10
)

// checkFrame walks the block headers of the zstd frame src, whose header
// is h, without decoding anything. It refuses (with a drop reason) a frame
// that is truncated or followed by anything, has a block the decoder would
// refuse for its size, or cannot decode to exactly its content size: raw
// and RLE blocks say how much they produce, a compressed block produces at
// most a block. So an RLE bomb is refused here, and the decoder itself can
// overrun its output buffer by no more than one compressed block.
func checkFrame(src []byte, h *zstd.Header) string {
	n, reason := frameLen(src, h)
	switch {
	case reason != "":
		return reason
	case n != len(src):
		return DropMalformed
	}
	return ""
}

// frameLen walks the blocks of the zstd frame that starts src, whose header
// is h, as checkFrame describes, and returns the frame's length, checksum
// included, or a drop reason.
func frameLen(src []byte, h *zstd.Header) (int, string) {
	window := h.WindowSize
	if h.SingleSegment {
		window = max(h.FrameContentSize, zstd.MinWindowSize)
	}
	blockMax := min(window, maxBlockSize)
	var known, upper uint64 // bytes the blocks produce: exactly, and at most
	pos := h.HeaderSize
	for {
		if len(src)-pos < 3 {
			return 0, DropMalformed
		}
		bh := uint32(src[pos]) | uint32(src[pos+1])<<8 | uint32(src[pos+2])<<16
		pos += 3
		size := uint64(bh >> 3)
		if size > blockMax {
			return 0, DropMalformed
		}
		switch (bh >> 1) & 3 {
		case blockRaw:
			known += size
			pos += int(size)
		case blockRLE:
			known += size
			pos++
		case blockCompressed:
			if size < 2 {
				return 0, DropMalformed
			}
			upper += blockMax
			pos += int(size)
		default:
			return 0, DropMalformed
		}
		if pos > len(src) {
			return 0, DropMalformed
		}
		if known > h.FrameContentSize {
			return 0, DropCorrupt
		}
		if bh&1 != 0 {
			break
		}
	}
	if h.HasCheckSum {
		pos += 4
	}
	if pos > len(src) {
		return 0, DropMalformed
	}
	if known+upper < h.FrameContentSize {
		return 0, DropCorrupt
	}
	return pos, ""
}
