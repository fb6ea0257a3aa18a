package posting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"
)

// Version is the wire format version written by this package. Its
// decoders accept this version and version 1, the format of old
// recordings.
const Version = 2

// version1 is the previous wire format version, still accepted by decoders.
const version1 = 1

// Sentinel errors. Decoding errors are *DecodeError values wrapping one of
// ErrVersion, ErrTruncated or ErrMalformed; encoding errors for invalid
// header fields wrap ErrInvalid. Test with errors.Is.
var (
	// ErrVersion reports an encoding whose version byte is neither Version
	// nor 1.
	ErrVersion = errors.New("posting: unsupported wire version")

	// ErrTruncated reports an encoding that ends in the middle of its
	// header.
	ErrTruncated = errors.New("posting: truncated input")

	// ErrMalformed reports an encoding that is not a canonical version 2
	// (or version 1) encoding: invalid field values, impossible flag
	// combinations, reserved bits set, non-minimal varints, zero values in
	// fields flagged present, lengths and counts over their limits, and
	// so on.
	ErrMalformed = errors.New("posting: malformed input")

	// ErrInvalid reports a Posting that cannot be encoded because a header
	// field is out of range (see Posting.Validate).
	ErrInvalid = errors.New("posting: invalid posting")
)

// DecodeError describes why an encoding was rejected and where.
type DecodeError struct {
	// Offset is the byte offset in the input at which the offending field
	// or byte starts.
	Offset int
	// Err is ErrVersion, ErrTruncated or ErrMalformed.
	Err error
	// Reason describes the problem.
	Reason string
}

// Error returns a message naming the sentinel, the offset and the reason.
func (e *DecodeError) Error() string {
	return e.Err.Error() + " at byte " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap returns e.Err, so that errors.Is matches the sentinels.
func (e *DecodeError) Unwrap() error { return e.Err }

// Flag bits of byte 1.
const (
	flagStream      = 1 << 0
	flagTTL         = 1 << 1
	flagCorrelation = 1 << 2
	flagReplyTo     = 1 << 3
	flagSent        = 1 << 4
	flagSeq         = 1 << 5
	flagSender      = 1 << 6
	flagPointer     = 1 << 7
)

// Bits of byte 3 (flags2) in version 2; the low 2 bits are the body
// encoding.
const (
	flag2Key         = 1 << 2
	flag2Headers     = 1 << 3
	flag2Frame       = 1 << 4
	flag2FrameEnd    = 1 << 5
	flag2ReplyWithin = 1 << 6
	flag2Reserved    = 1 << 7
)

// Body encodings: the low 2 bits of byte 3 (byte 2 in version 1).
const (
	bodyNil     = 0
	bodyBytes   = 1
	bodyString  = 2
	bodyMsgpack = 3
)

// msgpackNil is the msgpack encoding of nil.
const msgpackNil = 0xc0

// fixedHeaderLen is the length of the version, flags, class and flags2
// bytes; fixedHeaderLenV1 that of version 1's version, flags and class.
const (
	fixedHeaderLen   = 4
	fixedHeaderLenV1 = 3
)

// MarshalBinary implements [encoding.BinaryMarshaler]. It returns the
// version 2 encoding of p; see [Posting.AppendBinary].
func (p *Posting) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(nil)
}

