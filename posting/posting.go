package posting

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxStreamLen is the maximum length of [Posting.Stream] in bytes.
const MaxStreamLen = 255

// MaxKeyLen is the maximum length of a posting's latest-wins key in bytes.
// Keys ride in the clear on every datagram of their posting (relay
// metadata), so they are kept short.
const MaxKeyLen = 64

// MaxHeaders is the maximum number of entries in [Posting.Headers].
const MaxHeaders = 32

// MaxHeaderBytes is the maximum total length in bytes of the names and
// values of all entries in [Posting.Headers].
const MaxHeaderBytes = 4096

// maxHeaderNameLen is the maximum length of a [Header] name in bytes.
const maxHeaderNameLen = 255

// Header is one application header of a [Posting]: a name and a value, for
// metadata and trace context. Names are 1 to 255 bytes; values may be
// empty. Neither needs to be UTF-8, and names are compared exactly (case
// matters).
type Header struct {
	Name  string // 1 to 255 bytes
	Value string // may be empty
}

// MaxTypeNameLen is the maximum length in bytes of a body type name on the
// wire: of names passed to [Register], of [Raw.Type] and of the
// reflect.Type.String form used for unregistered types.
const MaxTypeNameLen = 255

// Posting is one typed message sent over a channel.
//
// The zero value is a valid [Data] [Message] on the default stream with a
// nil body. A Posting is a plain value: it is not safe to modify one while
// another goroutine reads or encodes it, but any number of goroutines may
// encode the same Posting concurrently as long as nobody modifies it or its
// Body.
type Posting struct {
	// Stream is the stream name within the channel; "" is the default
	// stream. It is at most MaxStreamLen (255) bytes.
	Stream string

	// Media is the media class of the body.
	Media Media

	// Kind says what role the posting plays in an exchange.
	Kind Kind

	// FrameEnd marks the last posting of the frame named by Frame, and
	// requires a nonzero Frame. (It is declared here, next to the other
	// one-byte fields, to keep the struct small.)
	FrameEnd bool

	// Seq is the sequence number, set by the channel when sending.
	Seq uint64

	// Sent is the send time, set by the channel when sending. The zero
	// time means unset. On the wire it is carried as Unix nanoseconds, so
	// a set time must lie between the years 1678 and 2262 and loses its
	// monotonic clock reading and location; decoded times are in the
	// local time zone, like those returned by [time.Unix].
	Sent time.Time

	// TTL is the time to obsolescence measured from Sent; 0 means the
	// posting never becomes obsolete. Negative values are invalid.
	TTL time.Duration

	// Sender is the sender id (per channel instance: random, or derived
	// from the member's identity and a random salt), set by the channel
	// when sending; 0 means unset.
	Sender uint64

	// Correlation is the request/reply correlation id; 0 means none.
	Correlation uint64

	// ReplyTo is the member id that should receive the reply to a
	// Request; 0 means none.
	ReplyTo uint64

	// ReplyWithin is, for a Request, how long after Sent the requester
	// waits for a reply: the request deadline. 0 means no deadline.
	// Negative values are invalid, and only a Request may set it.
	ReplyWithin time.Duration

	// Key is the latest-wins key: a newer posting with the same Key on
	// the same stream from the same sender supersedes older ones, which
	// the sender, the refresh layer and subscribers' queues may then drop
	// (counted "superseded"), also on reliable streams: the latest value
	// of each key is delivered, in order with the stream's other
	// postings. Use it for pointers, cursors, tiles and state. "" means
	// none; a set Key is at most MaxKeyLen (64) bytes.
	Key string

	// Headers are application headers (metadata, trace context), in
	// order; names may repeat, as in HTTP. nil means none: an empty
	// non-nil slice encodes as none, and decodes as nil. There are at
	// most MaxHeaders (32) entries, every name is 1 to 255 bytes, and
	// all names and values together total at most MaxHeaderBytes (4096)
	// bytes. See [Posting.Header].
	Headers []Header

	// Frame is the id of the frame this posting belongs to, when a unit
	// of media (a video frame, say) spans several postings; 0 means the
	// posting is not part of a frame. See also FrameEnd.
	Frame uint64

	// Body is the payload. nil, []byte and string bodies travel as raw
	// bytes; any other value is encoded with msgpack under a type name
	// (see Register). After decoding, Body holds nil, a []byte, a string,
	// a value of a registered type (T or *T, whichever the sender
	// pushed), or a Raw.
	Body any
}

// Option configures a Posting built by [New].
type Option func(*Posting)

// New returns a new Posting carrying body, with opts applied in order.
// Options do not validate their arguments; invalid values are reported by
// [Posting.Validate] and the encoding methods.
func New(body any, opts ...Option) *Posting {
	p := &Posting{Body: body}
	for _, opt := range opts {
		if opt != nil {
			opt(p)
		}
	}
	return p
}

// WithStream sets the stream name (at most [MaxStreamLen] bytes).
func WithStream(name string) Option { return func(p *Posting) { p.Stream = name } }

