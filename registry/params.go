package registry

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ParamKind is the type a layer gives one of its parameters.
type ParamKind uint8

const (
	// IntParam is an integer: 7, -1.
	IntParam ParamKind = iota + 1
	// SizeParam is a byte count: 1200, 1500B, 64KiB, 1MB.
	SizeParam
	// DurationParam is a duration with a unit: 200ms, 1.5s.
	DurationParam
	// BoolParam is true or false.
	BoolParam
	// IdentParam is a word, optionally restricted to [ParamInfo.Choices].
	IdentParam
	// PercentParam is a share: 10% (read as the fraction 0.1).
	PercentParam
	// FloatParam is a number: 0.25, 3.
	FloatParam
)

func (k ParamKind) String() string {
	switch k {
	case IntParam:
		return "int"
	case SizeParam:
		return "size"
	case DurationParam:
		return "duration"
	case BoolParam:
		return "bool"
	case IdentParam:
		return "identifier"
	case PercentParam:
		return "percent"
	case FloatParam:
		return "float"
	}
	return fmt.Sprintf("ParamKind(%d)", k)
}

// example is how errors describe what a kind of parameter looks like.
func (k ParamKind) example() string {
	switch k {
	case IntParam:
		return "an integer such as 64"
	case SizeParam:
		return "a size such as 1200 or 64KiB"
	case DurationParam:
		return "a duration such as 200ms"
	case BoolParam:
		return "true or false"
	case IdentParam:
		return "a word"
	case PercentParam:
		return "a percentage such as 10%"
	case FloatParam:
		return "a number such as 0.5"
	}
	return k.String()
}

// ParamInfo describes one parameter a layer accepts.
type ParamInfo struct {
	Name string    // key in the QoS string
	Kind ParamKind // its type
	// Default is the value used when the parameter is not given, written as
	// in a QoS string ("1200", "2s", "s2"); "" means the zero value of the
	// kind and that the layer treats "not set" specially (see Doc).
	Default string
	// Choices restricts an IdentParam to these words, when not empty.
	Choices []string
	// Doc says what the parameter does, in one line.
	Doc string
	// Min and Max bound the value a receiver accepts when another member
	// announces a stack with this layer, written as in a QoS string ("" =
	// no bound on that side). They are the receive policy's defaults
	// (see [Registry.CheckLimits]): a parameter that sizes memory, work or
	// how often receivers answer should have them. They do not restrict
	// what a program builds for itself.
	Min, Max string
}

// numeric reports whether values of the kind can be bounded.
func (k ParamKind) numeric() bool {
	switch k {
	case IntParam, SizeParam, DurationParam, PercentParam, FloatParam:
		return true
	}
	return false
}

// num returns v as a float64 for comparisons between values of kind k.
func (k ParamKind) num(v Value) float64 {
	switch k {
	case IntParam:
		n, _ := v.Int()
		return float64(n)
	case SizeParam:
		n, _ := v.Size()
		return float64(n)
	case DurationParam:
		d, _ := v.Duration()
		return float64(d)
	}
	f, _ := v.Float()
	return f
}

// accepts coerces v to the parameter's kind, or explains why it cannot.
func (pi ParamInfo) accepts(v Value) (Value, string) {
	ok := false
	switch pi.Kind {
	case IntParam:
		_, ok = v.Int()
	case SizeParam:
		_, ok = v.Size()
	case DurationParam:
		_, ok = v.Duration()
	case BoolParam:
		_, ok = v.Bool()
	case IdentParam:
		var s string
		if s, ok = v.Ident(); ok && len(pi.Choices) > 0 && !slices.Contains(pi.Choices, s) {
			return Value{}, fmt.Sprintf("want one of %s, got %q", strings.Join(pi.Choices, ", "), s)
		}
	case PercentParam:
		ok = v.Kind() == PercentValue
	case FloatParam:
		ok = v.Kind() == NumberValue
	}
	if !ok {
		return Value{}, fmt.Sprintf("want %s, got %s %s", pi.Kind.example(), v.Kind(), v)
	}
	return v, ""
}

