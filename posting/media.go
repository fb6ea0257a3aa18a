package posting

import (
	"fmt"
	"strconv"
	"strings"
)

// Media is a posting's media class. It tells receivers what kind of content
// a posting carries, so that they can route, prioritise or drop postings
// without looking at the body. The zero value is [Data].
//
// Media values occupy 4 bits on the wire; only the constants below are
// valid.
type Media uint8

// The media classes.
const (
	Data    Media = iota // default: opaque application data
	Audio                // audio samples or frames
	Video                // video frames
	Text                 // human-readable text
	Image                // still images
	Control              // protocol or application control messages
)

// numMedia is the number of valid media classes.
const numMedia = int(Control) + 1

var mediaNames = [numMedia]string{
	Data:    "data",
	Audio:   "audio",
	Video:   "video",
	Text:    "text",
	Image:   "image",
	Control: "control",
}

// validMediaList is the list of valid names used in ParseMedia errors.
var validMediaList = strings.Join(mediaNames[:], ", ")

// String returns the lower-case name of m ("data", "audio", "video", "text",
// "image" or "control"), or "media(N)" for an invalid value N.
func (m Media) String() string {
	if m.Valid() {
		return mediaNames[m]
	}
	return "media(" + strconv.Itoa(int(m)) + ")"
}

// Valid reports whether m is one of the defined media classes.
func (m Media) Valid() bool { return int(m) < numMedia }

// ParseMedia returns the media class named s. Names are matched without
// regard to case. The error for an unknown name quotes s and lists the valid
// names.
func ParseMedia(s string) (Media, error) {
	for i, name := range mediaNames {
		if strings.EqualFold(s, name) {
			return Media(i), nil
		}
	}
	return 0, fmt.Errorf("posting: unknown media %q (valid: %s)", s, validMediaList)
}

// MarshalText implements [encoding.TextMarshaler]. It returns the name of m,
// or an error if m is not valid.
func (m Media) MarshalText() ([]byte, error) {
	if !m.Valid() {
		return nil, fmt.Errorf("posting: cannot marshal invalid media %d", uint8(m))
	}
	return []byte(mediaNames[m]), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] using [ParseMedia].
// On error m is left unchanged.
func (m *Media) UnmarshalText(text []byte) error {
	v, err := ParseMedia(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Kind says what role a posting plays in an exchange. The zero value is
// [Message].
//
// Kind values occupy 4 bits on the wire (2 bits in version 1, which had
// no Cancel); only the constants below are valid.
type Kind uint8

// The posting kinds.
const (
	Message Kind = iota // a one-way push
	Request             // a Pull request; expects a Reply or Fault with the same Correlation
	Reply               // the answer to a Request
	Fault               // an error answer to a Request; Body is the error text (string)
	Cancel              // the requester gave up on a Request; Correlation names the request and must be set
)

// numKinds is the number of valid kinds.
const numKinds = int(Cancel) + 1

var kindNames = [numKinds]string{
	Message: "message",
	Request: "request",
	Reply:   "reply",
	Fault:   "fault",
	Cancel:  "cancel",
}

// String returns the lower-case name of k ("message", "request", "reply",
// "fault" or "cancel"), or "kind(N)" for an invalid value N.
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return int(k) < numKinds }