// WithMedia sets the media class.
func WithMedia(m Media) Option { return func(p *Posting) { p.Media = m } }

// WithTTL sets the time to obsolescence, measured from the send time.
// 0 means never obsolete; negative durations are invalid.
func WithTTL(d time.Duration) Option { return func(p *Posting) { p.TTL = d } }

// WithKind sets the kind.
func WithKind(k Kind) Option { return func(p *Posting) { p.Kind = k } }

// WithCorrelation sets the request/reply correlation id.
func WithCorrelation(id uint64) Option { return func(p *Posting) { p.Correlation = id } }

// WithReplyTo sets the member id that should receive the reply to a
// Request.
func WithReplyTo(member uint64) Option { return func(p *Posting) { p.ReplyTo = member } }

// WithReplyWithin sets, for a Request, how long after the send time the
// requester waits for a reply. 0 means no deadline; negative durations,
// and nonzero durations on other kinds, are invalid.
func WithReplyWithin(d time.Duration) Option { return func(p *Posting) { p.ReplyWithin = d } }

// WithKey sets the latest-wins key (at most [MaxKeyLen] bytes).
func WithKey(key string) Option { return func(p *Posting) { p.Key = key } }

// WithHeader appends a header with the given name and value to the
// posting's Headers, after any already there.
func WithHeader(name, value string) Option {
	return func(p *Posting) { p.Headers = append(p.Headers, Header{Name: name, Value: value}) }
}

// WithFrame sets the frame id, and whether the posting is the frame's last
// (end). A zero id means no frame, and is invalid with end set.
func WithFrame(id uint64, end bool) Option {
	return func(p *Posting) { p.Frame, p.FrameEnd = id, end }
}

// Header returns the value of the first entry of p.Headers named name, and
// whether there is one. Names are compared exactly.
func (p *Posting) Header(name string) (string, bool) {
	for i := range p.Headers {
		if p.Headers[i].Name == name {
			return p.Headers[i].Value, true
		}
	}
	return "", false
}

// Deadline returns the time at which p becomes obsolete, Sent+TTL, when both
// Sent and a positive TTL are set. Otherwise it returns the zero time.
func (p *Posting) Deadline() time.Time {
	if p.Sent.IsZero() || p.TTL <= 0 {
		return time.Time{}
	}
	return p.Sent.Add(p.TTL)
}

// Expired reports whether p is obsolete at now, that is whether p has a
// deadline (see [Posting.Deadline]) and now is at or after it. A posting
// without a deadline never expires.
func (p *Posting) Expired(now time.Time) bool {
	d := p.Deadline()
	return !d.IsZero() && !now.Before(d)
}

// The range of times representable as int64 Unix nanoseconds.
var (
	minSent = time.Unix(0, math.MinInt64)
	maxSent = time.Unix(0, math.MaxInt64)
)

// Validate reports whether p's header fields can be encoded: Stream at most
// [MaxStreamLen] bytes, Media and Kind valid, TTL not negative, Sent zero or
// representable as int64 Unix nanoseconds, a Cancel's Correlation set,
// ReplyWithin not negative and set only on a Request, Key at most
// [MaxKeyLen] bytes, at most [MaxHeaders] Headers with names of 1 to 255
// bytes and at most [MaxHeaderBytes] of names and values in all, and
// FrameEnd set only with a nonzero Frame. It does not look at Body; body
// problems are reported by [Posting.AppendBinary]. Errors wrap [ErrInvalid]
// and name the field.
func (p *Posting) Validate() error {
	if len(p.Stream) > MaxStreamLen {
		return fmt.Errorf("%w: stream name is %d bytes, limit is %d", ErrInvalid, len(p.Stream), MaxStreamLen)
	}
	if !p.Media.Valid() {
		return fmt.Errorf("%w: invalid media %d", ErrInvalid, uint8(p.Media))
	}
	if !p.Kind.Valid() {
		return fmt.Errorf("%w: invalid kind %d", ErrInvalid, uint8(p.Kind))
	}
	if p.TTL < 0 {
		return fmt.Errorf("%w: negative TTL %v", ErrInvalid, p.TTL)
	}
	if !p.Sent.IsZero() && (p.Sent.Before(minSent) || p.Sent.After(maxSent)) {
		return fmt.Errorf("%w: send time %v is outside the range of int64 Unix nanoseconds", ErrInvalid, p.Sent)
	}
	if p.Kind == Cancel && p.Correlation == 0 {
		return fmt.Errorf("%w: Cancel posting without a Correlation naming the request", ErrInvalid)
	}
	if p.ReplyWithin < 0 {
		return fmt.Errorf("%w: negative ReplyWithin %v", ErrInvalid, p.ReplyWithin)
	}
	if p.ReplyWithin != 0 && p.Kind != Request {
		return fmt.Errorf("%w: ReplyWithin set on a %v posting; only a request may set it", ErrInvalid, p.Kind)
	}
	if len(p.Key) > MaxKeyLen {
		return fmt.Errorf("%w: Key is %d bytes, limit is %d", ErrInvalid, len(p.Key), MaxKeyLen)
	}
	if len(p.Headers) > MaxHeaders {
		return fmt.Errorf("%w: %d Headers, limit is %d", ErrInvalid, len(p.Headers), MaxHeaders)
	}
	total := 0
	for i := range p.Headers {
		h := &p.Headers[i]
		if h.Name == "" {
			return fmt.Errorf("%w: Headers[%d] has an empty name", ErrInvalid, i)
		}
		if len(h.Name) > maxHeaderNameLen {
			return fmt.Errorf("%w: Headers[%d] name is %d bytes, limit is %d", ErrInvalid, i, len(h.Name), maxHeaderNameLen)
		}
		total += len(h.Name) + len(h.Value)
		if total > MaxHeaderBytes {
			return fmt.Errorf("%w: Headers names and values exceed %d bytes at Headers[%d]", ErrInvalid, MaxHeaderBytes, i)
		}
	}
	if p.FrameEnd && p.Frame == 0 {
		return fmt.Errorf("%w: FrameEnd set without a Frame", ErrInvalid)
	}
	return nil
}

