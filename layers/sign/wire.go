package sign

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/rwanda-go/rwanda/internal/varint"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
)

// Packet kinds: the first byte of every packet the layer sends. The high
// nibble (0x6) says "sign, header version 2"; the low nibble is the kind.
// Version 1 (0x5, headers without the member salt) is no longer accepted.
const (
	kindSigned   = 0x61 // one packet with its own signature
	kindData     = 0x62 // one packet of a batch, signed later by a SIG
	kindSig      = 0x63 // the signature of a batch of DATA packets
	kindFeedback = 0x64 // feedback from a receiver (acks, NAKs), not signed

	versionMask = 0xf0
	version1    = 0x50 // the high nibble of header version 1's kinds
)

// Sizes of the fixed fields.
const (
	// DigestLen is the size of a packet's digest in a SIG packet: SHA-256
	// cut to 128 bits (see doc.go).
	DigestLen = 16
	// SignatureLen is the size of an Ed25519 signature.
	SignatureLen = ed25519.SignatureSize
	fpLen        = 8
	saltLen      = 8
	maxUvarint   = binary.MaxVarintLen64
	// signedOverhead is the longest SIGNED header: kind, fingerprint,
	// member salt, instance and sequence number (uvarints), signature.
	signedOverhead = 1 + fpLen + saltLen + 2*maxUvarint + SignatureLen
	// dataOverhead is the longest DATA header: kind and sequence number.
	dataOverhead = 1 + maxUvarint
	// feedbackOverhead is the FEEDBACK header: the kind byte.
	feedbackOverhead = 1
	// sigFixed is the longest SIG packet less its count and digests:
	// kind, fingerprint, member salt, instance and first sequence number,
	// signature.
	sigFixed = 1 + fpLen + saltLen + 2*maxUvarint + SignatureLen
	// MaxBatch is the largest batch a SIG packet may cover.
	MaxBatch = 1024
)

// domain starts every signed message, so that a signature made by this
// layer cannot be taken for one made by any other use of the same key. v3
// binds the member salt as well; v2 bound the channel identity and the
// packets' relay metadata; v1 bound neither.
const domain = "rwanda/sign/v3\x00"

// channelHashLen is the size of the channel identity's hash in a signed
// message.
const channelHashLen = sha256.Size

// msgPrefixLen is the length of a signed message before its digests.
const msgPrefixLen = len(domain) + channelHashLen + 8 + saltLen + 4 + fpLen + 8 + 8 + 4

// sigLen is the length of a SIG packet covering count packets with the
// given instance and first sequence number.
func sigLen(inst, first uint64, count int) int {
	return 1 + fpLen + saltLen + varint.Len(inst) + varint.Len(first) + varint.Len(uint64(count)) + count*DigestLen + SignatureLen
}

// maxSigLen is the longest SIG packet for a batch of count.
func maxSigLen(count int) int { return sigFixed + varint.Len(uint64(count)) + count*DigestLen }

// digester computes packet digests without allocating: one SHA-256 state
// and scratch space, reused for every packet of a layer (which a stack
// never calls concurrently).
type digester struct {
	h     hash.Hash
	relay [stack.MaxRelayLen]byte
	sum   [sha256.Size]byte
}

// digest is what a signature says about one packet: the SHA-256, cut to
// DigestLen bytes, of the packet's relay metadata in its canonical
// encoding (stack.AppendRelay, as the channel writes it beside the packet)
// followed by the bytes above the layer (the packet without the layer's
// header). The relay encoding is self-delimiting, so no two packets with
// different metadata or payloads share the input.
func (g *digester) digest(m *stack.Meta, b []byte) (d [DigestLen]byte) {
	if g.h == nil {
		g.h = sha256.New()
	}
	g.h.Reset()
	g.h.Write(stack.AppendRelay(g.relay[:0], m))
	g.h.Write(b)
	copy(d[:], g.h.Sum(g.sum[:0]))
	return d
}

// channelHash is the SHA-256 of a channel identity, as signed messages
// carry it ("" for a standalone stack hashes the empty string).
func channelHash(channel string) [channelHashLen]byte { return sha256.Sum256([]byte(channel)) }

