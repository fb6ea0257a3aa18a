package window

import "encoding/binary"

// Span is a half-open range of 32-bit sequence numbers [From, To), as a
// NAK carries them (the low 32 bits of stack.Meta.Seq).
type Span struct{ From, To uint32 }

// NakSpans reads the ranges of a NAK, the control packet a receiver's
// window sends in nak mode, for a layer below the window that answers
// some of them itself (fec answers with parity). It appends to spans and
// reports false when b is not a well-formed NAK.
func NakSpans(b []byte, spans []Span) ([]Span, bool) {
	if len(b) < 1 || b[0] != msgNak {
		return spans, false
	}
	var m msg
	n, err := decode(b, &m)
	if err != nil || n != len(b) {
		return spans, false
	}
	for _, s := range m.spans {
		spans = append(spans, Span{s.from, s.to})
	}
	return spans, true
}

// AppendNak appends a NAK for spans (at most 64 of them, the rest left
// out) to b: what a layer below the window passes up in place of a NAK
// whose other ranges it answered itself. The window takes a NAK without
// ranges for malformed: pass none up instead.
func AppendNak(b []byte, spans []Span) []byte {
	spans = spans[:min(len(spans), maxRanges)]
	b = append(b, msgNak, byte(len(spans)))
	for _, s := range spans {
		b = binary.BigEndian.AppendUint32(b, s.From)
		b = binary.BigEndian.AppendUint32(b, s.To)
	}
	return b
}