// Limits for String, so that it never dumps large values.
const (
	maxStringStream = 64
	maxStringBody   = 32
)

// String returns a short, single-line human-readable summary of p for logs
// and debugging. It shows the header fields that are set and describes the
// body by type and size; string bodies are shown truncated to 32 bytes and
// other bodies are never dumped. The format is not stable.
func (p *Posting) String() string {
	if p == nil {
		return "posting(nil)"
	}
	b := make([]byte, 0, 128)
	b = append(b, "posting{"...)
	b = append(b, p.Media.String()...)
	b = append(b, ' ')
	b = append(b, p.Kind.String()...)
	if p.Seq != 0 {
		b = append(b, " #"...)
		b = strconv.AppendUint(b, p.Seq, 10)
	}
	if p.Stream != "" {
		b = append(b, " stream="...)
		b = appendQuotedPrefix(b, p.Stream, maxStringStream)
	}
	if p.Sender != 0 {
		b = append(b, " sender="...)
		b = appendHex64(b, p.Sender)
	}
	if p.Correlation != 0 {
		b = append(b, " corr="...)
		b = strconv.AppendUint(b, p.Correlation, 10)
	}
	if p.ReplyTo != 0 {
		b = append(b, " replyto="...)
		b = appendHex64(b, p.ReplyTo)
	}
	if !p.Sent.IsZero() {
		b = append(b, " sent="...)
		b = p.Sent.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	if p.TTL != 0 {
		b = append(b, " ttl="...)
		b = append(b, p.TTL.String()...)
	}
	if p.ReplyWithin != 0 {
		b = append(b, " within="...)
		b = append(b, p.ReplyWithin.String()...)
	}
	if p.Key != "" {
		b = append(b, " key="...)
		b = appendQuotedPrefix(b, p.Key, maxStringStream)
	}
	if p.Frame != 0 || p.FrameEnd {
		b = append(b, " frame="...)
		b = strconv.AppendUint(b, p.Frame, 10)
		if p.FrameEnd {
			b = append(b, "(end)"...)
		}
	}
	if len(p.Headers) != 0 {
		b = append(b, " headers="...)
		b = strconv.AppendInt(b, int64(len(p.Headers)), 10)
	}
	b = append(b, " body="...)
	b = appendBodySummary(b, p.Body)
	b = append(b, '}')
	return string(b)
}

func appendHex64(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}

// appendQuotedPrefix appends s quoted, truncated at a rune boundary to at
// most limit bytes, followed by "..." and the total length when truncated.
func appendQuotedPrefix(b []byte, s string, limit int) []byte {
	if len(s) <= limit {
		return strconv.AppendQuote(b, s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	b = strconv.AppendQuote(b, s[:cut])
	b = append(b, "...("...)
	b = strconv.AppendInt(b, int64(len(s)), 10)
	return append(b, " bytes)"...)
}

func appendBodySummary(b []byte, body any) []byte {
	switch v := body.(type) {
	case nil:
		return append(b, "nil"...)
	case []byte:
		b = append(b, "[]byte("...)
		b = strconv.AppendInt(b, int64(len(v)), 10)
		return append(b, ')')
	case string:
		return appendQuotedPrefix(b, v, maxStringBody)
	case Raw:
		return appendRawSummary(b, &v)
	case *Raw:
		if v == nil {
			return append(b, "(*posting.Raw)(nil)"...)
		}
		return appendRawSummary(b, v)
	case bool, int, int64, uint64, float64:
		return fmt.Appendf(b, "%T(%v)", v, v)
	default:
		return fmt.Appendf(b, "%T", v)
	}
}

func appendRawSummary(b []byte, r *Raw) []byte {
	b = append(b, "raw("...)
	if r.Pointer {
		b = append(b, '*')
	}
	b = append(b, r.Type...)
	b = append(b, ", "...)
	b = strconv.AppendInt(b, int64(len(r.Data)), 10)
	b = append(b, " bytes"...)
	if r.Err != nil {
		b = append(b, ", undecoded"...)
	}
	return append(b, ')')
}