// AppendBinary implements [encoding.BinaryAppender]. It appends the version
// 2 encoding of p (header followed by body) to dst and returns the extended
// slice.
//
// It fails, returning dst unchanged, if a header field is invalid (see
// [Posting.Validate]; the error wraps [ErrInvalid]), if the body's wire type
// name is longer than [MaxTypeNameLen] bytes or a Raw body has an empty
// Type, or if msgpack cannot encode the body.
//
// Encoding a []byte or string body into a buffer with enough capacity does
// not allocate.
func (p *Posting) AppendBinary(dst []byte) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return dst, err
	}

	// Classify the body before writing anything.
	var (
		enc     byte
		flags   byte
		name    string
		rawData []byte
		isRaw   bool
	)
	switch b := p.Body.(type) {
	case nil:
		enc = bodyNil
	case []byte:
		enc = bodyBytes
	case string:
		enc = bodyString
	case Raw:
		enc, name, rawData, isRaw = bodyMsgpack, b.Type, b.Data, true
		if b.Pointer {
			flags |= flagPointer
		}
	case *Raw:
		if b == nil {
			return dst, errors.New("posting: cannot encode a nil *posting.Raw body")
		}
		enc, name, rawData, isRaw = bodyMsgpack, b.Type, b.Data, true
		if b.Pointer {
			flags |= flagPointer
		}
	default:
		enc = bodyMsgpack
		t := reflect.TypeOf(b)
		if t.Kind() == reflect.Pointer {
			flags |= flagPointer
			t = t.Elem()
		}
		if ti := lookupType(t); ti != nil {
			name = ti.name
		} else {
			name = t.String()
		}
	}
	if enc == bodyMsgpack {
		if name == "" {
			return dst, errors.New("posting: cannot encode a Raw body with an empty Type")
		}
		if len(name) > MaxTypeNameLen {
			return dst, fmt.Errorf("posting: body type name %.40q... is %d bytes, limit is %d; Register the type under a shorter name", name, len(name), MaxTypeNameLen)
		}
	}

	if p.Stream != "" {
		flags |= flagStream
	}
	if p.TTL != 0 {
		flags |= flagTTL
	}
	if p.Correlation != 0 {
		flags |= flagCorrelation
	}
	if p.ReplyTo != 0 {
		flags |= flagReplyTo
	}
	if !p.Sent.IsZero() {
		flags |= flagSent
	}
	if p.Seq != 0 {
		flags |= flagSeq
	}
	if p.Sender != 0 {
		flags |= flagSender
	}

	flags2 := enc
	if p.Key != "" {
		flags2 |= flag2Key
	}
	if len(p.Headers) != 0 {
		flags2 |= flag2Headers
	}
	if p.Frame != 0 {
		flags2 |= flag2Frame
		if p.FrameEnd {
			flags2 |= flag2FrameEnd
		}
	}
	if p.ReplyWithin != 0 {
		flags2 |= flag2ReplyWithin
	}

	start := len(dst)
	dst = append(dst, Version, flags, byte(p.Media)<<4|byte(p.Kind), flags2)
	if flags&flagSeq != 0 {
		dst = binary.AppendUvarint(dst, p.Seq)
	}
	if flags&flagSender != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, p.Sender)
	}
	if flags&flagSent != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(p.Sent.UnixNano()))
	}
	if flags&flagTTL != 0 {
		dst = binary.AppendUvarint(dst, uint64(p.TTL))
	}
	if flags&flagCorrelation != 0 {
		dst = binary.AppendUvarint(dst, p.Correlation)
	}
	if flags&flagReplyTo != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, p.ReplyTo)
	}
	if flags&flagStream != 0 {
		dst = append(dst, byte(len(p.Stream)))
		dst = append(dst, p.Stream...)
	}
	if flags2&(flag2Key|flag2Headers|flag2Frame|flag2ReplyWithin) != 0 {
		dst = p.appendV2Fields(dst, flags2)
	}

	switch enc {
	case bodyBytes:
		dst = append(dst, p.Body.([]byte)...)
	case bodyString:
		dst = append(dst, p.Body.(string)...)
	case bodyMsgpack:
		dst = append(dst, byte(len(name)))
		dst = append(dst, name...)
		if isRaw {
			dst = append(dst, rawData...)
			break
		}
		var err error
		dst, err = appendMsgpack(dst, p.Body)
		if err != nil {
			return dst[:start], fmt.Errorf("posting: encoding %s body: %w", name, err)
		}
	}
	return dst, nil
}

