package registry

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// ValueKind is the lexical kind of a parameter value. The kind is decided
// by the text of the value alone, never by the layer it belongs to.
type ValueKind uint8

// The kinds of parameter values.
const (
	// NumberValue is a decimal number: an optional '-', digits, and an
	// optional '.' followed by digits, e.g. 7, -1, 0.25. There is no
	// exponent form.
	NumberValue ValueKind = iota + 1
	// SizeValue is a byte count: a non-negative integer immediately
	// followed by a unit, one of B, KiB, MiB, GiB (binary) or kB, KB, MB,
	// GB (decimal; kB and KB both mean 1000), e.g. 64KiB, 1500B.
	SizeValue
	// DurationValue is a non-negative duration in the syntax of
	// time.ParseDuration, starting with a digit or '.' and carrying a unit,
	// e.g. 200ms, 1.5s, 1m30s, 500us.
	DurationValue
	// PercentValue is a number followed by '%', between 0% and 100%
	// inclusive, e.g. 10%, 0.5%.
	PercentValue
	// BoolValue is exactly true or false.
	BoolValue
	// IdentValue is an identifier, [A-Za-z_][A-Za-z0-9_.:-]*, other than
	// true and false, e.g. aes-gcm, s2, drop_oldest.
	IdentValue
)

// String returns the name of the kind: "number", "size", "duration",
// "percent", "bool" or "identifier".
func (k ValueKind) String() string {
	switch k {
	case NumberValue:
		return "number"
	case SizeValue:
		return "size"
	case DurationValue:
		return "duration"
	case PercentValue:
		return "percent"
	case BoolValue:
		return "bool"
	case IdentValue:
		return "identifier"
	}
	return "ValueKind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a parsed parameter value. The zero Value is invalid: its Kind is
// 0 and all its accessors report false.
//
// Values are comparable with == and with [Value.Equal]; two values are equal
// exactly when they have the same kind and the same canonical text.
type Value struct {
	kind ValueKind
	n    int64   // integral number or percent, size in bytes, duration in ns, bool as 0/1
	f    float64 // number or percent that is not an integer in int64 range (isF set)
	isF  bool    // the number or percent is held in f rather than n
	s    string  // identifier
}

// valExpected is the reason given for text that is no kind of value.
const valExpected = "expected a number, size, duration, percent, bool or identifier"

// ParseValue classifies and parses one parameter value, such as "64KiB",
// "200ms" or "aes-gcm". Leading and trailing spaces and tabs are ignored.
// It is used by [Parse] and for default values written in Go code.
//
// On failure it returns an [*Error] that wraps [ErrSyntax], with an empty
// Input and an Offset of -1.
func ParseValue(s string) (Value, error) {
	v, reason := valParse(qosTrimSpace(s))
	if reason != "" {
		return Value{}, &Error{Offset: -1, Reason: reason, Err: ErrSyntax}
	}
	return v, nil
}

// valParse classifies s, which has no surrounding white space. It returns
// the value, or a reason why s is not a valid value.
func valParse(s string) (Value, string) {
	if s == "" {
		return Value{}, "empty value: " + valExpected
	}
	c := s[0]
	switch {
	case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		switch s {
		case "true":
			return Value{kind: BoolValue, n: 1}, ""
		case "false":
			return Value{kind: BoolValue}, ""
		}
		if valIsIdent(s) {
			return Value{kind: IdentValue, s: s}, ""
		}
	case c == '-' || c == '.' || '0' <= c && c <= '9':
		return valParseNumeric(s)
	}
	return Value{}, valInvalid(s)
}

func valInvalid(s string) string {
	return "invalid value " + strconv.Quote(s) + ": " + valExpected
}

// valParseNumeric parses s, which starts with '-', '.' or a digit, as a
// number, percent, size or duration.
func valParseNumeric(s string) (Value, string) {
	if valIsNumber(s) {
		return valNumber(NumberValue, s)
	}
	if num, ok := strings.CutSuffix(s, "%"); ok {
		if !valIsNumber(num) {
			return Value{}, valInvalid(s)
		}
		v, reason := valNumber(PercentValue, num)
		if reason != "" {
			return Value{}, reason
		}
		if v.isF && (v.f < 0 || v.f > 100) || !v.isF && (v.n < 0 || v.n > 100) {
			return Value{}, "percent " + strconv.Quote(s) + " is out of range: must be between 0% and 100%"
		}
		return v, ""
	}
	if num, mult, ok := valCutSizeUnit(s); ok {
		if valIsDigits(num) {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n > math.MaxInt64/mult {
				return Value{}, "size " + strconv.Quote(s) + " is out of range: more than 9223372036854775807 bytes"
			}
			return Value{kind: SizeValue, n: n * mult}, ""
		}
		if valIsNumber(num) {
			return Value{}, "size " + strconv.Quote(s) + " must be a whole, non-negative number of bytes"
		}
		return Value{}, valInvalid(s)
	}
	if s[0] == '-' {
		if len(s) > 1 && (s[1] == '.' || '0' <= s[1] && s[1] <= '9') {
			if _, err := time.ParseDuration(s[1:]); err == nil {
				return Value{}, "duration " + strconv.Quote(s) + " is negative: durations must not be negative"
			}
		}
		return Value{}, valInvalid(s)
	}
	// A bare number (including "0", which time.ParseDuration accepts
	// without a unit) was handled above, so anything accepted here has a
	// unit, and, starting with a digit or '.', is not negative.
	d, err := time.ParseDuration(s)
	if err != nil {
		return Value{}, valInvalid(s)
	}
	return Value{kind: DurationValue, n: int64(d)}, ""
}

// valNumber parses s, which matches the number grammar, as a value of kind
// k. Numbers that are integers in int64 range are held exactly in n; all
// others in f.
func valNumber(k ValueKind, s string) (Value, string) {
	intPart, frac, _ := strings.Cut(s, ".")
	if strings.Trim(frac, "0") == "" {
		if n, err := strconv.ParseInt(intPart, 10, 64); err == nil {
			return Value{kind: k, n: n}, ""
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return Value{}, k.String() + " " + strconv.Quote(s) + " is out of range"
	}
	return valFromFloat(k, f), ""
}

// valFromFloat returns f as a value of kind k, in the normal form: integers
// in int64 range (including -0) are held in n.
func valFromFloat(k ValueKind, f float64) Value {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return Value{kind: k, n: int64(f)}
	}
	return Value{kind: k, f: f, isF: true}
}

// valIsDigits reports whether s is a non-empty run of ASCII digits.
func valIsDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// valIsNumber reports whether s matches -?[0-9]+(\.[0-9]+)?.
func valIsNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	return valIsDigits(intPart) && (!hasDot || valIsDigits(frac))
}

