package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// qosPlainLayer and qosPlainParam mirror LayerSpec and Param with values as their
// canonical text, so that whole parse results can be compared with cmp
// including offsets (cmp would otherwise use Spec.Equal, which ignores them).
type qosPlainLayer struct {
	Name   string
	Offset int
	Params []qosPlainParam
}

type qosPlainParam struct {
	Key    string
	Kind   ValueKind
	Value  string
	Offset int
}

func qosPlain(s Spec) []qosPlainLayer {
	var out []qosPlainLayer
	for _, l := range s.Layers {
		pl := qosPlainLayer{Name: l.Name, Offset: l.Offset}
		for _, p := range l.Params {
			pl.Params = append(pl.Params, qosPlainParam{p.Key, p.Value.Kind(), p.Value.String(), p.Offset})
		}
		out = append(out, pl)
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		canon string
		want  []qosPlainLayer
	}{
		{"", "", nil},
		{" \t ", "", nil},
		{"reliable", "reliable", []qosPlainLayer{{Name: "reliable"}}},
		{"  reliable\t", "reliable", []qosPlainLayer{{Name: "reliable", Offset: 2}}},
		{"frag()", "frag", []qosPlainLayer{{Name: "frag"}}},
		{"frag( \t)", "frag", []qosPlainLayer{{Name: "frag"}}},
		{"frag ( ) / order", "frag/order", []qosPlainLayer{{Name: "frag"}, {Name: "order", Offset: 11}}},
		{"a/b/c", "a/b/c", []qosPlainLayer{{Name: "a"}, {Name: "b", Offset: 2}, {Name: "c", Offset: 4}}},
		{"x9_-y-", "x9_-y-", []qosPlainLayer{{Name: "x9_-y-"}}},
		{
			"frag(mtu=1200)/window(size=256,ttl=200ms)/order/encrypt",
			"frag(mtu=1200)/window(size=256,ttl=200ms)/order/encrypt",
			[]qosPlainLayer{
				{Name: "frag", Params: []qosPlainParam{{"mtu", NumberValue, "1200", 5}}},
				{Name: "window", Offset: 15, Params: []qosPlainParam{
					{"size", NumberValue, "256", 22},
					{"ttl", DurationValue, "200ms", 31},
				}},
				{Name: "order", Offset: 42},
				{Name: "encrypt", Offset: 48},
			},
		},
		{
			// Keys are sorted; whitespace around every token is ignored.
			" w ( ttl = 1m30s ,\tsize=0256 , drop = drop_oldest ) ",
			"w(drop=drop_oldest,size=256,ttl=1m30s)",
			[]qosPlainLayer{{Name: "w", Offset: 1, Params: []qosPlainParam{
				{"drop", IdentValue, "drop_oldest", 31},
				{"size", NumberValue, "256", 19},
				{"ttl", DurationValue, "1m30s", 5},
			}}},
		},
		{
			"c(level=3,algo=zstd,dict=false,buf=64KiB,loss=0.5%,f=-0.25)",
			"c(algo=zstd,buf=64KiB,dict=false,f=-0.25,level=3,loss=0.5%)",
			[]qosPlainLayer{{Name: "c", Params: []qosPlainParam{
				{"algo", IdentValue, "zstd", 10},
				{"buf", SizeValue, "64KiB", 31},
				{"dict", BoolValue, "false", 20},
				{"f", NumberValue, "-0.25", 51},
				{"level", NumberValue, "3", 2},
				{"loss", PercentValue, "0.5%", 41},
			}}},
		},
		{"a(k=1h,m=1024kB,n=500us)", "a(k=1h0m0s,m=1000KiB,n=500µs)", []qosPlainLayer{{Name: "a", Params: []qosPlainParam{
			{"k", DurationValue, "1h0m0s", 2},
			{"m", SizeValue, "1000KiB", 7},
			{"n", DurationValue, "500µs", 16},
		}}}},
		{"a(k=x)/a(k=y)", "a(k=x)/a(k=y)", []qosPlainLayer{ // repeated layers are the registry's business
			{Name: "a", Params: []qosPlainParam{{"k", IdentValue, "x", 2}}},
			{Name: "a", Offset: 7, Params: []qosPlainParam{{"k", IdentValue, "y", 9}}},
		}},
		{"a(k-1=1,k_2=2,k=0)", "a(k=0,k-1=1,k_2=2)", []qosPlainLayer{{Name: "a", Params: []qosPlainParam{
			{"k", NumberValue, "0", 14},
			{"k-1", NumberValue, "1", 2},
			{"k_2", NumberValue, "2", 8},
		}}}},
	}
	for _, tt := range tests {
		s, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if s.Input != tt.in {
			t.Errorf("Parse(%q).Input = %q", tt.in, s.Input)
		}
		if diff := cmp.Diff(tt.want, qosPlain(s)); diff != "" {
			t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
		if got := s.String(); got != tt.canon {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.canon)
		}
		s2, err := Parse(s.String())
		if err != nil {
			t.Errorf("Parse(%q) (canonical of %q): %v", s.String(), tt.in, err)
			continue
		}
		if !s2.Equal(s) || s2.String() != s.String() {
			t.Errorf("round trip of %q: got %q, want %q", tt.in, s2, s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		layer  string
		param  string
		reason string // a substring of Reason
	}{
		// Layers and separators.
		{"/", 0, "", "", `expected layer name, found "/"`},
		{"/a", 0, "", "", `expected layer name, found "/"`},
		{"a/", 1, "", "", `trailing "/"`},
		{"a/ \t", 1, "", "", `trailing "/"`},
		{"a//b", 2, "", "", `empty layer`},
		{"a/ /b", 3, "", "", `empty layer`},
		{"Frag", 0, "", "", `expected layer name, found "F" (names are lowercase)`},
		{"fRag", 1, "", "", `invalid character "R" in layer name`},
		{"1frag", 0, "", "", `expected layer name, found "1"`},
		{"_frag", 0, "", "", `expected layer name, found "_"`},
		{"-frag", 0, "", "", `expected layer name, found "-"`},
		{"frag order", 5, "frag", "", `unexpected "o" after the layer; expected "(", "/" or end of input`},
		{"frag.x", 4, "frag", "", `unexpected "."`},
		{"frag;order", 4, "frag", "", `unexpected ";"`},
		{"frag\norder", 4, "frag", "", `unexpected "\n"`},
		{"\nfrag", 0, "", "", `expected layer name, found "\n"`},
		{"frag\r", 4, "frag", "", `unexpected "\r"`},
		{"fr\u00e9g", 2, "fr", "", `unexpected "é"`},
		{"a\xffb", 1, "a", "", `unexpected "\xff"`},
		{"a,b", 1, "a", "", `unexpected ","`},
		{"a)", 1, "a", "", `unexpected ")"`},
		{"a=b", 1, "a", "", `unexpected "="`},
		// Parentheses.
		{"frag(", 5, "frag", "", `expected parameter name, found end of input`},
		{"frag(  ", 7, "frag", "", `expected parameter name, found end of input`},
		{"frag(mtu=1200", 13, "frag", "", `missing ")" to close "(" at offset 4`},
		{"frag(mtu=1200/order", 19, "frag", "", `missing ")" to close "(" at offset 4`},
		{"frag(mtu=1200,", 14, "frag", "", `missing ")"`},
		{"frag(mtu=1200) x", 15, "frag", "", `unexpected "x" after the layer; expected "/" or end of input`},
		{"frag()x", 6, "frag", "", `expected "/" or end of input`},
		{"frag(mtu=1)(a=1)", 11, "frag", "", `unexpected "("`},
		{"frag(mtu=1))", 11, "frag", "", `unexpected ")"`},
		{"frag((mtu=1))", 5, "frag", "", `expected parameter name, found "("`},
		{"frag)", 4, "frag", "", `unexpected ")"`},
		// Parameters.
		{"frag(,)", 5, "frag", "", `expected parameter name, found ","`},
		{"frag(mtu=1,)", 10, "frag", "", `trailing "," before ")"`},
		{"frag(mtu=1 , )", 11, "frag", "", `trailing ","`},
		{"frag(mtu=1,,a=2)", 11, "frag", "", `expected parameter name, found ","`},
		{"frag(mtu)", 8, "frag", "mtu", `expected "=" after parameter name "mtu", found ")"`},
		{"frag(mtu 1)", 9, "frag", "mtu", `expected "=" after parameter name "mtu", found "1"`},
		{"frag(mtu", 8, "frag", "mtu", `expected "=" after parameter name "mtu", found end of input`},
		{"frag(mtu=)", 9, "frag", "mtu", `expected a value after "="`},
		{"frag(mtu= \t)", 11, "frag", "mtu", `expected a value after "="`},
		{"frag(mtu=,a=1)", 9, "frag", "mtu", `expected a value after "="`},
		{"frag(mtu=", 9, "frag", "mtu", `expected a value after "="`},
		{"frag(=1)", 5, "frag", "", `expected parameter name, found "="`},
		{"frag(Mtu=1)", 5, "frag", "", `expected parameter name, found "M" (names are lowercase)`},
		{"frag(mTu=1)", 6, "frag", "", `invalid character "T" in parameter name`},
		{"frag(m.tu=1)", 6, "frag", "m", `expected "=" after parameter name "m", found "."`},
		{"frag(mtu==1)", 9, "frag", "mtu", `invalid value "=1"`},
		{"frag(mtu=1=2)", 9, "frag", "mtu", `invalid value "1=2"`},
		{"frag(mtu=1 2)", 9, "frag", "mtu", `invalid value "1 2"`},
		{"frag(a=f(x))", 7, "frag", "a", `invalid value "f(x"`},
		{"frag(a=x/y)", 7, "frag", "a", `invalid value "x/y"`},
		{"frag(mtu=1,mtu=2)", 11, "frag", "mtu", `duplicate parameter "mtu" (first at offset 5)`},
		{"frag(b=1, a=2 ,b=3)", 15, "frag", "b", `duplicate parameter "b" (first at offset 5)`},
		{"a/b(x=1)/c(y= 12x )", 14, "c", "y", `invalid value "12x": expected a number, size, duration, percent, bool or identifier`},
		// Bad values.
		{"a(x=101%)", 4, "a", "x", `percent "101%" is out of range`},
		{"a(x=-5s)", 4, "a", "x", `duration "-5s" is negative`},
		{"a(x=1.5KiB)", 4, "a", "x", `size "1.5KiB" must be a whole, non-negative number of bytes`},
		{"a(x=9223372036854775808B)", 4, "a", "x", `size "9223372036854775808B" is out of range`},
		{"a(x=1e5)", 4, "a", "x", `invalid value "1e5"`},
		{"a(x=é)", 4, "a", "x", `invalid value "é"`},
	}
	for _, tt := range tests {
		s, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want error", tt.in, s)
			continue
		}
		qosCheckParseError(t, tt.in, err)
		e := err.(*Error)
		got := struct {
			Offset        int
			Layer, Param  string
			ReasonMatches bool
		}{e.Offset, e.Layer, e.Param, strings.Contains(e.Reason, tt.reason)}
		want := struct {
			Offset        int
			Layer, Param  string
			ReasonMatches bool
		}{tt.offset, tt.layer, tt.param, true}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Parse(%q) error %q (reason %q, want it to contain %q) mismatch (-want +got):\n%s",
				tt.in, err, e.Reason, tt.reason, diff)
		}
		if s.Input != "" || s.Layers != nil {
			t.Errorf("Parse(%q) returned non-zero Spec %#v with error", tt.in, s)
		}
	}
}