// appendV2Fields appends the fields that version 2 added, as flagged in
// flags2.
func (p *Posting) appendV2Fields(dst []byte, flags2 byte) []byte {
	if flags2&flag2ReplyWithin != 0 {
		dst = binary.AppendUvarint(dst, uint64(p.ReplyWithin))
	}
	if flags2&flag2Frame != 0 {
		dst = binary.AppendUvarint(dst, p.Frame)
	}
	if flags2&flag2Key != 0 {
		dst = append(dst, byte(len(p.Key)))
		dst = append(dst, p.Key...)
	}
	if flags2&flag2Headers != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(p.Headers)))
		for i := range p.Headers {
			h := &p.Headers[i]
			dst = append(dst, byte(len(h.Name)))
			dst = append(dst, h.Name...)
			dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
			dst = append(dst, h.Value...)
		}
	}
	return dst
}

// cursor reads an encoding front to back, producing DecodeErrors.
type cursor struct {
	b   []byte
	off int
}

func (c *cursor) fail(sentinel error, off int, format string, args ...any) error {
	return &DecodeError{Offset: off, Err: sentinel, Reason: fmt.Sprintf(format, args...)}
}

// uvarint reads a minimally encoded unsigned varint.
func (c *cursor) uvarint(field string) (uint64, error) {
	var x uint64
	var shift uint
	for i := 0; ; i++ {
		if c.off+i >= len(c.b) {
			return 0, c.fail(ErrTruncated, c.off, "%s varint is cut off after %d bytes", field, i)
		}
		v := c.b[c.off+i]
		if i == binary.MaxVarintLen64-1 && v > 1 {
			return 0, c.fail(ErrMalformed, c.off, "%s varint overflows 64 bits", field)
		}
		if v < 0x80 {
			if v == 0 && i > 0 {
				return 0, c.fail(ErrMalformed, c.off, "%s varint is not minimally encoded", field)
			}
			c.off += i + 1
			return x | uint64(v)<<shift, nil
		}
		x |= uint64(v&0x7f) << shift
		shift += 7
	}
}

// nonzeroUvarint reads a uvarint for a field flagged present, which must
// not be zero.
func (c *cursor) nonzeroUvarint(field string) (uint64, error) {
	start := c.off
	v, err := c.uvarint(field)
	if err == nil && v == 0 {
		err = c.fail(ErrMalformed, start, "%s is flagged present but is zero", field)
	}
	return v, err
}

// uint64le reads 8 little-endian bytes.
func (c *cursor) uint64le(field string) (uint64, error) {
	if len(c.b)-c.off < 8 {
		return 0, c.fail(ErrTruncated, c.off, "%s needs 8 bytes, %d remain", field, len(c.b)-c.off)
	}
	v := binary.LittleEndian.Uint64(c.b[c.off:])
	c.off += 8
	return v, nil
}

// nonzeroUint64le reads 8 little-endian bytes for a field flagged present,
// which must not be zero.
func (c *cursor) nonzeroUint64le(field string) (uint64, error) {
	start := c.off
	v, err := c.uint64le(field)
	if err == nil && v == 0 {
		err = c.fail(ErrMalformed, start, "%s is flagged present but is zero", field)
	}
	return v, err
}

// shortString reads a length byte (1..max) and that many bytes.
func (c *cursor) shortString(field string, max int) ([]byte, error) {
	if c.off >= len(c.b) {
		return nil, c.fail(ErrTruncated, c.off, "%s length byte is missing", field)
	}
	n := int(c.b[c.off])
	if n == 0 {
		return nil, c.fail(ErrMalformed, c.off, "%s length is zero", field)
	}
	if n > max {
		return nil, c.fail(ErrMalformed, c.off, "%s length is %d, limit is %d", field, n, max)
	}
	if len(c.b)-c.off-1 < n {
		return nil, c.fail(ErrTruncated, c.off, "%s length is %d but only %d bytes remain", field, n, len(c.b)-c.off-1)
	}
	s := c.b[c.off+1 : c.off+1+n]
	c.off += 1 + n
	return s, nil
}

// duration reads a uvarint for a time.Duration field flagged present,
// which must lie in 1..math.MaxInt64.
func (c *cursor) duration(field string) (time.Duration, error) {
	start := c.off
	v, err := c.nonzeroUvarint(field)
	if err != nil {
		return 0, err
	}
	if v > math.MaxInt64 {
		return 0, c.fail(ErrMalformed, start, "%s %d overflows time.Duration", field, v)
	}
	return time.Duration(v), nil
}