// appendMessage appends the message a signature covers for count packets
// from first: everything that binds the digests to the channel and the
// flow.
//
//	domain      "rwanda/sign/v3\x00" (15 bytes)
//	channel     32 bytes: SHA-256 of the channel identity
//	member      8 bytes: the sending member's id
//	salt        8 bytes: the salt the member id was derived with (0: unbound)
//	stream      4 bytes: the stream's id
//	fingerprint 8 bytes: the signer's key fingerprint
//	instance    8 bytes: the sender stack's instance
//	first       8 bytes: the sequence number of the first packet
//	count       4 bytes: how many packets
//	digests     count × 16 bytes, in sequence order (see digester.digest)
//
// All integers are big-endian and of fixed size, so two different
// statements never give the same message.
func appendMessage(dst []byte, ch *[channelHashLen]byte, f flowID, salt uint64, fp keys.Fingerprint, inst, first uint64, count int, digests []byte) []byte {
	dst = append(dst, domain...)
	dst = append(dst, ch[:]...)
	dst = binary.BigEndian.AppendUint64(dst, f.member)
	dst = binary.BigEndian.AppendUint64(dst, salt)
	dst = binary.BigEndian.AppendUint32(dst, f.stream)
	dst = binary.BigEndian.AppendUint64(dst, uint64(fp))
	dst = binary.BigEndian.AppendUint64(dst, inst)
	dst = binary.BigEndian.AppendUint64(dst, first)
	dst = binary.BigEndian.AppendUint32(dst, uint32(count))
	return append(dst, digests...)
}

// flowID is what a signature binds a packet to: its sender and stream.
type flowID struct {
	member uint64
	stream uint32
}

// sigHeader is a decoded SIGNED or SIG header.
type sigHeader struct {
	fp    keys.Fingerprint
	salt  uint64 // the sender's member salt (0: unbound)
	inst  uint64
	first uint64 // the sequence number (SIGNED) or the first one (SIG)
	count int    // 1 for SIGNED
	// digests are the SIG's digests (aliasing the packet); nil for SIGNED.
	digests []byte
	sig     []byte // aliases the packet
	n       int    // header length (SIGNED: where the payload starts)
}

// decodeSigner decodes what SIGNED and SIG packets start with: kind,
// fingerprint, member salt, instance and (first) sequence number; off is
// where the rest begins.
func decodeSigner(b []byte, kind byte) (h sigHeader, off int, ok bool) {
	if len(b) < 1+fpLen+saltLen || b[0] != kind {
		return h, 0, false
	}
	off = 1
	h.fp = keys.Fingerprint(binary.BigEndian.Uint64(b[off:]))
	off += fpLen
	h.salt = binary.BigEndian.Uint64(b[off:])
	off += saltLen
	var n int
	if h.inst, n = varint.Read(b[off:]); n <= 0 {
		return h, 0, false
	}
	off += n
	if h.first, n = varint.Read(b[off:]); n <= 0 {
		return h, 0, false
	}
	return h, off + n, true
}

// decodeSigned decodes a SIGNED header: kind, fingerprint, member salt,
// instance, sequence number, signature.
func decodeSigned(b []byte) (h sigHeader, ok bool) {
	h, off, ok := decodeSigner(b, kindSigned)
	if !ok {
		return h, false
	}
	if len(b)-off < SignatureLen {
		return h, false
	}
	h.sig = b[off : off+SignatureLen]
	h.count = 1
	h.n = off + SignatureLen
	return h, true
}

// decodeSig decodes a whole SIG packet: kind, fingerprint, member salt,
// instance, first sequence number, count, digests, signature, and nothing
// after.
func decodeSig(b []byte) (h sigHeader, ok bool) {
	h, off, ok := decodeSigner(b, kindSig)
	if !ok {
		return h, false
	}
	count, n := varint.Read(b[off:])
	if n <= 0 || count < 1 || count > MaxBatch || h.first+count-1 < h.first {
		return h, false
	}
	off += n
	h.count = int(count)
	if len(b)-off != h.count*DigestLen+SignatureLen {
		return h, false
	}
	h.digests = b[off : off+h.count*DigestLen]
	off += h.count * DigestLen
	h.sig = b[off:]
	h.n = len(b)
	return h, true
}

// decodeData decodes a DATA header: kind and sequence number.
func decodeData(b []byte) (seq uint64, n int, ok bool) {
	if len(b) < 2 || b[0] != kindData {
		return 0, 0, false
	}
	seq, n = varint.Read(b[1:])
	if n <= 0 {
		return 0, 0, false
	}
	return seq, 1 + n, true
}