// qosCheckParseError checks the invariants of every error returned by Parse.
func qosCheckParseError(t *testing.T, in string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse(%q): error %v is %T, not *Error", in, err, err)
	}
	if _, ok := err.(*Error); !ok {
		t.Fatalf("Parse(%q): error %v is %T, not *Error", in, err, err)
	}
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("Parse(%q): error %v does not wrap ErrSyntax", in, err)
	}
	if e.Input != in {
		t.Errorf("Parse(%q): error Input = %q", in, e.Input)
	}
	if e.Offset < 0 || e.Offset > len(in) {
		t.Errorf("Parse(%q): error Offset %d out of range [0, %d]", in, e.Offset, len(in))
	}
	if e.Reason == "" {
		t.Errorf("Parse(%q): error has no Reason", in)
	}
}

func TestParseWhitespace(t *testing.T) {
	want := MustParse("frag(mtu=1200)/window(size=256,ttl=200ms)/order")
	for _, in := range []string{
		"frag(mtu=1200)/window(size=256,ttl=200ms)/order",
		" frag ( mtu = 1200 ) / window ( size = 256 , ttl = 200ms ) / order ",
		"\tfrag\t(\tmtu\t=\t1200\t)\t/\twindow(\tttl=200ms\t,size=256)/order\t",
		"frag(mtu=1200)/window(ttl=0.2s,size=0256)/order",
	} {
		s, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if !s.Equal(want) || s.String() != want.String() {
			t.Errorf("Parse(%q) = %q, want %q", in, s, want)
		}
	}
	// Only spaces and tabs count as white space.
	for _, in := range []string{"frag\n", "\rfrag", "frag(mtu=1\n)", "frag\v", "frag\u00a0", "frag(\nmtu=1)"} {
		if s, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want error", in, s)
		} else {
			qosCheckParseError(t, in, err)
		}
	}
}