// headers validates the Headers field and records where its entries are,
// without allocating.
func (c *cursor) headers(h *wireHeader) error {
	start := c.off
	n, err := c.uvarint("Headers count")
	if err != nil {
		return err
	}
	if n == 0 {
		return c.fail(ErrMalformed, start, "Headers count is zero")
	}
	if n > MaxHeaders {
		return c.fail(ErrMalformed, start, "Headers count is %d, limit is %d", n, MaxHeaders)
	}
	// Every entry takes at least 2 bytes: a name length and a value
	// length.
	if rem := len(c.b) - c.off; n > uint64(rem/2) {
		return c.fail(ErrTruncated, start, "Headers count is %d but only %d bytes remain", n, rem)
	}
	entries := c.off
	total := 0
	for range n {
		nameOff := c.off
		name, err := c.shortString("header name", maxHeaderNameLen)
		if err != nil {
			return err
		}
		total += len(name)
		if total > MaxHeaderBytes {
			return c.fail(ErrMalformed, nameOff, "header names and values exceed %d bytes", MaxHeaderBytes)
		}
		valueOff := c.off
		vlen, err := c.uvarint("header value length")
		if err != nil {
			return err
		}
		if vlen > uint64(MaxHeaderBytes-total) {
			return c.fail(ErrMalformed, valueOff, "header names and values exceed %d bytes", MaxHeaderBytes)
		}
		if rem := len(c.b) - c.off; vlen > uint64(rem) {
			return c.fail(ErrTruncated, valueOff, "header value length is %d but only %d bytes remain", vlen, rem)
		}
		c.off += int(vlen)
		total += int(vlen)
	}
	h.nHeaders = int(n)
	h.headers = c.b[entries:c.off]
	return nil
}

// wireHeader is the decoded header; stream, key, headers and typeName
// alias the input.
type wireHeader struct {
	p        Posting // all fields but Body, Stream, Key and Headers
	stream   []byte
	key      []byte
	headers  []byte // the validated Headers entries, after the count
	nHeaders int
	enc      byte
	ptr      bool
	typeName []byte
	bodyOff  int
}

