package filter

import (
	"errors"
	"fmt"
	"path"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/rwanda-go/rwanda/posting"
)

// Medium is implemented by body types that declare the medium they carry.
type Medium interface {
	Medium() posting.Media
}

// Reason says which step of the classification decided.
type Reason uint8

// The reasons, in the order they are tried.
const (
	ByDefault  Reason = iota // nothing matched: Data
	ByField                  // the posting's Media field
	ByBody                   // the body's Medium method
	ByStream                 // a stream-name rule
	ByType                   // a Go-type rule
	ByContent                // content sniffing
	numReasons               // number of reasons
)

var reasonNames = [numReasons]string{"default", "field", "body", "stream", "type", "content"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Rule is one classification rule. Make rules with [StreamRule],
// [TypeRule] and [SniffRule].
type Rule struct {
	stream string       // a path.Match pattern, or ""
	typ    reflect.Type // a body type, or nil
	sniff  bool
	media  posting.Media
}

// StreamRule classifies postings on streams whose name matches pattern
// (path.Match syntax: "audio", "cam/*", "*.txt") as m.
func StreamRule(pattern string, m posting.Media) Rule { return Rule{stream: pattern, media: m} }

// TypeRule classifies postings whose body is a T (or a *T) as m.
func TypeRule[T any](m posting.Media) Rule {
	return Rule{typ: reflect.TypeFor[T](), media: m}
}

// SniffRule classifies []byte and string bodies by their content (see
// [Sniff]); bodies it cannot tell go on to the next rule.
func SniffRule() Rule { return Rule{sniff: true} }

func (r Rule) String() string {
	switch {
	case r.sniff:
		return "sniff"
	case r.typ != nil:
		return fmt.Sprintf("type %v → %v", r.typ, r.media)
	}
	return fmt.Sprintf("stream %q → %v", r.stream, r.media)
}

// ErrRule is wrapped by the errors of [New] for a bad rule.
var ErrRule = errors.New("filter: bad rule")

// Classifier assigns media classes to postings. It is immutable and safe
// for concurrent use.
type Classifier struct {
	rules []Rule
}

// New returns a classifier with the given rules, tried in order.
func New(rules ...Rule) (*Classifier, error) {
	for i, r := range rules {
		if !r.sniff && r.typ == nil {
			if r.stream == "" {
				return nil, fmt.Errorf("%w %d: an empty rule (use StreamRule, TypeRule or SniffRule)", ErrRule, i)
			}
			if _, err := path.Match(r.stream, ""); err != nil {
				return nil, fmt.Errorf("%w %d: stream pattern %q: %v", ErrRule, i, r.stream, err)
			}
		}
		if !r.sniff && !r.media.Valid() {
			return nil, fmt.Errorf("%w %d: invalid media %d", ErrRule, i, uint8(r.media))
		}
	}
	return &Classifier{rules: append([]Rule(nil), rules...)}, nil
}

var defaultClassifier = &Classifier{rules: []Rule{SniffRule()}}

// Default returns the classifier channels use unless told otherwise: the
// explicit field, the body's declaration, then content sniffing.
func Default() *Classifier { return defaultClassifier }

// Rules returns the classifier's rules.
func (c *Classifier) Rules() []Rule { return append([]Rule(nil), c.rules...) }

// Classify returns p's media class and what decided it. It does not change p.
func (c *Classifier) Classify(p *posting.Posting) (posting.Media, Reason) {
	if p.Media != posting.Data {
		return p.Media, ByField
	}
	if m, ok := p.Body.(Medium); ok {
		if v := m.Medium(); v.Valid() {
			return v, ByBody
		}
	}
	var bt reflect.Type
	for _, r := range c.rules {
		switch {
		case r.sniff:
			var m posting.Media
			ok := false
			switch b := p.Body.(type) {
			case []byte:
				m, ok = Sniff(b)
			case string:
				m, ok = sniffString(b)
			}
			if ok {
				return m, ByContent
			}
		case r.typ != nil:
			if bt == nil && p.Body != nil {
				bt = reflect.TypeOf(p.Body)
			}
			if bt == r.typ || bt != nil && bt.Kind() == reflect.Pointer && bt.Elem() == r.typ {
				return r.media, ByType
			}
		default:
			if ok, _ := path.Match(r.stream, p.Stream); ok {
				return r.media, ByStream
			}
		}
	}
	return posting.Data, ByDefault
}

// SniffLen is how many leading bytes [Sniff] looks at.
const SniffLen = 512

type magic struct {
	off   int
	sig   string
	media posting.Media
}

// Signatures of common formats, at their offsets.
var magics = []magic{
	// Images.
	{0, "\x89PNG\r\n\x1a\n", posting.Image},
	{0, "\xff\xd8\xff", posting.Image}, // JPEG
	{0, "GIF87a", posting.Image},
	{0, "GIF89a", posting.Image},
	{0, "BM", posting.Image}, // BMP (checked with more care below)
	{0, "II*\x00", posting.Image},
	{0, "MM\x00*", posting.Image},
	// Audio.
	{0, "fLaC", posting.Audio},
	{0, "ID3", posting.Audio},                  // MP3 with an ID3 tag
	{0, "OggS", posting.Audio},                 // Ogg: Opus and Vorbis mostly
	{0, "#!AMR", posting.Audio},                // AMR
	{0, ".snd", posting.Audio},                 // Sun/NeXT audio
	{0, "MThd", posting.Audio},                 // MIDI
	{0, "\x1aE\xdf\xa3", posting.Video},        // Matroska / WebM
	{0, "\x00\x00\x00\x01\x67", posting.Video}, // H.264 Annex B, SPS first
	{0, "\x00\x00\x01\xba", posting.Video},     // MPEG program stream
	{0, "\x00\x00\x01\xb3", posting.Video},     // MPEG-1/2 video sequence
	{4, "ftyp", posting.Video},                 // MP4 / QuickTime / 3GP
	{0, "FLV\x01", posting.Video},
}

// magicsByFirst holds the signatures at offset 0 by their first byte,
// and magicsInside the others, each in the order of magics: Sniff runs
// for every []byte body pushed without a medium, so it tries only the
// signatures that can match.
var magicsByFirst, magicsInside = func() (by [256][]magic, inside []magic) {
	for _, m := range magics {
		if m.off == 0 {
			by[m.sig[0]] = append(by[m.sig[0]], m)
		} else {
			inside = append(inside, m)
		}
	}
	return by, inside
}()

// Sniff tells the medium of a byte body from its first [SniffLen] bytes:
// images (PNG, JPEG, GIF, BMP, TIFF, WebP), audio (WAV, FLAC, MP3, Ogg,
// AMR, AU, MIDI, AAC ADTS, MPEG audio frames), video (MP4, WebM/Matroska,
// AVI, FLV, MPEG, MPEG-TS, H.264), and text (valid UTF-8 without control
// characters other than whitespace). It reports false when it cannot tell.
func Sniff(b []byte) (posting.Media, bool) {
	cut := len(b) > SniffLen
	if cut {
		b = b[:SniffLen]
	}
	if len(b) == 0 {
		return 0, false
	}
	if len(b) >= 12 && string(b[:4]) == "RIFF" {
		switch string(b[8:12]) {
		case "WAVE":
			return posting.Audio, true
		case "WEBP":
			return posting.Image, true
		case "AVI ":
			return posting.Video, true
		}
	}
	// Only the signatures that begin with b's first byte, then those
	// further in: the same answers as trying them all in order (the one
	// signature at an offset, ftyp, and the offset-0 ones that follow it
	// in magics, FLV's, give the same medium).
	for _, m := range magicsByFirst[b[0]] {
		if len(b) >= len(m.sig) && string(b[:len(m.sig)]) == m.sig {
			if m.sig == "BM" && (len(b) < 14 || b[6]|b[7]|b[8]|b[9] != 0) {
				continue // "BM" alone is too common a start for text: BMP's reserved bytes must be 0
			}
			return m.media, true
		}
	}
	for _, m := range magicsInside {
		if len(b) >= m.off+len(m.sig) && string(b[m.off:m.off+len(m.sig)]) == m.sig {
			return m.media, true
		}
	}
	// MPEG transport stream: a sync byte every 188.
	if len(b) >= 189 && b[0] == 0x47 && b[188] == 0x47 {
		return posting.Video, true
	}
	// MPEG audio frames (11 sync bits, a layer) and AAC ADTS (12 sync bits,
	// layer 0).
	if len(b) >= 4 && b[0] == 0xff && (b[1]&0xf6 == 0xf0 || b[1]&0xe0 == 0xe0 && b[1]&0x06 != 0) {
		return posting.Audio, true
	}
	if isText(b, cut) {
		return posting.Text, true
	}
	return 0, false
}

func sniffString(s string) (posting.Media, bool) {
	if len(s) > SniffLen+1 {
		s = s[:SniffLen+1] // one more byte, so Sniff knows it was cut
	}
	return Sniff([]byte(s))
}

// isText reports whether b is UTF-8 text without control characters other
// than whitespace. When b was cut from a longer body, a rune cut off at its
// end is allowed.
func isText(b []byte, cut bool) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return cut && !utf8.FullRune(b[i:])
		}
		i += n
	}
	return true
}

// Profile is the stack a medium gets and the time to live given to its
// postings that carry none (0: none).
type Profile struct {
	QoS string
	TTL time.Duration
}

// Table maps media classes to profiles.
type Table map[posting.Media]Profile

// DefaultTable returns the profiles channels use unless told otherwise
// (see the package documentation).
func DefaultTable() Table {
	return Table{
		posting.Audio:   {QoS: "frag(mtu=600)/order/window(mode=besteffort)", TTL: 100 * time.Millisecond},
		posting.Video:   {QoS: "media"},
		posting.Text:    {QoS: "compress/reliable"},
		posting.Image:   {QoS: "refresh/frag/order/window(ttl=2s)"},
		posting.Control: {QoS: "reliable"},
		posting.Data:    {QoS: "reliable"},
	}
}
