package varint

import (
	"encoding/binary"
	"testing"
)

func TestRead(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 1 << 32, 1<<64 - 1} {
		b := binary.AppendUvarint(nil, x)
		if Len(x) != len(b) {
			t.Errorf("Len(%d) = %d, encoding has %d bytes", x, Len(x), len(b))
		}
		if v, n := Read(append(b, 0xff)); v != x || n != len(b) {
			t.Errorf("Read(%x) = %d, %d", b, v, n)
		}
	}
	for _, b := range [][]byte{nil, {0x80}, {0x81, 0x00}, {0x80, 0x80, 0x00}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}} {
		if _, n := Read(b); n > 0 {
			t.Errorf("Read(%x) accepted %d bytes", b, n)
		}
	}
}