// Params are a layer's parameters, checked against the [ParamInfo] the
// layer declared and completed with defaults before its [Builder] sees
// them: every declared parameter has a value of its declared kind, and no
// undeclared key got through. The accessors panic when asked for a name the
// layer did not declare, or with the wrong kind: that is a bug in the
// builder, not bad input.
type Params struct {
	spec  LayerSpec
	input string
	info  []ParamInfo
	vals  []Value
	set   []bool
}

func newParams(input string, spec LayerSpec, info []ParamInfo, defaults []Value) (*Params, error) {
	p := &Params{spec: spec, input: input, info: info, vals: slices.Clone(defaults), set: make([]bool, len(info))}
	for _, kv := range spec.Params {
		i := slices.IndexFunc(info, func(pi ParamInfo) bool { return pi.Name == kv.Key })
		if i < 0 {
			known := make([]string, len(info))
			for j, pi := range info {
				known[j] = pi.Name
			}
			reason := fmt.Sprintf("unknown parameter %q", kv.Key)
			if len(known) == 0 {
				reason += "; the layer takes none"
			} else {
				reason += "; known: " + strings.Join(known, ", ")
			}
			return nil, &Error{Input: input, Offset: kv.Offset, Layer: spec.Name, Param: kv.Key, Reason: reason, Err: ErrParam}
		}
		v, why := info[i].accepts(kv.Value)
		if why != "" {
			return nil, &Error{Input: input, Offset: kv.Offset, Layer: spec.Name, Param: kv.Key, Reason: why, Err: ErrParam}
		}
		p.vals[i], p.set[i] = v, true
	}
	return p, nil
}

// Layer is the name of the layer the parameters are for.
func (p *Params) Layer() string { return p.spec.Name }

// Spec is the layer's entry as parsed from the QoS string.
func (p *Params) Spec() LayerSpec { return p.spec }

// IsSet reports whether the QoS string gave the parameter explicitly.
func (p *Params) IsSet(name string) bool { return p.set[p.index(name, 0)] }

// Value returns the parameter's value (its default when not set).
func (p *Params) Value(name string) Value { return p.vals[p.index(name, 0)] }

// Int returns an IntParam.
func (p *Params) Int(name string) int64 {
	v, _ := p.vals[p.index(name, IntParam)].Int()
	return v
}

// Size returns a SizeParam, in bytes.
func (p *Params) Size(name string) int64 {
	v, _ := p.vals[p.index(name, SizeParam)].Size()
	return v
}

// Duration returns a DurationParam.
func (p *Params) Duration(name string) time.Duration {
	v, _ := p.vals[p.index(name, DurationParam)].Duration()
	return v
}

// Bool returns a BoolParam.
func (p *Params) Bool(name string) bool {
	v, _ := p.vals[p.index(name, BoolParam)].Bool()
	return v
}

// Ident returns an IdentParam.
func (p *Params) Ident(name string) string {
	v, _ := p.vals[p.index(name, IdentParam)].Ident()
	return v
}

// Percent returns a PercentParam as a fraction: 10% is 0.1.
func (p *Params) Percent(name string) float64 {
	v, _ := p.vals[p.index(name, PercentParam)].Float()
	return v
}

// Float returns a FloatParam.
func (p *Params) Float(name string) float64 {
	v, _ := p.vals[p.index(name, FloatParam)].Float()
	return v
}

// Errorf returns an *[Error] about parameter name of this layer, pointing
// at where the QoS string gave it (or at the layer when it used the
// default). Builders use it for values of the right kind that are still
// unacceptable ("window size 0 is too small").
func (p *Params) Errorf(name, format string, args ...any) error {
	off := p.spec.Offset
	if kv, ok := p.spec.Param(name); ok {
		off = kv.Offset
	}
	if p.input == "" {
		off = -1
	}
	return &Error{Input: p.input, Offset: off, Layer: p.spec.Name, Param: name, Reason: fmt.Sprintf(format, args...), Err: ErrParam}
}

func (p *Params) index(name string, kind ParamKind) int {
	for i, pi := range p.info {
		if pi.Name == name {
			if kind != 0 && pi.Kind != kind {
				panic(fmt.Sprintf("registry: layer %s reads parameter %s as %s; it is declared %s", p.spec.Name, name, kind, pi.Kind))
			}
			return i
		}
	}
	panic(fmt.Sprintf("registry: layer %s reads parameter %s, which it does not declare", p.spec.Name, name))
}
