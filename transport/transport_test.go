package transport

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func nop(context.Context, *Endpoint) (Opened, error) { return Opened{}, nil }

func TestRegistry(t *testing.T) {
	if err := Register(Entry{Name: "test-reg", Open: nop}); err != nil {
		t.Fatal(err)
	}
	if err := Register(Entry{Name: "test-reg", Open: nop}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second Register: %v", err)
	}
	for _, bad := range []Entry{{Name: "Test", Open: nop}, {Name: "", Open: nop}, {Name: "a+b", Open: nop}, {Name: "noopen"}} {
		if err := Register(bad); err == nil {
			t.Errorf("Register(%q) accepted", bad.Name)
		}
	}
	if e, err := Lookup("test-reg"); err != nil || e.Name != "test-reg" {
		t.Fatalf("Lookup: %v %v", e.Name, err)
	}
	_, err := Lookup("nosuch")
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "test-reg") {
		t.Fatalf("Lookup of an unknown name: %v (want ErrUnknown listing what is registered)", err)
	}
	found := false
	for _, e := range List() {
		found = found || e.Name == "test-reg"
	}
	if !found {
		t.Fatal("List misses a registered transport")
	}
}

func TestAddr(t *testing.T) {
	ip := IPAddr(netip.MustParseAddrPort("10.0.0.1:7400"))
	for _, c := range []struct {
		a    Addr
		zero bool
		s    string
	}{
		{Addr{}, true, "everyone"},
		{ip, false, "10.0.0.1:7400"},
		{NameAddr("inbox.7"), false, "inbox.7"},
		{Addr{IP: ip.IP, Name: "relay"}, false, "relay@10.0.0.1:7400"},
	} {
		if c.a.IsZero() != c.zero || c.a.String() != c.s {
			t.Errorf("%#v: IsZero %v String %q", c.a, c.a.IsZero(), c.a.String())
		}
	}
}

func TestSplitRun(t *testing.T) {
	var got []string
	SplitRun([]byte("aaabbbc"), 3, func(d []byte) { got = append(got, string(d)) })
	if strings.Join(got, ",") != "aaa,bbb,c" {
		t.Fatalf("split %v", got)
	}
	got = nil
	SplitRun([]byte("one"), 0, func(d []byte) { got = append(got, string(d)) })
	if len(got) != 1 || got[0] != "one" {
		t.Fatalf("seg 0: %v", got)
	}
}