func TestParseLimits(t *testing.T) {
	layers := func(n int) string {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("l%d", i))
		}
		return strings.Join(names, "/")
	}
	params := func(n int) string {
		var ps []string
		for i := range n {
			ps = append(ps, fmt.Sprintf("p%02d=%d", i, i))
		}
		return "a(" + strings.Join(ps, ",") + ")"
	}
	name64 := "n" + strings.Repeat("x", 63)
	// long builds a valid QoS string of exactly n bytes.
	long := func(n int) string {
		s := "a(k=" + strings.Repeat("x", n-5) + ")"
		if len(s) != n {
			panic("bad length")
		}
		return s
	}
	valid := []string{
		layers(64),
		params(32),
		name64,
		"a(" + name64 + "=1)",
		long(4096),
		"  " + long(4094),
	}
	for _, in := range valid {
		s, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%.40q...): %v", in, err)
			continue
		}
		if s2, err := Parse(s.String()); err != nil || !s2.Equal(s) {
			t.Errorf("round trip of %.40q...: %v", in, err)
		}
	}

	tests := []struct {
		in     string
		offset int
		reason string
	}{
		{layers(65), len(layers(64)) + 1, "too many layers: the limit is 64"},
		{params(33), len(params(32)), "too many parameters: the limit is 32"},
		{name64 + "x", 0, "layer name is 65 bytes long; the limit is 64"},
		{"a(" + name64 + "x=1)", 2, "parameter name is 65 bytes long; the limit is 64"},
		{"ok/" + name64 + "x", 3, "layer name is 65 bytes long"},
		{long(4097), 4096, "QoS string is 4097 bytes long; the limit is 4096"},
		{long(4096) + " ", 4096, "QoS string is 4097 bytes long"},
		{strings.Repeat(" ", 5000), 4096, "QoS string is 5000 bytes long"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%.40q...): no error", tt.in)
			continue
		}
		qosCheckParseError(t, tt.in, err)
		e := err.(*Error)
		if e.Offset != tt.offset || !strings.Contains(e.Reason, tt.reason) {
			t.Errorf("Parse(%.40q...) error at offset %d, %q; want offset %d, %q", tt.in, e.Offset, e.Reason, tt.offset, tt.reason)
		}
	}
}

