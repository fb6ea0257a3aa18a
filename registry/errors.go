package registry

import (
	"errors"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every error reporting a malformed QoS string or
// parameter value, so callers can test for it with errors.Is.
var ErrSyntax = errors.New("registry: syntax error")

// Error is the error returned for a bad QoS string or parameter. It carries
// the input, the byte offset of the problem and the reason, so that a caller
// can point at the offending text.
//
// Errors for a QoS string returned by [Parse] always have 0 <= Offset <=
// len(Input) and wrap [ErrSyntax]. Errors returned by [ParseValue] have an
// empty Input and an Offset of -1, because there is no QoS string.
type Error struct {
	Input  string // the whole QoS string ("" if there is none)
	Offset int    // byte offset in Input where the problem starts (-1 if not known)
	Layer  string // layer name involved, if any
	Param  string // parameter key involved, if any
	Reason string // what is wrong, in words, e.g. `expected "=" after parameter name "mtu"`
	Err    error  // an underlying error, if any (Unwrap returns it)
}

// Error formats the error as
//
//	qos "frag(mtu=)": offset 9: layer frag: parameter mtu: expected a value after "="
//
// The qos part is left out when Input is empty, the offset part when Offset
// is negative, and the layer and parameter parts when they are empty. Reason
// is the whole description; Err's text is used only when Reason is empty
// (Err is there for errors.Is and errors.As).
func (e *Error) Error() string {
	var b strings.Builder
	if e.Input != "" {
		b.WriteString("qos ")
		b.WriteString(strconv.Quote(e.Input))
		b.WriteString(": ")
	}
	if e.Offset >= 0 {
		b.WriteString("offset ")
		b.WriteString(strconv.Itoa(e.Offset))
		b.WriteString(": ")
	}
	if e.Layer != "" {
		b.WriteString("layer ")
		b.WriteString(e.Layer)
		b.WriteString(": ")
	}
	if e.Param != "" {
		b.WriteString("parameter ")
		b.WriteString(e.Param)
		b.WriteString(": ")
	}
	switch {
	case e.Reason != "":
		b.WriteString(e.Reason)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("invalid QoS string")
	}
	return b.String()
}

// Unwrap returns the underlying error, Err.
func (e *Error) Unwrap() error { return e.Err }

// qosSyntaxError returns a syntax error at byte offset off of in.
func qosSyntaxError(in string, off int, layer, param, reason string) *Error {
	return &Error{Input: in, Offset: off, Layer: layer, Param: param, Reason: reason, Err: ErrSyntax}
}
