package posting

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxMsgpackDepth bounds the nesting of arrays and maps in a msgpack body
// accepted for decoding, as encoding/json does, so that hostile input cannot
// exhaust the decoder's stack.
const maxMsgpackDepth = 10000

// errMsgpackTruncated reports a msgpack value cut short.
var errMsgpackTruncated = errors.New("msgpack value is cut short")

// checkMsgpack verifies that b holds exactly one well-formed msgpack value,
// nested at most maxMsgpackDepth deep, whose every array, map, string,
// binary and extension length fits in the bytes that follow it.
//
// The msgpack library sizes allocations from the lengths it reads (up to
// 2^32 elements for arrays and maps), so a few hostile bytes could make it
// allocate gigabytes, and deep nesting could overflow the goroutine stack;
// neither failure can be recovered from. Checking first bounds the number
// of elements any decode allocates by len(b). The check itself does not
// allocate for nesting up to 32 levels (see checkStackCost).
func checkMsgpack(b []byte) error {
	_, err := checkMsgpackDepth(b)
	return err
}

// checkMsgpackDepth is checkMsgpack, also returning the deepest nesting of
// non-empty arrays and maps it met.
func checkMsgpackDepth(b []byte) (depth int, err error) {
	var stackBuf [checkStackBuf]uint64
	stack := stackBuf[:0] // items left in enclosing containers
	var left uint64 = 1   // items left at the current level
	off := 0
	for {
		if left == 0 {
			if len(stack) == 0 {
				break
			}
			left = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			continue
		}
		left--
		if off >= len(b) {
			return 0, errMsgpackTruncated
		}
		start := off
		c := b[off]
		off++

		var (
			skip  uint64 // payload bytes to skip
			items uint64 // nested items that follow
		)
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			items = 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			items = uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = uint64(c & 0x1f)
		default:
			switch c {
			case 0xc0, 0xc2, 0xc3: // nil, false, true
			case 0xc1:
				return 0, fmt.Errorf("msgpack byte 0xc1 (never used) at body offset %d", start)
			case 0xc4, 0xd9: // bin8, str8
				n, ok := readLen(b, &off, 1)
				if !ok {
					return 0, errMsgpackTruncated
				}
				skip = n
			case 0xc5, 0xda: // bin16, str16
				n, ok := readLen(b, &off, 2)
				if !ok {
					return 0, errMsgpackTruncated
				}
				skip = n
			case 0xc6, 0xdb: // bin32, str32
				n, ok := readLen(b, &off, 4)
				if !ok {
					return 0, errMsgpackTruncated
				}
				skip = n
			case 0xc7: // ext8: length, type, data
				n, ok := readLen(b, &off, 1)
				if !ok {
					return 0, errMsgpackTruncated
				}
				skip = n + 1
			case 0xc8: // ext16
				n, ok := readLen(b, &off, 2)
				if !ok {
					return 0, errMsgpackTruncated
				}
				skip = n + 1
			case 0xc9: // ext32
				n, ok := readLen(b, &off, 4)
				if !ok {
					return 0, errMsgpackTruncated
				}
				skip = n + 1
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1: // uint16, int16
				skip = 2
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				skip = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				skip = 8
			case 0xd4: // fixext1: type, data
				skip = 1 + 1
			case 0xd5: // fixext2
				skip = 1 + 2
			case 0xd6: // fixext4
				skip = 1 + 4
			case 0xd7: // fixext8
				skip = 1 + 8
			case 0xd8: // fixext16
				skip = 1 + 16
			case 0xdc: // array16
				n, ok := readLen(b, &off, 2)
				if !ok {
					return 0, errMsgpackTruncated
				}
				items = n
			case 0xdd: // array32
				n, ok := readLen(b, &off, 4)
				if !ok {
					return 0, errMsgpackTruncated
				}
				items = n
			case 0xde: // map16
				n, ok := readLen(b, &off, 2)
				if !ok {
					return 0, errMsgpackTruncated
				}
				items = 2 * n
			case 0xdf: // map32
				n, ok := readLen(b, &off, 4)
				if !ok {
					return 0, errMsgpackTruncated
				}
				items = 2 * n
			}
		}
		rest := uint64(len(b) - off)
		if skip > rest {
			return 0, errMsgpackTruncated
		}
		off += int(skip)
		if items > 0 {
			// Every item takes at least one byte.
			if items > uint64(len(b)-off) {
				return 0, fmt.Errorf("msgpack container at body offset %d declares %d items but only %d bytes follow", start, items, len(b)-off)
			}
			if len(stack) >= maxMsgpackDepth {
				return 0, fmt.Errorf("msgpack value nests deeper than %d levels", maxMsgpackDepth)
			}
			stack = append(stack, left)
			left = items
			depth = max(depth, len(stack))
		}
	}
	if off != len(b) {
		return 0, fmt.Errorf("msgpack: %d trailing bytes after the value", len(b)-off)
	}
	return depth, nil
}

// checkStackBuf is the nesting checkMsgpack handles without allocating.
const checkStackBuf = 32

// checkStackCost is what checkMsgpack allocates for a nesting of depth
// levels: its stack of item counts grows by append beyond checkStackBuf.
func checkStackCost(depth int) uint64 {
	var cost uint64
	for c := checkStackBuf; c < depth; {
		// growslice: double below 256 elements, then grow by a quarter
		// and 192; the runtime rounds the array up to a size class.
		n := 2 * c
		if c >= 256 {
			n = c + (c+3*256)/4
		}
		size := allocSize(uint64(n) * 8)
		cost += size
		c = int(size / 8)
	}
	return cost
}

// readLen reads a big-endian length of size 1, 2 or 4 bytes at *off.
func readLen(b []byte, off *int, size int) (uint64, bool) {
	if len(b)-*off < size {
		return 0, false
	}
	p := b[*off:]
	*off += size
	switch size {
	case 1:
		return uint64(p[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), true
	default:
		return uint64(binary.BigEndian.Uint32(p)), true
	}
}