// TestParseCanonicalLimit checks that a QoS string within the input limit
// is rejected when its canonical form would exceed that limit, so that the
// canonical form of every Spec that Parse returns parses again.
func TestParseCanonicalLimit(t *testing.T) {
	// "a0=1h" has the canonical form "a0=1h0m0s".
	var ps []string
	for i := range 32 {
		ps = append(ps, fmt.Sprintf("%c%d=1h", 'a'+i/10, i%10))
	}
	var layers []string
	for i := range 20 {
		layers = append(layers, fmt.Sprintf("l%02d(%s)", i, strings.Join(ps, ",")))
	}
	in := strings.Join(layers, "/")
	if len(in) > 4096 {
		t.Fatalf("test input is %d bytes long", len(in))
	}
	// The first layer whose canonical form ends beyond byte 4096.
	canon, offset, bad := -1, 0, ""
	for _, l := range layers {
		canon += 1 + len(MustParse(l).String())
		if canon > 4096 {
			bad = l[:3]
			break
		}
		offset += len(l) + 1
	}

	_, err := Parse(in)
	if err == nil {
		t.Fatalf("Parse(%d bytes, canonical %d bytes): no error", len(in), len(MustParse(strings.Join(layers[:13], "/")).String()))
	}
	qosCheckParseError(t, in, err)
	e := err.(*Error)
	if e.Offset != offset || e.Layer != bad || !strings.Contains(e.Reason, "canonical form of the QoS string is longer than 4096 bytes") {
		t.Errorf("Parse error = offset %d layer %q reason %q; want offset %d layer %q", e.Offset, e.Layer, e.Reason, offset, bad)
	}

	// Fewer layers are fine, and their canonical form parses again.
	in = strings.Join(layers[:10], "/")
	s, err := Parse(in)
	if err != nil {
		t.Fatalf("Parse(%d bytes): %v", len(in), err)
	}
	if len(s.String()) <= len(in) {
		t.Fatalf("canonical form of %d bytes is only %d bytes long", len(in), len(s.String()))
	}
	if s2, err := Parse(s.String()); err != nil || !s2.Equal(s) {
		t.Errorf("round trip: %v", err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{
			&Error{Input: "frag(mtu=)", Offset: 9, Layer: "frag", Param: "mtu", Reason: `expected a value after "="`, Err: ErrSyntax},
			`qos "frag(mtu=)": offset 9: layer frag: parameter mtu: expected a value after "="`,
		},
		{&Error{Input: "a//b", Offset: 2, Reason: "empty layer"}, `qos "a//b": offset 2: empty layer`},
		{&Error{Offset: -1, Reason: "bad"}, `bad`},
		{&Error{Input: "x", Offset: -1, Layer: "x", Reason: "unknown layer"}, `qos "x": layer x: unknown layer`},
		{&Error{Offset: -1, Layer: "frag", Param: "mtu", Reason: "out of range", Err: errors.New("too big")},
			`layer frag: parameter mtu: out of range`},
		{&Error{Offset: -1, Layer: "frag", Err: errors.New("boom")}, `layer frag: boom`},
		{&Error{Input: "a\"b\n", Offset: 0, Reason: "r"}, `qos "a\"b\n": offset 0: r`},
		{&Error{Offset: -1}, `invalid QoS string`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() =\n%s\nwant\n%s", tt.err, got, tt.want)
		}
	}

	_, err := Parse("frag(mtu=)")
	want := `qos "frag(mtu=)": offset 9: layer frag: parameter mtu: expected a value after "="`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %s", err, want)
	}
	_, err = Parse("a/b(x=1)/c(y= 12x )")
	want = `qos "a/b(x=1)/c(y= 12x )": offset 14: layer c: parameter y: invalid value "12x": expected a number, size, duration, percent, bool or identifier`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %s", err, want)
	}

	under := errors.New("underlying")
	e := &Error{Err: under}
	if !errors.Is(e, under) || e.Unwrap() != under {
		t.Error("Unwrap does not return Err")
	}
	if (&Error{}).Unwrap() != nil {
		t.Error("Unwrap of an Error without Err is not nil")
	}
}

