package rwcli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rwanda-go/rwanda/internal/jsonval"
	"github.com/rwanda-go/rwanda/posting"
)

// maxDecode is the largest msgpack body rw decodes without its type (a
// posting.Raw): Raw.Decode has no memory budget, and rw is a tool for
// looking, not for receiving arbitrary data.
const maxDecode = 1 << 20

// Posting is the JSON form of a posting, one object per line with --json.
type Posting struct {
	Stream  string      `json:"stream"`
	Media   string      `json:"media"`
	Kind    string      `json:"kind"`
	Sender  string      `json:"sender"` // member id, 16 hex digits
	Seq     uint64      `json:"seq"`
	Sent    *time.Time  `json:"sent,omitempty"`
	AgeMS   *float64    `json:"age_ms,omitempty"` // now − Sent, in milliseconds (clocks of two hosts may differ)
	TTLMS   float64     `json:"ttl_ms,omitempty"`
	Key     string      `json:"key,omitempty"`
	Frame   uint64      `json:"frame,omitempty"`
	Headers [][2]string `json:"headers,omitempty"`
	// Type is the body's type: "nil", "bytes", "string", or the wire
	// type name of a msgpack body.
	Type string `json:"type"`
	Size int    `json:"size"` // bytes of the body ([]byte, string) or of its msgpack encoding
	// Body is the body as JSON: a string for text, base64 for other bytes
	// (Encoding "base64"), the decoded value for msgpack bodies.
	Body     any    `json:"body"`
	Encoding string `json:"encoding,omitempty"`
	// Raw says the body's type is not registered in rw: Body was decoded
	// from its msgpack bytes without it (maps keyed by field name).
	Raw   bool   `json:"raw,omitempty"`
	Error string `json:"error,omitempty"` // why the body could not be shown
}

// toJSON describes p; now is the time it is shown.
func toJSON(p *posting.Posting, now time.Time) Posting {
	j := Posting{Stream: p.Stream, Media: p.Media.String(), Kind: p.Kind.String(), Sender: fmt.Sprintf("%016x", p.Sender),
		Seq: p.Seq, Key: p.Key, Frame: p.Frame}
	if !p.Sent.IsZero() {
		sent := p.Sent
		age := float64(now.Sub(sent)) / float64(time.Millisecond)
		j.Sent, j.AgeMS = &sent, &age
	}
	if p.TTL > 0 {
		j.TTLMS = float64(p.TTL) / float64(time.Millisecond)
	}
	for _, h := range p.Headers {
		j.Headers = append(j.Headers, [2]string{h.Name, h.Value})
	}
	switch b := p.Body.(type) {
	case nil:
		j.Type = "nil"
	case []byte:
		j.Type, j.Size = "bytes", len(b)
		if utf8.Valid(b) {
			j.Body = string(b)
		} else {
			j.Body, j.Encoding = base64.StdEncoding.EncodeToString(b), "base64"
		}
	case string:
		j.Type, j.Size, j.Body = "string", len(b), b
	case posting.Raw:
		j.Type, j.Size = b.Type, len(b.Data)
		j.Body, j.Raw, j.Error = decodeRaw(b)
	default:
		j.Type, _ = posting.TypeName(b)
		j.Body = jsonval.Of(b)
	}
	return j
}

// decodeRaw decodes a body whose type rw does not know from its msgpack
// bytes into generic values.
func decodeRaw(r posting.Raw) (body any, raw bool, errText string) {
	if r.Err != nil && r.Err != posting.ErrNotRegistered {
		return nil, true, r.Err.Error()
	}
	if len(r.Data) > maxDecode {
		return nil, true, fmt.Sprintf("body of %d bytes not decoded (rw decodes unregistered bodies up to %d bytes)", len(r.Data), maxDecode)
	}
	var v any
	if err := r.Decode(&v); err != nil {
		return nil, true, err.Error()
	}
	return jsonval.Of(v), true, ""
}

// pretty is the one-line human form of p.
func pretty(p *posting.Posting, now time.Time) string {
	var b strings.Builder
	ts := now
	if !p.Sent.IsZero() {
		ts = p.Sent
	}
	fmt.Fprintf(&b, "%s %016x", ts.Format("15:04:05.000"), p.Sender)
	stream := p.Stream
	if stream == "" {
		stream = `""`
	}
	fmt.Fprintf(&b, " %s #%d %s", stream, p.Seq, p.Media)
	if p.Kind != posting.Message {
		fmt.Fprintf(&b, " %s", p.Kind)
	}
	if !p.Sent.IsZero() {
		fmt.Fprintf(&b, " age=%s", roundAge(now.Sub(p.Sent)))
	}
	for _, h := range p.Headers {
		fmt.Fprintf(&b, " %s=%s", h.Name, strconv.Quote(h.Value))
	}
	b.WriteString(": ")
	b.WriteString(bodyText(p.Body, 200))
	return b.String()
}

func roundAge(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond && d > -time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second && d > -time.Second:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// bodyText shows a body in at most max bytes of text.
func bodyText(body any, max int) string {
	cut := func(s string) string {
		if len(s) <= max {
			return s
		}
		return s[:max] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	switch b := body.(type) {
	case nil:
		return "(nil)"
	case string:
		return cut(b)
	case []byte:
		if utf8.Valid(b) {
			return cut(string(b))
		}
		return fmt.Sprintf("(%d bytes) %s", len(b), cut(fmt.Sprintf("% x", b[:min(len(b), 32)])))
	case posting.Raw:
		v, _, errText := decodeRaw(b)
		if errText != "" {
			return fmt.Sprintf("(%s, %d bytes: %s)", b.Type, len(b.Data), errText)
		}
		j, _ := json.Marshal(v)
		return b.Type + " " + cut(string(j))
	}
	name, _ := posting.TypeName(body)
	j, err := json.Marshal(jsonval.Of(body))
	if err != nil {
		return fmt.Sprintf("%s %v", name, body)
	}
	return name + " " + cut(string(j))
}
