// Package varint reads and sizes the unsigned LEB128 varints of
// encoding/binary the canonical way the wire formats need: a decoder that
// accepted a longer encoding of the same value would let bytes change
// without changing what they say, which signatures and canonical
// re-encoding rule out.
package varint
