package registry

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on QoS strings.
const (
	qosMaxInput  = 4096 // bytes in a QoS string, and in its canonical form
	qosMaxLayers = 64   // layers in a QoS string
	qosMaxParams = 32   // parameters in one layer
	qosMaxName   = 64   // bytes in a layer name or parameter key
)

// Param is one key=value parameter of a layer in a QoS string.
type Param struct {
	Key    string // parameter name, [a-z][a-z0-9_-]*
	Value  Value  // parameter value
	Offset int    // byte offset of Key in the input (0 when built in code)
}

// LayerSpec is one entry of a QoS string: a layer name and its parameters,
// such as frag(mtu=1200).
type LayerSpec struct {
	Name   string  // layer (or profile) name, [a-z][a-z0-9_-]*
	Params []Param // in canonical order: sorted by Key; nil when there are none
	Offset int     // byte offset of Name in the input (0 when built in code)
}

// String returns the canonical text of the layer: its name alone when it
// has no parameters, else name(k=v,k2=v2) with keys sorted and no spaces.
func (l LayerSpec) String() string {
	if len(l.Params) == 0 {
		return l.Name
	}
	var b strings.Builder
	l.writeTo(&b)
	return b.String()
}

func (l LayerSpec) writeTo(b *strings.Builder) {
	b.WriteString(l.Name)
	if len(l.Params) == 0 {
		return
	}
	b.WriteByte('(')
	for i, p := range qosSortedParams(l.Params) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(p.Value.String())
	}
	b.WriteByte(')')
}

// Param returns the parameter with the given key.
func (l LayerSpec) Param(key string) (Param, bool) {
	for _, p := range l.Params {
		if p.Key == key {
			return p, true
		}
	}
	return Param{}, false
}

// qosSortedParams returns ps sorted by key, copying only if ps is not sorted
// already (as it is when built by Parse).
func qosSortedParams(ps []Param) []Param {
	cmp := func(a, b Param) int { return strings.Compare(a.Key, b.Key) }
	if slices.IsSortedFunc(ps, cmp) {
		return ps
	}
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, cmp)
	return ps
}

// Spec is a parsed QoS string: its layers, application side first.
type Spec struct {
	Input  string      // the text it was parsed from ("" when built in code)
	Layers []LayerSpec // outermost (application side) first; nil when empty
}

// String returns the canonical text of the spec: the canonical text of its
// layers joined by "/", or "" for an empty spec. Parsing the canonical text
// gives an equal Spec, and printing that again gives the same text.
func (s Spec) String() string {
	var b strings.Builder
	for i, l := range s.Layers {
		if i > 0 {
			b.WriteByte('/')
		}
		l.writeTo(&b)
	}
	return b.String()
}

// Equal reports whether s and t have the same canonical content: the same
// layers in the same order, with the same parameters and equal values. Input
// and offsets are ignored, and so is the order of parameters in a layer.
func (s Spec) Equal(t Spec) bool {
	if len(s.Layers) != len(t.Layers) {
		return false
	}
	for i, l := range s.Layers {
		m := t.Layers[i]
		if l.Name != m.Name || len(l.Params) != len(m.Params) {
			return false
		}
		lp, mp := qosSortedParams(l.Params), qosSortedParams(m.Params)
		for j := range lp {
			if lp[j].Key != mp[j].Key || !lp[j].Value.Equal(mp[j].Value) {
				return false
			}
		}
	}
	return true
}

// MustParse is like [Parse] but panics if the QoS string cannot be parsed.
// It is meant for tests and for package-level variables.
func MustParse(qos string) Spec {
	s, err := Parse(qos)
	if err != nil {
		panic(err)
	}
	return s
}

// Parse parses a QoS string into its layers, outermost (application side)
// first. Parsing is purely syntactic: layer and parameter names are not
// looked up anywhere, and values are typed by their text alone (see
// [ParseValue]).
//
// The grammar is
//
//	qos    := "" | layer ( "/" layer )*
//	layer  := name [ "(" [ param ( "," param )* ] ")" ]
//	param  := key "=" value
//	name, key := [a-z][a-z0-9_-]*
//
// Spaces and tabs may surround every token and are ignored; a string of
// only spaces and tabs is an empty stack. A value extends to the next ','
// or ')'. Empty parentheses mean no parameters. Names and keys are at most
// 64 bytes long, a layer has at most 32 parameters, and a QoS string has at
// most 64 layers and at most 4096 bytes, a limit its canonical form must
// also keep to.
//
// Errors are of type [*Error], with 0 <= Offset <= len(qos), and wrap
// [ErrSyntax].
func Parse(qos string) (Spec, error) {
	spec := Spec{Input: qos}
	if len(qos) > qosMaxInput {
		return Spec{}, qosSyntaxError(qos, qosMaxInput, "", "",
			"QoS string is "+strconv.Itoa(len(qos))+" bytes long; the limit is "+strconv.Itoa(qosMaxInput))
	}
	p := qosParser{in: qos}
	p.skipSpace()
	if p.eof() {
		return spec, nil
	}
	canon := -1 // length of the canonical form so far
	for {
		if len(spec.Layers) == qosMaxLayers {
			return Spec{}, p.errorf(p.pos, "", "", "too many layers: the limit is "+strconv.Itoa(qosMaxLayers))
		}
		l, parens, err := p.layer()
		if err != nil {
			return Spec{}, err
		}
		canon += 1 + len(l.String())
		if canon > qosMaxInput {
			return Spec{}, p.errorf(l.Offset, l.Name, "",
				"canonical form of the QoS string is longer than "+strconv.Itoa(qosMaxInput)+" bytes")
		}
		spec.Layers = append(spec.Layers, l)

		p.skipSpace()
		if p.eof() {
			return spec, nil
		}
		if c := p.in[p.pos]; c != '/' {
			want := `"/" or end of input`
			if !parens {
				want = `"(", ` + want
			}
			return Spec{}, p.errorf(p.pos, l.Name, "",
				"unexpected "+p.quoteAt(p.pos)+" after the layer; expected "+want)
		}
		slash := p.pos
		p.pos++
		p.skipSpace()
		switch {
		case p.eof():
			return Spec{}, p.errorf(slash, "", "", `trailing "/": expected a layer name after it`)
		case p.in[p.pos] == '/':
			return Spec{}, p.errorf(p.pos, "", "", `empty layer between "/" separators`)
		}
	}
}

