package stack

import (
	"bytes"
	"testing"
)

func TestPacketPushConsume(t *testing.T) {
	pl := NewPool()
	p := pl.Get(16, 100, 8)
	p.Append([]byte("payload"))
	if p.Headroom() != 16 {
		t.Fatalf("headroom %d, want 16", p.Headroom())
	}
	copy(p.Push(4), "hdr1")
	copy(p.Push(2), "h2")
	copy(p.Extend(3), "tag")
	if got := string(p.Bytes()); got != "h2hdr1payloadtag" {
		t.Fatalf("bytes %q", got)
	}
	if pl.Grown() != 0 {
		t.Fatalf("grew within headroom")
	}
	if b, ok := p.Consume(2); !ok || string(b) != "h2" {
		t.Fatalf("consume h2: %q %v", b, ok)
	}
	if b, ok := p.Peek(4); !ok || string(b) != "hdr1" {
		t.Fatalf("peek: %q %v", b, ok)
	}
	if _, ok := p.Consume(4); !ok {
		t.Fatal("consume hdr1")
	}
	if !p.Trim(3) || string(p.Bytes()) != "payload" {
		t.Fatalf("trim: %q", p.Bytes())
	}
	if _, ok := p.Consume(8); ok {
		t.Fatal("consumed past the end")
	}
	if p.Trim(8) || p.Truncate(8) || p.Truncate(-1) {
		t.Fatal("trimmed past the end")
	}
	if string(p.Bytes()) != "payload" {
		t.Fatalf("failed calls changed the packet: %q", p.Bytes())
	}
	p.Release()
	if pl.Outstanding() != 0 {
		t.Fatalf("outstanding %d", pl.Outstanding())
	}
}

func TestPacketGrowsWhenHeadroomShort(t *testing.T) {
	pl := NewPool()
	p := pl.Get(2, 10, 0)
	p.Append([]byte("0123456789"))
	copy(p.Push(5), "HEAD!")
	if got := string(p.Bytes()); got != "HEAD!0123456789" {
		t.Fatalf("after growth: %q", got)
	}
	if pl.Grown() != 1 {
		t.Fatalf("Grown %d, want 1", pl.Grown())
	}
	big := bytes.Repeat([]byte{7}, 5000)
	copy(p.Extend(len(big)), big)
	if p.Len() != 15+5000 || pl.Grown() != 2 {
		t.Fatalf("len %d grown %d", p.Len(), pl.Grown())
	}
	p.Release()
	if pl.Outstanding() != 0 {
		t.Fatalf("outstanding %d", pl.Outstanding())
	}
}

func TestPacketAppendWith(t *testing.T) {
	pl := NewPool()
	p := pl.Get(8, 16, 4)
	if err := p.AppendWith(func(b []byte) ([]byte, error) { return append(b, "abc"...), nil }); err != nil {
		t.Fatal(err)
	}
	if string(p.Bytes()) != "abc" || p.Headroom() != 8 {
		t.Fatalf("in place: %q headroom %d", p.Bytes(), p.Headroom())
	}
	// Outgrow the buffer: the result must still land in the packet, and
	// the reserved tailroom must stay free.
	long := bytes.Repeat([]byte("x"), 3000)
	if err := p.AppendWith(func(b []byte) ([]byte, error) { return append(b, long...), nil }); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 3003 || !bytes.Equal(p.Bytes()[3:], long) || p.Tailroom() < 4 {
		t.Fatalf("after realloc: len %d tailroom %d", p.Len(), p.Tailroom())
	}
	p.Release()
}

func TestPacketRefcountAndWritable(t *testing.T) {
	pl := NewPool()
	p := pl.FromBytes(4, []byte("data"))
	m := p.Mark()
	p.Retain()
	if !p.Shared() {
		t.Fatal("retained packet not shared")
	}
	w := p.Writable()
	if w == p {
		t.Fatal("Writable returned a shared packet")
	}
	w.Bytes()[0] = 'D'
	if string(p.Bytes()) != "data" {
		t.Fatalf("writing the copy changed the original: %q", p.Bytes())
	}
	if p.Shared() {
		t.Fatal("Writable did not release the caller's reference")
	}
	copy(p.Push(2), "hh")
	p.Restore(m)
	if string(p.Bytes()) != "data" {
		t.Fatalf("restore: %q", p.Bytes())
	}
	if p.Writable() != p {
		t.Fatal("sole owner got a copy")
	}
	w.Release()
	p.Release()
	if pl.Outstanding() != 0 {
		t.Fatalf("outstanding %d", pl.Outstanding())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("double release did not panic")
		}
	}()
	p.Release()
}

func TestPacketDetach(t *testing.T) {
	pl := NewPool()
	p := pl.FromBytes(0, []byte("keep me"))
	b := p.Detach()
	p.Release()
	q := pl.Get(0, 7, 0) // must not reuse b's storage
	q.Append([]byte("XXXXXXX"))
	if string(b) != "keep me" {
		t.Fatalf("detached bytes changed: %q", b)
	}
	q.Release()
}

func TestClassOf(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{0, 0}, {1, 0}, {2048, 0}, {2049, 1}, {4096, 1}, {4097, 2},
		{32 << 10, 4}, {32<<10 + 1, 5}, {40 << 10, 5}, {40<<10 + 1, 6},
		{64 << 10, 8}, {64<<10 + 1, 9}, {80 << 10, 9}, {128 << 10, 12},
		{maxPooled, numClasses - 1}, {maxPooled + 1, -1},
	} {
		if got := classOf(c.n); got != c.class {
			t.Errorf("classOf(%d) = %d, want %d", c.n, got, c.class)
		}
		if c.class >= 0 && classSize(c.class) < c.n {
			t.Errorf("class %d too small for %d", c.class, c.n)
		}
	}
	// Every size gets the smallest class that holds it, which it leaves
	// less than half empty (less than a quarter above 32 KiB).
	for n := 1; n <= maxPooled; n += 1 + n/97 {
		c := classOf(n)
		if c < 0 || classSize(c) < n || (c > 0 && classSize(c-1) >= n) {
			t.Fatalf("classOf(%d) = %d (size %d)", n, c, classSize(c))
		}
		if n > 1<<minClassShift && (classSize(c)-n)*2 >= classSize(c) ||
			n > 32<<10 && (classSize(c)-n)*4 >= classSize(c) {
			t.Fatalf("classOf(%d): a class of %d bytes", n, classSize(c))
		}
	}
	if classSize(numClasses-1) != maxPooled {
		t.Fatalf("the last class holds %d bytes, want %d", classSize(numClasses-1), maxPooled)
	}
}

func TestPoolUnpooledLarge(t *testing.T) {
	pl := NewPool()
	p := pl.Get(10, maxPooled, 10)
	if p.Headroom() != 10 || p.Tailroom() < maxPooled {
		t.Fatalf("headroom %d tailroom %d", p.Headroom(), p.Tailroom())
	}
	p.Release()
	if pl.Outstanding() != 0 {
		t.Fatal("leak")
	}
}
