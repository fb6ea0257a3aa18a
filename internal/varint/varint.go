package varint

import "encoding/binary"

// Len is the length of x's shortest encoding: what binary.AppendUvarint
// appends.
func Len(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// Read decodes the shortest-form uvarint at the start of b: its value and
// length, or n <= 0 when b does not start with one (cut off, longer than
// 64 bits, or not the shortest encoding of its value).
func Read(b []byte) (v uint64, n int) {
	v, n = binary.Uvarint(b)
	if n <= 0 || n != Len(v) {
		return 0, -1
	}
	return v, n
}
