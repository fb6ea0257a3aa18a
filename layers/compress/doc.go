// Package compress is the compression layer: it compresses each packet on
// its way down with s2 or zstd (github.com/klauspost/compress) when that
// makes it shorter, and decompresses it on its way up, refusing packets that
// would decode to more than a set maximum.
//
// Importing the package registers the layer as "compress":
//
//	compress(algo=zstd, level=1, min=64B, max=16MiB)
//
// It may sit anywhere in a stack, but belongs at the application side, so
// it compresses whole postings before frag splits them:
//
//	compress/reliable              s2, then frag/order/window
//	compress(algo=zstd)/reliable
//
// Put it above any encrypting layer: ciphertext does not compress.
//
// # Parameters
//
//	name   kind        default  meaning
//	algo   identifier  s2       s2 (fast) or zstd (smaller), for what this side sends
//	level  int         1        s2: 1 fast, 2 better, 3 best; zstd: 1–22 (1–2 fastest, 3–5 default, 6–9 better, 10+ best)
//	min    size        64B      payloads shorter than this are sent stored
//	max    size        16MiB    largest payload sent or delivered, less an 8 KiB allowance for a posting's header (at most 1GiB)
//
// [Config] holds the same settings for code that builds layers with [New].
// A receiver decodes either algorithm, whatever its own algo says.
//
// # Wire format
//
// Every packet starts with a kind byte:
//
//	0  stored: the payload follows as it is
//	1  s2: an s2 block follows; it starts with the decoded length as a uvarint
//	2  zstd: the decoded length as a uvarint, then one zstd frame whose
//	   content size is that length, with its checksum
//
// A payload is sent compressed only when the whole compressed packet is
// shorter than the payload; otherwise it is sent stored, and so are
// payloads shorter than min and control packets (stack.FlagControl) from a
// layer above, such as window's acknowledgements when compress sits below
// window: they are not compressed, but the peer's compress layer still needs
// the kind byte to read them. So a packet grows by at most the one kind byte,
// which is the layer's Overhead, and incompressible data costs one byte
// and one failed compression attempt. Skip markers (stack.FlagSkip) pass
// unchanged in both directions, and so do control packets
// (stack.FlagControl) on the way up, which were made below this layer.
//
// # Decompression bombs
//
// A few KiB of zstd or a few hundred bytes of s2 can decode to a GiB, and a
// packet can declare any length. On the way up the layer bounds what a
// packet may cost before it allocates anything for it:
//
//   - The declared decoded length must not exceed max and the header
//     allowance ("too-large").
//   - It must not exceed what the packet's bytes can make at most in its
//     format, its compressed length times the format's ratio bound
//     ("corrupt"). [S2MaxRatio] is 3368551: s2's densest operation, a
//     repeat, takes 5 bytes and makes at most 16842755 bytes (s2's own
//     encoder reaches 2796203 to one on 64 MiB of zeros). [ZstdMaxRatio]
//     is 32768: a zstd block makes at most 128 KiB and takes at least 4
//     bytes (an RLE block; zstd's own encoder reaches 32561 to one on 64
//     MiB of zeros). Both are the formats' own limits, so nothing a conforming
//     encoder makes is refused (the tests send 1 MiB of zeros and of
//     repetitive text at every level, 16 MiB at every encoder speed, 64 MiB
//     of zeros at the densest).
//   - The compressed data is read without decoding. When an s2 block
//     declares more than 16 times its length and 4 KiB (more than text and
//     most data compress to; below that it is decoded straight away, so as
//     not to read it twice), its operations are walked as s2's decoder
//     reads them, and must make exactly the declared length with valid
//     offsets; the decoder cannot then fail. A zstd packet must hold exactly one frame whose content
//     size is the declared length, and the frame's block headers must be
//     able to make exactly that much: an RLE or raw block says what it
//     makes, a compressed block makes at most 128 KiB ("corrupt" or
//     "malformed" otherwise).
//   - The declared length is reserved from the channel's memory budget
//     (stack.Binding.Memory, when the stack has one) for as long as the
//     layer holds the output, until it hands the packet on ("no-memory"
//     when refused; the budget counts the refusal too).
//
// Only then does the layer decode, into a buffer of exactly the declared
// length: s2 writes no further than its destination, and the zstd decoder
// is built with WithDecodeAllCapLimit, WithDecoderMaxMemory and
// WithDecoderMaxWindow at max (at least 4 KiB) and stops at the first
// block that would overrun the frame's content size. A packet whose data
// decodes to another length, or is corrupt, is dropped ("corrupt"). Stored
// payloads over max and the allowance are dropped too ("too-large"), so
// nothing delivered exceeds them.
//
// So what a packet of n compressed bytes can cost is bounded by its size:
// it allocates at most min(max, n × ratio bound) bytes, and the work to
// check and decode it is proportional to n plus that. A packet whose data
// makes less than it declares costs less still: an s2 one at most 16n + 4
// KiB allocated (nothing when it declares more than that), a zstd one at
// most 128 KiB per compressed block of 5 bytes or more, which only the
// decoder can tell; either is given back at once. Legitimately
// compressible data reaches the bounds (13 bytes of s2 make 16 MiB of
// zeros), so a packet that decodes to what it declares is delivered
// however small it is: lower max to what the application's postings need.
//
// # Resources
//
// zstd encoders and decoders are costly to build and are kept in
// package-level pools (by level, and by max), borrowed for one call at a
// time: a layer holds nothing between calls, and the pools hold about as many
// coders as calls compress at once. They are built for EncodeAll and
// DecodeAll with a concurrency of one, a mode in which the library starts no
// goroutines. zstd frames are single-segment (they always carry their
// content size) and the encoders match within 1 MiB. Packet buffers come
// from the stack's pool; a layer holds none between calls.
//
// # Statistics
//
// The stack's Stats show the drops above ("malformed", "too-large",
// "corrupt", "no-memory") and the layer's counters:
// "compressed" and "stored" packets sent, "raw-bytes" given to the layer
// and "sent-bytes" it passed down (raw-bytes/sent-bytes is the compression
// ratio achieved), "decompressed" and "received-stored" packets received.
//
// # Limitations
//
// Each packet is compressed on its own, with no dictionary or history shared
// between packets: small postings compress little. s2 blocks carry no
// checksum, so corruption that keeps an s2 block well-formed goes unnoticed
// here; zstd frames carry one. Integrity is otherwise the job of the layers
// below (the UDP checksum, sign, encrypt). zstd costs several microseconds
// per packet whatever its size (about 8 µs to compress 1 KiB at level 1 on
// the AMD EPYC core the benchmarks ran on, against under 2 µs for s2), so s2 is the default.
package compress
