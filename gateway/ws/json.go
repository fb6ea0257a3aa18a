package ws

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/rwanda-go/rwanda/internal/jsonval"
	"github.com/rwanda-go/rwanda/posting"
)

// outMsg is a posting as a client receives it (see the package doc).
type outMsg struct {
	Sender   string           `json:"sender,omitempty"`
	Seq      uint64           `json:"seq,omitempty"`
	Stream   string           `json:"stream,omitempty"`
	Media    posting.Media    `json:"media"`
	Kind     string           `json:"kind"`
	Sent     float64          `json:"sent,omitempty"`
	TTL      float64          `json:"ttl,omitempty"`
	Key      string           `json:"key,omitempty"`
	Frame    string           `json:"frame,omitempty"`
	FrameEnd bool             `json:"frameEnd,omitempty"`
	Headers  []posting.Header `json:"headers,omitempty"`
	Text     *string          `json:"text,omitempty"`
	Base64   string           `json:"base64,omitempty"`
	Type     string           `json:"type,omitempty"`
	Value    json.RawMessage  `json:"value,omitempty"`
}

// inMsg is a client's message: a posting to push.
type inMsg struct {
	Ref      *float64         `json:"ref"`
	Stream   string           `json:"stream"`
	Media    string           `json:"media"`
	TTL      float64          `json:"ttl"`
	Key      string           `json:"key"`
	Frame    string           `json:"frame"`
	FrameEnd bool             `json:"frameEnd"`
	Headers  []posting.Header `json:"headers"`
	Text     *string          `json:"text"`
	Base64   *string          `json:"base64"`
}

// reply answers a client's message.
type reply struct {
	Ack   *float64 `json:"ack,omitempty"`
	Error string   `json:"error,omitempty"`
	Ref   *float64 `json:"ref,omitempty"`
}

// encodePosting returns p as a client's JSON message.
func encodePosting(p *posting.Posting) ([]byte, error) {
	m := outMsg{Seq: p.Seq, Stream: p.Stream, Media: p.Media, Kind: p.Kind.String(), Key: p.Key,
		FrameEnd: p.FrameEnd, Headers: p.Headers}
	if p.Sender != 0 {
		m.Sender = strconv.FormatUint(p.Sender, 16)
	}
	if !p.Sent.IsZero() {
		m.Sent = float64(p.Sent.UnixMicro()) / 1e3
	}
	if p.TTL > 0 {
		m.TTL = float64(p.TTL.Microseconds()) / 1e3
	}
	if p.Frame != 0 {
		m.Frame = strconv.FormatUint(p.Frame, 10)
	}
	switch b := p.Body.(type) {
	case nil:
	case string:
		m.Text = &b
	case []byte:
		m.Base64 = base64.StdEncoding.EncodeToString(b)
	case posting.Raw:
		m.Type = b.Type
		var v any
		if err := b.Decode(&v); err == nil { // bounded, as any body decode
			if j, err := json.Marshal(jsonval.Of(v)); err == nil {
				m.Value = j
				break
			}
		}
		m.Base64 = base64.StdEncoding.EncodeToString(b.Data) // not JSON-able: its msgpack
	case *posting.Raw:
		return encodePosting(withBody(p, *b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("ws: body of type %T: %w", b, err)
		}
		m.Type, m.Value = reflect.TypeOf(b).String(), j
	}
	return json.Marshal(&m)
}

func withBody(p *posting.Posting, body any) *posting.Posting {
	q := *p
	q.Body = body
	return &q
}

// errMessage is the cause of a refused client message.
var errMessage = errors.New("ws: bad message")

// decodeMessage turns a client's message into a posting to push, and its
// ref (nil when it gave none).
func decodeMessage(data []byte) (*posting.Posting, *float64, error) {
	var m inMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errMessage, err)
	}
	p := &posting.Posting{Stream: m.Stream, Key: m.Key, FrameEnd: m.FrameEnd, Headers: m.Headers}
	if m.Media != "" {
		md, err := posting.ParseMedia(m.Media)
		if err != nil {
			return nil, m.Ref, fmt.Errorf("%w: %v", errMessage, err)
		}
		p.Media = md
	}
	if m.TTL < 0 || m.TTL > float64(math.MaxInt64/int64(time.Millisecond)) || math.IsNaN(m.TTL) {
		return nil, m.Ref, fmt.Errorf("%w: ttl %v ms out of range", errMessage, m.TTL)
	}
	p.TTL = time.Duration(m.TTL * float64(time.Millisecond))
	if m.Frame != "" {
		f, err := strconv.ParseUint(m.Frame, 10, 64)
		if err != nil {
			return nil, m.Ref, fmt.Errorf("%w: frame %q: not a decimal uint64", errMessage, m.Frame)
		}
		p.Frame = f
	}
	switch {
	case m.Text != nil && m.Base64 != nil:
		return nil, m.Ref, fmt.Errorf("%w: both text and base64", errMessage)
	case m.Text != nil:
		p.Body = *m.Text
	case m.Base64 != nil:
		b, err := base64.StdEncoding.DecodeString(*m.Base64)
		if err != nil {
			return nil, m.Ref, fmt.Errorf("%w: base64: %v", errMessage, err)
		}
		p.Body = b
	}
	if err := p.Validate(); err != nil {
		return nil, m.Ref, fmt.Errorf("%w: %v", errMessage, err)
	}
	return p, m.Ref, nil
}