// valIsIdent reports whether s matches [A-Za-z_][A-Za-z0-9_.:-]*.
func valIsIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && (c == '.' || c == ':' || c == '-' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}

// valSizeUnits lists the size units, with any unit that is a suffix of
// another after it.
var valSizeUnits = [...]struct {
	name string
	mult int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// valCutSizeUnit splits a size unit off the end of s.
func valCutSizeUnit(s string) (num string, mult int64, ok bool) {
	for _, u := range valSizeUnits {
		if num, ok := strings.CutSuffix(s, u.name); ok {
			return num, u.mult, true
		}
	}
	return "", 0, false
}

// valSizeString returns the canonical text of a size of n bytes.
func valSizeString(n int64) string {
	if n == 0 {
		return "0B"
	}
	for _, u := range [...]struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Kind returns the kind of v, or 0 for the zero Value.
func (v Value) Kind() ValueKind { return v.kind }

// String returns the canonical text of v, which [ParseValue] parses back to
// an equal Value:
//
//   - number: no leading zeros or '+', "-0" as "0", fractions in the
//     shortest form that parses back exactly ("0.50" is "0.5", "1.0" is "1");
//   - size: the count in the largest binary unit (GiB, MiB, KiB) that
//     divides it exactly, else the largest decimal unit (GB, MB, kB) that
//     does, else in B ("0B" for zero);
//   - duration: as time.Duration.String ("200ms", "1m30s", "0s");
//   - percent: the number's canonical text followed by "%";
//   - bool and identifier: as written.
//
// The zero Value prints as "<invalid>".
func (v Value) String() string {
	switch v.kind {
	case NumberValue:
		return v.numString()
	case PercentValue:
		return v.numString() + "%"
	case SizeValue:
		return valSizeString(v.n)
	case DurationValue:
		return time.Duration(v.n).String()
	case BoolValue:
		return strconv.FormatBool(v.n != 0)
	case IdentValue:
		return v.s
	}
	return "<invalid>"
}

func (v Value) numString() string {
	if v.isF {
		return strconv.FormatFloat(v.f, 'f', -1, 64)
	}
	return strconv.FormatInt(v.n, 10)
}

// Int returns the value of a number that is an integer in int64 range.
// It reports false for any other value, including percents.
func (v Value) Int() (int64, bool) {
	if v.kind != NumberValue || v.isF {
		return 0, false
	}
	return v.n, true
}

// Float returns the value of a number, or of a percent as a fraction (10%
// is 0.1). It reports false for any other kind.
func (v Value) Float() (float64, bool) {
	var f float64
	if v.isF {
		f = v.f
	} else {
		f = float64(v.n)
	}
	switch v.kind {
	case NumberValue:
		return f, true
	case PercentValue:
		return f / 100, true
	}
	return 0, false
}

// Size returns a size in bytes. A non-negative integer number is also
// accepted, as a count of bytes. It reports false for any other value.
func (v Value) Size() (int64, bool) {
	switch {
	case v.kind == SizeValue:
		return v.n, true
	case v.kind == NumberValue && !v.isF && v.n >= 0:
		return v.n, true
	}
	return 0, false
}

// Duration returns a duration. A bare number is not a duration: it reports
// false for every kind but [DurationValue].
func (v Value) Duration() (time.Duration, bool) {
	if v.kind != DurationValue {
		return 0, false
	}
	return time.Duration(v.n), true
}

// Bool returns a bool value. It reports false for any other kind.
func (v Value) Bool() (bool, bool) {
	if v.kind != BoolValue {
		return false, false
	}
	return v.n != 0, true
}

// Ident returns an identifier. It reports false for any other kind; in
// particular true and false are bools, not identifiers.
func (v Value) Ident() (string, bool) {
	if v.kind != IdentValue {
		return "", false
	}
	return v.s, true
}

// Equal reports whether v and w have the same kind and the same canonical
// text. Two zero Values are equal.
func (v Value) Equal(w Value) bool { return v == w }
