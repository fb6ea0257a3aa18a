package registry

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"   ",
		"reliable",
		"frag(mtu=1200)/window(size=256,ttl=200ms)/order/encrypt",
		" frag ( mtu = 1200 ) / window ( ttl = 1m30s ,\tsize=64KiB ) ",
		"c(level=-3,ratio=0.50,loss=0.5%,dict=false,algo=aes-gcm,buf=1024kB)",
		"a(x=1h,y=500us,z=500µs,w=.5s)",
		"a(n=9223372036854775808,m=-0.0,k=007)",
		"frag()",
		"frag(mtu=)",
		"frag(mtu=1,)",
		"frag(mtu=1,mtu=2)",
		"frag(mtu=1200",
		"frag(mtu=1))",
		"a//b",
		"a/",
		"Frag/fRag",
		"a(x=101%,y=-5s,z=1.5KiB)",
		"a(x=9223372036854775808B)",
		"a(x=f(y))/b\n",
		"a(\xff=1)",
		"a(x=1e5)",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q): error %v is %T, not *Error", in, err, err)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrSyntax", in, err)
			}
			if e.Input != in || e.Offset < 0 || e.Offset > len(in) || e.Reason == "" {
				t.Fatalf("Parse(%q): bad error %#v", in, e)
			}
			_ = e.Error()
			return
		}
		if s.Input != in {
			t.Fatalf("Parse(%q).Input = %q", in, s.Input)
		}
		if len(s.Layers) > qosMaxLayers {
			t.Fatalf("Parse(%q): %d layers", in, len(s.Layers))
		}
		for _, l := range s.Layers {
			if !strings.HasPrefix(in[l.Offset:], l.Name) {
				t.Fatalf("Parse(%q): layer %q at wrong offset %d", in, l.Name, l.Offset)
			}
			if len(l.Params) > qosMaxParams {
				t.Fatalf("Parse(%q): %d params", in, len(l.Params))
			}
			for i, p := range l.Params {
				if !strings.HasPrefix(in[p.Offset:], p.Key) {
					t.Fatalf("Parse(%q): param %q at wrong offset %d", in, p.Key, p.Offset)
				}
				if i > 0 && l.Params[i-1].Key >= p.Key {
					t.Fatalf("Parse(%q): params of %q not sorted or not unique", in, l.Name)
				}
				if p.Value.Kind() == 0 {
					t.Fatalf("Parse(%q): invalid value for %q", in, p.Key)
				}
			}
		}
		canon := s.String()
		s2, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", in, canon, err)
		}
		if !s2.Equal(s) || !s.Equal(s2) {
			t.Fatalf("Parse(%q) = %q, which parses to a different %q", in, canon, s2)
		}
		if got := s2.String(); got != canon {
			t.Fatalf("Parse(%q): String not idempotent: %q then %q", in, canon, got)
		}
	})
}

func FuzzParseValue(f *testing.F) {
	for _, seed := range []string{
		"7", "-1", "007", "-0", "0.50", "1.0", "9223372036854775808",
		"64KiB", "1024kB", "0B", "9223372036854775808B", "1.5KiB",
		"200ms", "1m30s", "500µs", "1h", ".5s", "-5s",
		"10%", "0.5%", "101%", "true", "false", "aes-gcm", "x y", "1e5", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := ParseValue(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseValue(%q): error %v is %T, not *Error", in, err, err)
			}
			if !errors.Is(err, ErrSyntax) || e.Input != "" || e.Offset != -1 || e.Reason == "" {
				t.Fatalf("ParseValue(%q): bad error %#v", in, e)
			}
			if v != (Value{}) {
				t.Fatalf("ParseValue(%q): non-zero Value with error", in)
			}
			return
		}
		if v.Kind() < NumberValue || v.Kind() > IdentValue {
			t.Fatalf("ParseValue(%q): kind %d", in, v.Kind())
		}
		canon := v.String()
		w, err := ParseValue(canon)
		if err != nil {
			t.Fatalf("ParseValue(%q) = %q, which does not parse: %v", in, canon, err)
		}
		if !w.Equal(v) || w.Kind() != v.Kind() {
			t.Fatalf("ParseValue(%q) = %v %q, which parses to %v %q", in, v.Kind(), canon, w.Kind(), w)
		}
		if got := w.String(); got != canon {
			t.Fatalf("ParseValue(%q): String not idempotent: %q then %q", in, canon, got)
		}
		// The canonical text also lexes as one value inside a QoS string.
		if len(canon) > qosMaxInput-len("a(k=)") {
			return
		}
		s, err := Parse("a(k=" + canon + ")")
		if err != nil {
			t.Fatalf("value %q does not parse in a QoS string: %v", canon, err)
		}
		if p, ok := s.Layers[0].Param("k"); !ok || !p.Value.Equal(v) {
			t.Fatalf("value %q parses in a QoS string as %v", canon, p.Value)
		}
	})
}