func TestMustParse(t *testing.T) {
	if got := MustParse("a(x=1)/b").String(); got != "a(x=1)/b" {
		t.Errorf("MustParse = %q", got)
	}
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ErrSyntax) {
			t.Errorf("MustParse(\"a//b\") panicked with %v, want a syntax error", r)
		}
	}()
	MustParse("a//b")
}

func TestSpecEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"", "  ", true},
		{"a", "a()", true},
		{"a/b", " a / b ", true},
		{"a(x=1,y=2)", "a(y=2,x=1)", true},
		{"a(x=1)", "a(x=1.0)", true},
		{"a(x=1KiB)", "a(x=1024B)", true},
		{"a(x=60s)", "a(x=1m)", true},
		{"a", "b", false},
		{"a", "", false},
		{"a/b", "b/a", false},
		{"a/b", "a", false},
		{"a(x=1)", "a", false},
		{"a(x=1)", "a(y=1)", false},
		{"a(x=1)", "a(x=2)", false},
		{"a(x=1)", "a(x=1B)", false},
		{"a(x=1,y=2)", "a(x=1)", false},
		{"a(x=1)/b", "a(x=1)/b(y=1)", false},
	}
	for _, tt := range tests {
		a, b := MustParse(tt.a), MustParse(tt.b)
		if got := a.Equal(b); got != tt.want {
			t.Errorf("Parse(%q).Equal(Parse(%q)) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := b.Equal(a); got != tt.want {
			t.Errorf("Parse(%q).Equal(Parse(%q)) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
		if got := a.String() == b.String(); got != tt.want {
			t.Errorf("canonical %q == %q is %v, want %v", a, b, got, tt.want)
		}
	}
}

// TestSpecBuiltInCode checks specs built in Go code rather than parsed: they
// need not have sorted parameters or offsets.
func TestSpecBuiltInCode(t *testing.T) {
	v := func(s string) Value { return valMust(t, s) }
	l := LayerSpec{Name: "window", Params: []Param{
		{Key: "ttl", Value: v("200ms")},
		{Key: "size", Value: v("256")},
		{Key: "policy", Value: v("drop_oldest")},
	}}
	params := append([]Param(nil), l.Params...)
	if got, want := l.String(), "window(policy=drop_oldest,size=256,ttl=200ms)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if diff := cmp.Diff(params, l.Params); diff != "" {
		t.Errorf("String() changed Params (-before +after):\n%s", diff)
	}
	s := Spec{Layers: []LayerSpec{{Name: "frag"}, l, {Name: "order", Params: []Param{}}}}
	if got, want := s.String(), "frag/window(policy=drop_oldest,size=256,ttl=200ms)/order"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if p := MustParse(s.String()); !p.Equal(s) || !s.Equal(p) {
		t.Errorf("parsed %q is not Equal to the built spec", s)
	}
	if got := (Spec{}).String(); got != "" {
		t.Errorf("empty Spec String() = %q", got)
	}
	if !(Spec{}).Equal(Spec{Input: "  ", Layers: []LayerSpec{}}) {
		t.Error("empty specs not Equal")
	}

	p, ok := l.Param("size")
	if n, isInt := p.Value.Int(); !ok || p.Key != "size" || !isInt || n != 256 {
		t.Errorf("Param(\"size\") = %+v, %v", p, ok)
	}
	if _, ok := l.Param("mtu"); ok {
		t.Error("Param(\"mtu\") found")
	}
	if _, ok := (LayerSpec{}).Param(""); ok {
		t.Error("Param on an empty layer found")
	}
}

func TestLayerParam(t *testing.T) {
	s := MustParse("frag(mtu=1200)/window(size=256,ttl=200ms)")
	if len(s.Layers) != 2 {
		t.Fatalf("got %d layers", len(s.Layers))
	}
	p, ok := s.Layers[1].Param("ttl")
	if !ok || p.Key != "ttl" || p.Offset != 31 {
		t.Fatalf("Param(\"ttl\") = %+v, %v", p, ok)
	}
	if d, ok := p.Value.Duration(); !ok || d != 200*time.Millisecond {
		t.Errorf("ttl = %v, %v", d, ok)
	}
	if _, ok := s.Layers[0].Param("ttl"); ok {
		t.Error("frag has ttl")
	}
	if got := s.Layers[0].String(); got != "frag(mtu=1200)" {
		t.Errorf("layer String() = %q", got)
	}
}