// decodeHeader parses and validates everything before the body.
func decodeHeader(b []byte, h *wireHeader) error {
	c := cursor{b: b}
	if len(b) == 0 {
		return c.fail(ErrTruncated, 0, "input is empty")
	}
	var flags, flags2 byte
	switch b[0] {
	case Version:
		if len(b) < fixedHeaderLen {
			return c.fail(ErrTruncated, len(b), "fixed header needs %d bytes, have %d", fixedHeaderLen, len(b))
		}
		flags, flags2 = b[1], b[3]
		h.p.Media, h.p.Kind, h.enc = Media(b[2]>>4), Kind(b[2]&0x0f), flags2&3
		if flags2&flag2Reserved != 0 {
			return c.fail(ErrMalformed, 3, "reserved bit 7 of flags2 is set")
		}
		if flags2&(flag2Frame|flag2FrameEnd) == flag2FrameEnd {
			return c.fail(ErrMalformed, 3, "FrameEnd flag set without Frame")
		}
		c.off = fixedHeaderLen
	case version1:
		// Old recordings: no flags2 byte, class is media<<4 | kind<<2 |
		// body encoding, and none of the fields version 2 added.
		if len(b) < fixedHeaderLenV1 {
			return c.fail(ErrTruncated, len(b), "fixed header needs %d bytes, have %d", fixedHeaderLenV1, len(b))
		}
		flags = b[1]
		h.p.Media, h.p.Kind, h.enc = Media(b[2]>>4), Kind(b[2]>>2&3), b[2]&3
		c.off = fixedHeaderLenV1
	default:
		return c.fail(ErrVersion, 0, "version is %d, want %d or %d", b[0], Version, version1)
	}
	if !h.p.Media.Valid() {
		return c.fail(ErrMalformed, 2, "media %d is not valid", uint8(h.p.Media))
	}
	if !h.p.Kind.Valid() {
		return c.fail(ErrMalformed, 2, "kind %d is not valid", uint8(h.p.Kind))
	}
	if h.p.Kind == Cancel && flags&flagCorrelation == 0 {
		return c.fail(ErrMalformed, 1, "cancel posting without Correlation")
	}
	if flags2&flag2ReplyWithin != 0 && h.p.Kind != Request {
		return c.fail(ErrMalformed, 3, "ReplyWithin flag set on a %v posting", h.p.Kind)
	}
	h.ptr = flags&flagPointer != 0
	if h.ptr && h.enc != bodyMsgpack {
		return c.fail(ErrMalformed, 1, "pointer flag set on a body that is not msgpack-encoded")
	}

	var err error
	if flags&flagSeq != 0 {
		if h.p.Seq, err = c.nonzeroUvarint("Seq"); err != nil {
			return err
		}
	}
	if flags&flagSender != 0 {
		if h.p.Sender, err = c.nonzeroUint64le("Sender"); err != nil {
			return err
		}
	}
	if flags&flagSent != 0 {
		ns, err := c.uint64le("Sent")
		if err != nil {
			return err
		}
		h.p.Sent = time.Unix(0, int64(ns))
	}
	if flags&flagTTL != 0 {
		if h.p.TTL, err = c.duration("TTL"); err != nil {
			return err
		}
	}
	if flags&flagCorrelation != 0 {
		if h.p.Correlation, err = c.nonzeroUvarint("Correlation"); err != nil {
			return err
		}
	}
	if flags&flagReplyTo != 0 {
		if h.p.ReplyTo, err = c.nonzeroUint64le("ReplyTo"); err != nil {
			return err
		}
	}
	if flags&flagStream != 0 {
		if h.stream, err = c.shortString("Stream", MaxStreamLen); err != nil {
			return err
		}
	}
	if flags2&flag2ReplyWithin != 0 {
		if h.p.ReplyWithin, err = c.duration("ReplyWithin"); err != nil {
			return err
		}
	}
	if flags2&flag2Frame != 0 {
		if h.p.Frame, err = c.nonzeroUvarint("Frame"); err != nil {
			return err
		}
		h.p.FrameEnd = flags2&flag2FrameEnd != 0
	}
	if flags2&flag2Key != 0 {
		if h.key, err = c.shortString("Key", MaxKeyLen); err != nil {
			return err
		}
	}
	if flags2&flag2Headers != 0 {
		if err := c.headers(h); err != nil {
			return err
		}
	}
	switch h.enc {
	case bodyNil:
		if c.off != len(b) {
			return c.fail(ErrMalformed, c.off, "nil body followed by %d bytes", len(b)-c.off)
		}
	case bodyMsgpack:
		if h.typeName, err = c.shortString("type name", MaxTypeNameLen); err != nil {
			return err
		}
	}
	h.bodyOff = c.off
	return nil
}

// decodeHeaders builds n Headers from entries validated by
// cursor.headers. All names and values share one string, so that n
// headers cost two allocations.
func decodeHeaders(entries []byte, n int) []Header {
	hs := make([]Header, n)
	s := string(entries)
	off := 0
	for i := range hs {
		nl := int(s[off])
		off++
		hs[i].Name = s[off : off+nl]
		off += nl
		vl, k := binary.Uvarint(entries[off:])
		off += k
		hs[i].Value = s[off : off+int(vl)]
		off += int(vl)
	}
	return hs
}

// HeaderLen validates the header of the encoding b, as [Decode] does, and
// returns its length: the offset in b at which the body bytes begin. For
// msgpack bodies the header includes the type name; for a version 1
// encoding it is the version 1 header. The body itself is not examined,
// and HeaderLen does not allocate.
func HeaderLen(b []byte) (int, error) {
	var h wireHeader
	if err := decodeHeader(b, &h); err != nil {
		return 0, err
	}
	return h.bodyOff, nil
}