// qosParser is the state of Parse.
type qosParser struct {
	in  string
	pos int
}

func (p *qosParser) eof() bool { return p.pos >= len(p.in) }

func (p *qosParser) skipSpace() {
	for p.pos < len(p.in) && (p.in[p.pos] == ' ' || p.in[p.pos] == '\t') {
		p.pos++
	}
}

func (p *qosParser) errorf(off int, layer, param, reason string) *Error {
	return qosSyntaxError(p.in, off, layer, param, reason)
}

// quoteAt returns the character at byte offset i, quoted, or "end of input".
func (p *qosParser) quoteAt(i int) string {
	if i >= len(p.in) {
		return "end of input"
	}
	_, size := utf8.DecodeRuneInString(p.in[i:])
	return strconv.Quote(p.in[i : i+size])
}

// name scans a layer name or parameter key at p.pos; what is "layer" or
// "parameter", layer the enclosing layer, if any.
func (p *qosParser) name(what, layer string) (string, *Error) {
	start := p.pos
	if p.eof() || !qosIsNameStart(p.in[start]) {
		reason := "expected " + what + " name, found " + p.quoteAt(start)
		if !p.eof() && 'A' <= p.in[start] && p.in[start] <= 'Z' {
			reason += " (names are lowercase)"
		}
		return "", p.errorf(start, layer, "", reason)
	}
	for p.pos < len(p.in) && qosIsNameByte(p.in[p.pos]) {
		p.pos++
	}
	name := p.in[start:p.pos]
	if len(name) > qosMaxName {
		return "", p.errorf(start, layer, "",
			what+" name is "+strconv.Itoa(len(name))+" bytes long; the limit is "+strconv.Itoa(qosMaxName))
	}
	if !p.eof() && 'A' <= p.in[p.pos] && p.in[p.pos] <= 'Z' {
		return "", p.errorf(p.pos, layer, "",
			"invalid character "+p.quoteAt(p.pos)+" in "+what+" name (names are lowercase)")
	}
	return name, nil
}

func qosIsNameStart(c byte) bool { return 'a' <= c && c <= 'z' }

func qosIsNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// layer parses one layer at p.pos, which is not at white space, and reports
// whether it had parentheses.
func (p *qosParser) layer() (l LayerSpec, parens bool, err *Error) {
	l.Offset = p.pos
	name, err := p.name("layer", "")
	if err != nil {
		return LayerSpec{}, false, err
	}
	l.Name = name
	p.skipSpace()
	if p.eof() || p.in[p.pos] != '(' {
		return l, false, nil
	}
	open := p.pos
	p.pos++
	p.skipSpace()
	if !p.eof() && p.in[p.pos] == ')' {
		p.pos++
		return l, true, nil
	}
	unclosed := func() *Error {
		return p.errorf(len(p.in), l.Name, "", `missing ")" to close "(" at offset `+strconv.Itoa(open))
	}
	for {
		if len(l.Params) == qosMaxParams {
			return LayerSpec{}, false, p.errorf(p.pos, l.Name, "", "too many parameters: the limit is "+strconv.Itoa(qosMaxParams))
		}
		keyOff := p.pos
		key, err := p.name("parameter", l.Name)
		if err != nil {
			return LayerSpec{}, false, err
		}
		if prev, dup := l.Param(key); dup {
			return LayerSpec{}, false, p.errorf(keyOff, l.Name, key,
				"duplicate parameter "+strconv.Quote(key)+" (first at offset "+strconv.Itoa(prev.Offset)+")")
		}
		p.skipSpace()
		if p.eof() || p.in[p.pos] != '=' {
			return LayerSpec{}, false, p.errorf(p.pos, l.Name, key,
				`expected "=" after parameter name `+strconv.Quote(key)+", found "+p.quoteAt(p.pos))
		}
		p.pos++
		p.skipSpace()
		valOff := p.pos
		end := len(p.in)
		if i := strings.IndexAny(p.in[valOff:], ",)"); i >= 0 {
			end = valOff + i
		}
		text := qosTrimSpace(p.in[valOff:end])
		if text == "" {
			return LayerSpec{}, false, p.errorf(valOff, l.Name, key, `expected a value after "="`)
		}
		if end == len(p.in) {
			return LayerSpec{}, false, unclosed()
		}
		v, reason := valParse(text)
		if reason != "" {
			return LayerSpec{}, false, p.errorf(valOff, l.Name, key, reason)
		}
		l.Params = append(l.Params, Param{Key: key, Value: v, Offset: keyOff})
		p.pos = end + 1
		if p.in[end] == ')' {
			break
		}
		p.skipSpace()
		switch {
		case p.eof():
			return LayerSpec{}, false, unclosed()
		case p.in[p.pos] == ')':
			return LayerSpec{}, false, p.errorf(end, l.Name, "", `trailing "," before ")"`)
		}
	}
	slices.SortFunc(l.Params, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
	return l, true, nil
}

// qosTrimSpace trims the spaces and tabs around s.
func qosTrimSpace(s string) string { return strings.Trim(s, " \t") }
