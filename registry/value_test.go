package registry

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValueKindString(t *testing.T) {
	for k, want := range map[ValueKind]string{
		0:             "ValueKind(0)",
		NumberValue:   "number",
		SizeValue:     "size",
		DurationValue: "duration",
		PercentValue:  "percent",
		BoolValue:     "bool",
		IdentValue:    "identifier",
		7:             "ValueKind(7)",
	} {
		if got := k.String(); got != want {
			t.Errorf("ValueKind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		in    string
		kind  ValueKind
		canon string
	}{
		// Numbers.
		{"7", NumberValue, "7"},
		{"0", NumberValue, "0"},
		{"-1", NumberValue, "-1"},
		{"007", NumberValue, "7"},
		{"-0", NumberValue, "0"},
		{"-0.000", NumberValue, "0"},
		{"0.25", NumberValue, "0.25"},
		{"0.50", NumberValue, "0.5"},
		{"1.0", NumberValue, "1"},
		{"-3.1400", NumberValue, "-3.14"},
		{"00.5", NumberValue, "0.5"},
		{"0.0000001", NumberValue, "0.0000001"},
		{"9223372036854775807", NumberValue, "9223372036854775807"},
		{"-9223372036854775808", NumberValue, "-9223372036854775808"},
		{"9223372036854775808", NumberValue, "9223372036854776000"}, // float64: shortest digits, then zeros
		{"9223372036854775809", NumberValue, "9223372036854776000"},
		{"100000000000000000000", NumberValue, "100000000000000000000"},
		{"1.00000000000000000001", NumberValue, "1"},
		{"0." + strings.Repeat("0", 400) + "1", NumberValue, "0"},
		{"  42\t", NumberValue, "42"},
		// Sizes.
		{"0B", SizeValue, "0B"},
		{"0KiB", SizeValue, "0B"},
		{"1500B", SizeValue, "1500B"},
		{"64KiB", SizeValue, "64KiB"},
		{"1024B", SizeValue, "1KiB"},
		{"1024KiB", SizeValue, "1MiB"},
		{"3MiB", SizeValue, "3MiB"},
		{"2GiB", SizeValue, "2GiB"},
		{"2048GiB", SizeValue, "2048GiB"},
		{"1000B", SizeValue, "1kB"},
		{"1kB", SizeValue, "1kB"},
		{"1KB", SizeValue, "1kB"},
		{"1500kB", SizeValue, "1500kB"},
		{"1MB", SizeValue, "1MB"},
		{"1000MB", SizeValue, "1GB"},
		{"1024kB", SizeValue, "1000KiB"},
		{"5GB", SizeValue, "5GB"},
		{"0064KiB", SizeValue, "64KiB"},
		{"1B", SizeValue, "1B"},
		{"9223372036854775807B", SizeValue, "9223372036854775807B"},
		{"8589934591GiB", SizeValue, "8589934591GiB"},
		{"9223372036GB", SizeValue, "9007199253906250KiB"}, // 9223372036e9 is a multiple of 1024
		// Durations.
		{"200ms", DurationValue, "200ms"},
		{"1.5s", DurationValue, "1.5s"},
		{"1m30s", DurationValue, "1m30s"},
		{"90s", DurationValue, "1m30s"},
		{"1h", DurationValue, "1h0m0s"},
		{"500us", DurationValue, "500µs"},
		{"500µs", DurationValue, "500µs"},
		{"500μs", DurationValue, "500µs"},
		{"10ns", DurationValue, "10ns"},
		{"0s", DurationValue, "0s"},
		{"0ms", DurationValue, "0s"},
		{".5s", DurationValue, "500ms"},
		{"1.s", DurationValue, "1s"},
		{"2562047h47m16.854775807s", DurationValue, "2562047h47m16.854775807s"},
		// Percents.
		{"10%", PercentValue, "10%"},
		{"0.5%", PercentValue, "0.5%"},
		{"0%", PercentValue, "0%"},
		{"-0%", PercentValue, "0%"},
		{"100%", PercentValue, "100%"},
		{"100.000%", PercentValue, "100%"},
		{"050.50%", PercentValue, "50.5%"},
		// Bools.
		{"true", BoolValue, "true"},
		{"false", BoolValue, "false"},
		// Identifiers.
		{"aes-gcm", IdentValue, "aes-gcm"},
		{"s2", IdentValue, "s2"},
		{"drop_oldest", IdentValue, "drop_oldest"},
		{"_x", IdentValue, "_x"},
		{"True", IdentValue, "True"},
		{"FALSE", IdentValue, "FALSE"},
		{"truex", IdentValue, "truex"},
		{"B", IdentValue, "B"},
		{"KiB", IdentValue, "KiB"},
		{"ms", IdentValue, "ms"},
		{"a.b:c-d_9", IdentValue, "a.b:c-d_9"},
		{"x-", IdentValue, "x-"},
	}
	for _, tt := range tests {
		v, err := ParseValue(tt.in)
		if err != nil {
			t.Errorf("ParseValue(%q): %v", tt.in, err)
			continue
		}
		if v.Kind() != tt.kind || v.String() != tt.canon {
			t.Errorf("ParseValue(%q) = %v %q, want %v %q", tt.in, v.Kind(), v.String(), tt.kind, tt.canon)
		}
		w, err := ParseValue(v.String())
		if err != nil || !w.Equal(v) || w.String() != v.String() {
			t.Errorf("ParseValue(%q) round trip: got %v %q (%v), want %q", tt.in, w.Kind(), w.String(), err, v.String())
		}
	}
}

func TestParseValueErrors(t *testing.T) {
	tests := []struct {
		in     string
		reason string
	}{
		{"", "empty value"},
		{"  \t ", "empty value"},
		{"-", "invalid value"},
		{"--1", "invalid value"},
		{"+1", "invalid value"},
		{"1.", "invalid value"},
		{".5", "invalid value"},
		{"-.5", "invalid value"},
		{"1.2.3", "invalid value"},
		{"1e5", "invalid value"},
		{"0x10", "invalid value"},
		{"1_000", "invalid value"},
		{"1 000", "invalid value"},
		{"12abc", "invalid value"},
		{"1 s", "invalid value"},
		{"1" + strings.Repeat("0", 400) + ".5", "out of range"},
		// Sizes.
		{"1.5KiB", "whole, non-negative"},
		{"-1KiB", "whole, non-negative"},
		{"-0B", "whole, non-negative"},
		{"1 KiB", "invalid value"},
		{"1kib", "invalid value"},
		{"1TiB", "invalid value"},
		{"1xB", "invalid value"},
		{"9223372036854775808B", "out of range"},
		{"8589934592GiB", "out of range"},
		{"9223372037GB", "out of range"},
		{"99999999999999999999999KiB", "out of range"},
		// Durations.
		{"-5s", "negative"},
		{"-0s", "negative"},
		{"-.5s", "negative"},
		{"+5s", "invalid value"},
		{"5 s", "invalid value"},
		{"5sec", "invalid value"},
		{"2562048h", "invalid value"},
		{"9999999999999999999ns", "invalid value"},
		// Percents.
		{"101%", "out of range"},
		{"100.0001%", "out of range"},
		{"-1%", "out of range"},
		{"-0.5%", "out of range"},
		{"%", "invalid value"},
		{"10 %", "invalid value"},
		{"10%%", "invalid value"},
		{"1e1%", "invalid value"},
		// Identifiers.
		{"aes gcm", "invalid value"},
		{"a/b", "invalid value"},
		{"a(b", "invalid value"},
		{"a=b", "invalid value"},
		{"a,b", "invalid value"},
		{"é", "invalid value"},
		{"x\n", "invalid value"},
		{"\xff", "invalid value"},
	}
	for _, tt := range tests {
		v, err := ParseValue(tt.in)
		if err == nil {
			t.Errorf("ParseValue(%q) = %v %q, want error", tt.in, v.Kind(), v)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("ParseValue(%q) error %T is not *Error", tt.in, err)
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseValue(%q): error %v does not wrap ErrSyntax", tt.in, err)
		}
		if e.Input != "" || e.Offset != -1 || e.Layer != "" || e.Param != "" {
			t.Errorf("ParseValue(%q): error %#v has context", tt.in, e)
		}
		if !strings.Contains(e.Reason, tt.reason) {
			t.Errorf("ParseValue(%q): reason %q does not contain %q", tt.in, e.Reason, tt.reason)
		}
		if v != (Value{}) {
			t.Errorf("ParseValue(%q) returned non-zero Value %v with error", tt.in, v)
		}
	}
}

func TestValueErrorMessage(t *testing.T) {
	_, err := ParseValue("12x")
	want := `invalid value "12x": expected a number, size, duration, percent, bool or identifier`
	if err == nil || err.Error() != want {
		t.Errorf("ParseValue(\"12x\") error = %v, want %s", err, want)
	}
}

// valAccessors collects the results of all valAccessors of a Value.
type valAccessors struct {
	Int         int64
	IntOK       bool
	Float       float64
	FloatOK     bool
	Size        int64
	SizeOK      bool
	Duration    time.Duration
	DurationOK  bool
	Bool        bool
	BoolOK      bool
	Ident       string
	IdentOK     bool
	KindOfValue ValueKind
}

func valGetAccessors(v Value) valAccessors {
	var a valAccessors
	a.Int, a.IntOK = v.Int()
	a.Float, a.FloatOK = v.Float()
	a.Size, a.SizeOK = v.Size()
	a.Duration, a.DurationOK = v.Duration()
	a.Bool, a.BoolOK = v.Bool()
	a.Ident, a.IdentOK = v.Ident()
	a.KindOfValue = v.Kind()
	return a
}

func TestValueAccessors(t *testing.T) {
	tests := []struct {
		in   string
		want valAccessors
	}{
		{"7", valAccessors{Int: 7, IntOK: true, Float: 7, FloatOK: true, Size: 7, SizeOK: true, KindOfValue: NumberValue}},
		{"0", valAccessors{IntOK: true, FloatOK: true, SizeOK: true, KindOfValue: NumberValue}},
		{"-1", valAccessors{Int: -1, IntOK: true, Float: -1, FloatOK: true, KindOfValue: NumberValue}},
		{"2.0", valAccessors{Int: 2, IntOK: true, Float: 2, FloatOK: true, Size: 2, SizeOK: true, KindOfValue: NumberValue}},
		{"0.25", valAccessors{Float: 0.25, FloatOK: true, KindOfValue: NumberValue}},
		{"-2.5", valAccessors{Float: -2.5, FloatOK: true, KindOfValue: NumberValue}},
		{"9223372036854775807", valAccessors{Int: math.MaxInt64, IntOK: true, Float: math.MaxInt64, FloatOK: true, Size: math.MaxInt64, SizeOK: true, KindOfValue: NumberValue}},
		{"1" + strings.Repeat("0", 30), valAccessors{Float: 1e30, FloatOK: true, KindOfValue: NumberValue}},
		{"64KiB", valAccessors{Size: 64 << 10, SizeOK: true, KindOfValue: SizeValue}},
		{"1GB", valAccessors{Size: 1e9, SizeOK: true, KindOfValue: SizeValue}},
		{"200ms", valAccessors{Duration: 200 * time.Millisecond, DurationOK: true, KindOfValue: DurationValue}},
		{"10%", valAccessors{Float: 0.1, FloatOK: true, KindOfValue: PercentValue}},
		{"0.5%", valAccessors{Float: 0.005, FloatOK: true, KindOfValue: PercentValue}},
		{"100%", valAccessors{Float: 1, FloatOK: true, KindOfValue: PercentValue}},
		{"true", valAccessors{Bool: true, BoolOK: true, KindOfValue: BoolValue}},
		{"false", valAccessors{BoolOK: true, KindOfValue: BoolValue}},
		{"aes-gcm", valAccessors{Ident: "aes-gcm", IdentOK: true, KindOfValue: IdentValue}},
	}
	for _, tt := range tests {
		v, err := ParseValue(tt.in)
		if err != nil {
			t.Errorf("ParseValue(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, valGetAccessors(v)); diff != "" {
			t.Errorf("ParseValue(%q) valAccessors mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestZeroValue(t *testing.T) {
	var v Value
	if diff := cmp.Diff(valAccessors{}, valGetAccessors(v)); diff != "" {
		t.Errorf("zero Value valAccessors mismatch (-want +got):\n%s", diff)
	}
	if got := v.String(); got != "<invalid>" {
		t.Errorf("zero Value String() = %q, want %q", got, "<invalid>")
	}
	if !v.Equal(Value{}) {
		t.Error("zero Value not Equal to itself")
	}
	if v.Equal(valMust(t, "0")) {
		t.Error("zero Value Equal to number 0")
	}
}

func valMust(t *testing.T, s string) Value {
	t.Helper()
	v, err := ParseValue(s)
	if err != nil {
		t.Fatalf("ParseValue(%q): %v", s, err)
	}
	return v
}

func TestValueEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"7", "007", true},
		{"7", "7.0", true},
		{"-0", "0", true},
		{"0.5", "0.50", true},
		{"1024B", "1KiB", true},
		{"1000B", "1kB", true},
		{"1KB", "1kB", true},
		{"60s", "1m", true},
		{"500us", "500µs", true},
		{"10%", "10.0%", true},
		{"9223372036854775808", "9223372036854775808.0", true},
		{"true", "true", true},
		{"aes", "aes", true},
		{"7", "8", false},
		{"1", "1B", false},
		{"1", "1%", false},
		{"0", "0s", false},
		{"0", "0B", false},
		{"0B", "0s", false},
		{"1KiB", "1kB", false},
		{"true", "false", false},
		{"aes", "AES", false},
		{"0.1", "0.10000000000000001", true}, // same float64
		{"0.1", "0.1000000000000001", false},
	}
	for _, tt := range tests {
		a, b := valMust(t, tt.a), valMust(t, tt.b)
		if got := a.Equal(b); got != tt.want {
			t.Errorf("ParseValue(%q).Equal(ParseValue(%q)) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := b.Equal(a); got != tt.want {
			t.Errorf("ParseValue(%q).Equal(ParseValue(%q)) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
		if got := a.String() == b.String(); got != tt.want {
			t.Errorf("canonical %q == %q is %v, want %v", a, b, got, tt.want)
		}
	}
}
