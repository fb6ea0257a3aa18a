package gwire

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, typ := range []byte{Challenge, Echo} {
		b := Append(nil, typ, 0x0102030405060708)
		if len(b) != Len {
			t.Fatalf("length %d", len(b))
		}
		c, err := Parse(b)
		if err != nil || c.Type != typ || c.Cookie != 0x0102030405060708 {
			t.Fatalf("Parse: %+v %v", c, err)
		}
	}
	b := AppendThinned(nil, 9, 3)
	if c, err := Parse(b); err != nil || len(b) != ThinnedLen || !reflect.DeepEqual(c, Control{Type: Thinned, Member: 9, Stream: 3}) {
		t.Fatalf("thinned: %+v %v", c, err)
	}
	b = AppendReceipt(nil, 1<<40+5, 1<<31+7, 0xfffffff0)
	if c, err := Parse(b); err != nil || len(b) != ReceiptLen || !reflect.DeepEqual(c, Control{Type: Receipt, Bytes: 1<<40 + 5, Datagrams: 1<<31 + 7, Clock: 0xfffffff0}) {
		t.Fatalf("receipt: %+v %v", c, err)
	}
}

func TestMalformed(t *testing.T) {
	good := Append(nil, Echo, 7)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:Len-1],
		"long":      append(bytes.Clone(good), 0),
		"magic":     append([]byte{0x52}, good[1:]...),
		"version":   append([]byte{Magic, 2<<4 | Echo}, good[2:]...),
		"type 0":    append([]byte{Magic, Version << 4}, good[2:]...),
		"type 3":    append([]byte{Magic, Version<<4 | 3}, good[2:]...),
		"cookie 0":  Append(nil, Echo, 0),
		"member 0":  AppendThinned(nil, 0, 1),
		"stream 0":  AppendThinned(nil, 1, 0),
		"thin cut":  AppendThinned(nil, 1, 1)[:ThinnedLen-1],
		"echo long": append(Append(nil, Echo, 1), 0, 0, 0, 0),
		"type 11":   append([]byte{Magic, Version<<4 | 11}, good[2:]...),
		"rcpt cut":  AppendReceipt(nil, 1, 2, 3)[:ReceiptLen-1],
		"rcpt long": append(AppendReceipt(nil, 1, 2, 3), 0),
		"probe pad": func() []byte { b := AppendProbe(nil, 1, 0); b[ProbeLen-1] = 1; return b }(),
		"probe 0":   AppendProbe(nil, 0, ProbeCapability),
		"probe cut": AppendProbe(nil, 1, 0)[:ProbeLen-1],
		"probed 0":  AppendProbed(nil, 0, netip.MustParseAddrPort("239.1.2.3:7")),
		"probed+1":  append(AppendProbed(nil, 1, netip.MustParseAddrPort("239.1.2.3:7")), 0),
		"dirq pad":  func() []byte { b := AppendDirQuery(nil, 0); b[100] = 1; return b }(),
		"dirq cut":  AppendDirQuery(nil, 0)[:DirQueryLen-1],
		"dir cut": func() []byte {
			b, _ := AppendDirectory(nil, []Entry{{"a://239.1.1.1:1", "h:1"}}, 0)
			return b[:len(b)-1]
		}(),
		"dir short": {Magic, Version<<4 | Directory, 0, 1},
		"dir count": {Magic, Version<<4 | Directory, 0, 0, 0, 0, 0, 1, 'x', 0, 0},
		"hb 0":      Append(nil, Heartbeat, 0),
		"cap long":  append(Append(nil, CapTest, 5), 0),
	} {
		if _, err := Parse(b); err != ErrMalformed {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestProbe(t *testing.T) {
	b := AppendProbe(nil, 77, ProbeCapability)
	c, err := Parse(b)
	if err != nil || len(b) != ProbeLen || c.Type != Probe || c.Cookie != 77 || c.Flags != ProbeCapability {
		t.Fatalf("probe: %+v %v", c, err)
	}
	for _, g := range []string{"239.1.2.3:7400", "[ff15::9]:9"} {
		b := AppendProbed(nil, 77, netip.MustParseAddrPort(g))
		c, err := Parse(b)
		if err != nil || len(b) != ProbedLen || c.Type != Probed || c.Cookie != 77 || c.Group.String() != g {
			t.Fatalf("probed %s: %+v %v", g, c, err)
		}
		if len(b) > ProbeLen {
			t.Fatal("the answer is larger than the probe")
		}
	}
	for _, typ := range []byte{CapTest, Heartbeat} {
		if c, err := Parse(Append(nil, typ, 5)); err != nil || c.Type != typ || c.Cookie != 5 {
			t.Fatalf("type %d: %+v %v", typ, c, err)
		}
	}
}

// TestDirectoryPages: a directory too long for one datagram comes in
// pages no larger than the query, and paging through them gives back
// every entry once, in order.
func TestDirectoryPages(t *testing.T) {
	var all []Entry
	for i := range 60 {
		all = append(all, Entry{URL: fmt.Sprintf("classroom://239.1.0.%d:7400?channel=room-%d-%s", i, i, strings.Repeat("x", i)), Addr: fmt.Sprintf("gw%d.example.net:7500", i)})
	}
	q, err := Parse(AppendDirQuery(nil, 3))
	if err != nil || q.Type != DirQuery || q.Index != 3 {
		t.Fatalf("query: %+v %v", q, err)
	}
	var got []Entry
	pages := 0
	for idx := 0; idx < len(all); pages++ {
		b, n := AppendDirectory(nil, all, idx)
		if len(b) > DirQueryLen || n == 0 {
			t.Fatalf("page at %d: %d bytes, %d entries", idx, len(b), n)
		}
		c, err := Parse(b)
		if err != nil || c.Type != Directory || int(c.Total) != len(all) || int(c.Index) != idx || len(c.Entries) != n {
			t.Fatalf("page at %d: %+v %v", idx, c, err)
		}
		got = append(got, c.Entries...)
		idx += n
	}
	if pages < 2 || !reflect.DeepEqual(got, all) {
		t.Fatalf("%d pages, %d of %d entries", pages, len(got), len(all))
	}
	b, n := AppendDirectory(nil, nil, 0)
	if c, err := Parse(b); err != nil || n != 0 || c.Total != 0 || len(c.Entries) != 0 {
		t.Fatalf("empty: %+v %v", c, err)
	}
}

// FuzzParse: whatever arrives, Parse either refuses it or returns what
// Append re-encodes to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(Append(nil, Challenge, 1))
	f.Add(Append(nil, Echo, 1<<63))
	f.Add(AppendThinned(nil, 5, 6))
	f.Add([]byte{Magic})
	f.Add(AppendProbe(nil, 3, ProbeCapability))
	f.Add(AppendProbed(nil, 3, netip.MustParseAddrPort("239.1.1.1:5")))
	f.Add(Append(nil, Heartbeat, 9))
	f.Add(Append(nil, CapTest, 9))
	f.Add(AppendDirQuery(nil, 2))
	f.Add(AppendReceipt(nil, 0, 0, 0))
	f.Add(func() []byte {
		b, _ := AppendDirectory(nil, []Entry{{"a://239.1.1.1:1", "h:1"}, {"", ""}}, 0)
		return b
	}())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Append(nil), b) {
			t.Fatalf("%x parses as %+v, which encodes differently", b, c)
		}
	})
}