// Decode decodes a version 2 (or version 1) encoding into a new Posting. See
// [Posting.UnmarshalBinary].
func Decode(b []byte) (*Posting, error) {
	p, err := decode(b)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// UnmarshalBinary implements [encoding.BinaryUnmarshaler]. It decodes a
// version 2 (or version 1) encoding into p, replacing all of p's fields.
// On error p is left unchanged.
//
// The decoded posting does not alias b: []byte bodies, strings and Raw data
// are copied, so the caller may reuse b. The names and values of all
// decoded Headers share one string.
//
// Header problems are reported as *[DecodeError] wrapping [ErrVersion],
// [ErrTruncated] or [ErrMalformed]. A msgpack body that cannot be decoded is
// not an error: Body is then a [Raw] explaining why.
func (p *Posting) UnmarshalBinary(b []byte) error {
	q, err := decode(b)
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// DecodeShared is [Decode] without the copy: a []byte body, and the Data of
// a Raw body, alias b (strings, including Stream, Key and Headers, are
// copies as in Decode). The caller hands b over: it must not change or
// reuse b afterwards. It is for receivers that own a buffer holding one
// posting (a reassembled parcel), where copying a large body again would
// cost more than the rest of the decode.
func DecodeShared(b []byte) (*Posting, error) {
	p, err := decodeWith(b, true)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func decode(b []byte) (Posting, error) { return decodeWith(b, false) }

func decodeWith(b []byte, shared bool) (Posting, error) {
	var h wireHeader
	if err := decodeHeader(b, &h); err != nil {
		return Posting{}, err
	}
	p := h.p
	if h.stream != nil {
		p.Stream = streamCache.intern(h.stream)
	}
	if h.key != nil {
		p.Key = keyCache.intern(h.key)
	}
	if h.nHeaders != 0 {
		p.Headers = decodeHeaders(h.headers, h.nHeaders)
	}
	body := b[h.bodyOff:]
	switch h.enc {
	case bodyBytes:
		if shared {
			p.Body = body[:len(body):len(body)]
			break
		}
		buf := make([]byte, len(body))
		copy(buf, body)
		p.Body = buf
	case bodyString:
		p.Body = string(body)
	case bodyMsgpack:
		p.Body = decodeBody(h.typeName, body, h.ptr, shared)
	}
	return p, nil
}

// decodeBody turns a msgpack body into a value of its registered type, or a
// Raw when that is not possible.
func decodeBody(name, data []byte, ptr, shared bool) any {
	keep := cloneBytes
	if shared {
		keep = func(b []byte) []byte { return b[:len(b):len(b)] }
	}
	ti := lookupName(name)
	if ti == nil {
		return Raw{Type: string(name), Data: keep(data), Pointer: ptr, Err: ErrNotRegistered}
	}
	if ptr && len(data) == 1 && data[0] == msgpackNil {
		return ti.nilPtr
	}
	fn := ti.decodeValue
	if ptr {
		fn = ti.decodePtr
	}
	v, err := decodeMsgpack(data, ti.plan, decodeLimit(len(data)), fn)
	if err == errBudget || err == errOverlap {
		return Raw{Type: ti.name, Data: keep(data), Pointer: ptr, Err: ErrOverBudget}
	}
	if err != nil {
		return Raw{
			Type:    ti.name,
			Data:    keep(data),
			Pointer: ptr,
			Err:     fmt.Errorf("posting: body does not decode as %v (registered as %q): %w", ti.typ, ti.name, err),
		}
	}
	return v
}

// An internCache remembers recently decoded strings, so that decoding
// postings of a few busy streams, or a few keys, does not allocate a new
// string for each. It is a fixed-size, lock-free, direct-mapped cache:
// hostile input can only cause misses, never growth.
type internCache [256]atomic.Pointer[string]

// streamCache interns stream names and keyCache keys; they are separate so
// that many distinct keys do not evict the few busy stream names.
var (
	streamCache, keyCache internCache
	internSeed            = maphash.MakeSeed()
)

// intern returns string(b), reusing a cached string when possible.
func (c *internCache) intern(b []byte) string {
	slot := &c[maphash.Bytes(internSeed, b)%uint64(len(c))]
	if s := slot.Load(); s != nil && *s == string(b) {
		return *s
	}
	s := string(b)
	slot.Store(&s)
	return s
}

func cloneBytes(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
