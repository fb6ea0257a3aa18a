package posting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"time"
)

// The decode budget. A msgpack body of n bytes is decoded only if the
// pre-scan's bound on what msgpack will allocate is at most
// budgetPerByte*n + budgetBase bytes; the Go value of the registered type
// itself (and its interface box), whose size the receiving application
// chose by registering the type, is not charged.
//
// 8 bytes per byte lets every ordinary value through: a string, []byte or
// number costs at most about 3 bytes per encoded byte, a struct or slice of
// structs with non-trivial fields 2 to 6. What it stops is the decodes whose
// cost has nothing to do with their size: one-byte empty maps, arrays and
// nils that each become a 16- to 512-byte Go value, so that a 1 MiB body
// would allocate tens or hundreds of megabytes. budgetBase covers
// msgpack's fixed costs (a decoder, its scratch buffer, an error value) and
// lets small bodies of inherently expensive shapes through: a map costs at
// least a few hundred bytes however few entries it has.
const (
	budgetPerByte = 8
	budgetBase    = 4096
)

// decodeLimit returns the budget for a body of n bytes.
func decodeLimit(n int) uint64 { return budgetPerByte*uint64(n) + budgetBase }

// Costs the pre-scan charges for what it cannot see into.
const (
	// customPerByte is charged per encoded byte of a value decoded by
	// application code (a msgpack.CustomDecoder, msgpack.Unmarshaler,
	// encoding.BinaryUnmarshaler or encoding.TextUnmarshaler, a value
	// of an extension type other than time.Time, a field tagged intern)
	// or in ways the walk does not follow (a field promoted through an
	// unexported embedded struct). It is the whole per-byte budget: such
	// a value is assumed to stay within the budget on its own.
	customPerByte = budgetPerByte
	// customFixed is charged per such value on top: msgpack records the
	// bytes of an Unmarshaler's value in a fresh 64-byte buffer.
	customFixed = 64
	// timeParseCost bounds what time.Parse allocates for a time.Time
	// body sent as a string (a *time.Location for a numeric zone, or
	// an error).
	timeParseCost = 512
	// smallScratch is charged once per decode for msgpack's scratch
	// buffer growing to the 8 bytes of its largest number.
	smallScratch = 128
	// failCost is charged once for a decode predicted to fail: the
	// error msgpack returns, or the panic it raises (reflect's, for a
	// value it cannot set) and the error the recovery makes of it.
	failCost = 2048
)

var (
	// errBudget stops a scan whose bound exceeds its limit.
	errBudget = errors.New("over budget")
	// errOverlap stops a scan of a struct map that sets one field twice:
	// msgpack decodes the second into the first's storage, growing maps
	// and slices it made, which the cost model does not follow.
	errOverlap = errors.New("field set twice")
	// errExtensionMap refuses a map whose header msgpack would read
	// from inside an extension.
	errExtensionMap = errors.New("msgpack extension where a map is expected")
	// errBrokenType refuses a type msgpack cannot build a decoder for.
	errBrokenType = errors.New("msgpack cannot decode into")
)

// scanMsgpack bounds the bytes msgpack allocates decoding data, which
// checkMsgpack has accepted (allocating checked bytes), into a fresh zero
// value of plan's type. It returns the bound (checked included), whether
// it predicts that msgpack's decode fails (mismatch: the data does not
// fit the type), and whether part of the bound is an assumption about
// application code (opaque).
//
// The error is errBudget when the bound exceeds limit (or errOverlap, when
// limit is not math.MaxUint64, for a struct map that sets a field twice),
// or a structural error for data msgpack would read differently from
// checkMsgpack (a map whose header hides inside an extension, which
// msgpack unwraps without checking its length) and for types msgpack
// cannot build a decoder for.
func scanMsgpack(data []byte, plan *scanPlan, limit, checked uint64) (cost uint64, mismatch, opaque bool, err error) {
	s := scanner{b: data, limit: limit, scratch: 8, cost: smallScratch + checked}
	err = s.value(plan)
	if err == nil && s.cost > s.limit {
		err = errBudget
	}
	if err == nil && s.off != len(data) {
		err = fmt.Errorf("msgpack: %d trailing bytes after the value as msgpack decodes it", len(data)-s.off)
	}
	return s.cost, s.mismatch, s.opaque, err
}

// scanner walks a msgpack value, which checkMsgpack has accepted, as
// msgpack decodes it into a type, adding up what the decode allocates.
type scanner struct {
	b        []byte
	off      int
	cost     uint64
	limit    uint64
	scratch  int // the largest read so far through msgpack's scratch buffer
	mismatch bool
	opaque   bool
	quiet    bool // moving past a value msgpack does not read
}

// charge adds n bytes to the bound.
func (s *scanner) charge(n uint64) error {
	if s.quiet {
		return nil
	}
	s.cost += n
	if s.cost < n {
		s.cost = math.MaxUint64
	}
	if s.cost > s.limit {
		return errBudget
	}
	return nil
}

// scratchRead charges msgpack's scratch buffer (Decoder.readN, with the
// allocation limit disabled) for a read of n bytes. The buffer only grows
// when a read exceeds every earlier one; append then sizes it to at most
// min(2n, 1.25n+192) bytes. (Under the race detector, the compiler also
// allocates the zeroed slice appended.)
func (s *scanner) scratchRead(n int) error {
	if n <= s.scratch {
		return nil
	}
	s.scratch = n
	u := uint64(n)
	c := allocSize(min(2*u, u+u/4+192))
	if raceEnabled {
		c += allocSize(u)
	}
	return s.charge(c)
}

// Value classes of a msgpack header.
const (
	hNil = iota
	hBool
	hInt // fixint, int 8-64, uint 8-64
	hFloat32
	hFloat64
	hStr
	hBin
	hArray
	hMap
	hExt
)

// head is a msgpack header.
type head struct {
	c     byte
	class int
	n     int  // str, bin and ext payload length, array and map count
	num   int  // bytes of an int or float payload read through the scratch buffer
	ext   int8 // extension type
	start int  // offset of the header
}

// readHead reads the header at s.off, charging the scratch buffer for the
// length bytes msgpack reads through it. For ints and floats it also
// consumes the payload; for str, bin and ext it leaves the payload.
func (s *scanner) readHead() (head, error) {
	h := head{start: s.off}
	if s.off >= len(s.b) {
		return h, errMsgpackTruncated
	}
	c := s.b[s.off]
	s.off++
	h.c = c
	size := 0 // bytes of the length field
	switch {
	case c <= 0x7f || c >= 0xe0:
		h.class = hInt
	case c <= 0x8f:
		h.class, h.n = hMap, int(c&0x0f)
	case c <= 0x9f:
		h.class, h.n = hArray, int(c&0x0f)
	case c <= 0xbf:
		h.class, h.n = hStr, int(c&0x1f)
	default:
		switch c {
		case 0xc0:
			h.class = hNil
		case 0xc2, 0xc3:
			h.class = hBool
		case 0xc4, 0xc5, 0xc6:
			h.class, size = hBin, 1<<(c-0xc4)
		case 0xd9, 0xda, 0xdb:
			h.class, size = hStr, 1<<(c-0xd9)
		case 0xc7, 0xc8, 0xc9:
			h.class, size = hExt, 1<<(c-0xc7)
		case 0xca:
			h.class, h.num = hFloat32, 4
		case 0xcb:
			h.class, h.num = hFloat64, 8
		case 0xcc, 0xd0:
			h.class = hInt // one byte, read without the scratch buffer
			if s.off >= len(s.b) {
				return h, errMsgpackTruncated
			}
			s.off++
		case 0xcd, 0xd1:
			h.class, h.num = hInt, 2
		case 0xce, 0xd2:
			h.class, h.num = hInt, 4
		case 0xcf, 0xd3:
			h.class, h.num = hInt, 8
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
			h.class, h.n = hExt, 1<<(c-0xd4)
		case 0xdc, 0xdd:
			h.class, size = hArray, 2<<(c-0xdc)
		case 0xde, 0xdf:
			h.class, size = hMap, 2<<(c-0xde)
		default: // 0xc1
			return h, fmt.Errorf("msgpack byte 0xc1 (never used) at body offset %d", s.off-1)
		}
	}
	if size > 0 {
		if len(s.b)-s.off < size {
			return h, errMsgpackTruncated
		}
		p := s.b[s.off:]
		switch size {
		case 1:
			h.n = int(p[0])
		case 2:
			h.n = int(binary.BigEndian.Uint16(p))
		default:
			h.n = int(binary.BigEndian.Uint32(p))
		}
		s.off += size
		if size > 1 {
			if err := s.scratchRead(size); err != nil {
				return h, err
			}
		}
	}
	if h.class == hExt {
		if s.off >= len(s.b) {
			return h, errMsgpackTruncated
		}
		h.ext = int8(s.b[s.off])
		s.off++
	}
	if h.num > 0 {
		if len(s.b)-s.off < h.num {
			return h, errMsgpackTruncated
		}
		s.off += h.num
		if err := s.scratchRead(h.num); err != nil {
			return h, err
		}
	}
	// Lengths were checked by checkMsgpack; check again so that a scan
	// never runs past the input whatever it is given.
	switch h.class {
	case hStr, hBin, hExt:
		if h.n > len(s.b)-s.off {
			return h, errMsgpackTruncated
		}
	case hArray:
		if h.n > len(s.b)-s.off {
			return h, errMsgpackTruncated
		}
	case hMap:
		if h.n > (len(s.b)-s.off)/2 {
			return h, errMsgpackTruncated
		}
	}
	return h, nil
}

// payload skips the str, bin or ext payload of h, charging the scratch
// buffer if msgpack reads it through there.
func (s *scanner) payload(h head, scratch bool) error {
	s.off += h.n
	if scratch && h.n > 0 {
		return s.scratchRead(h.n)
	}
	return nil
}

// skip skips the value whose header is h as msgpack's Decoder.Skip does,
// reading every str, bin and ext payload through the scratch buffer.
func (s *scanner) skip(h head) error {
	switch h.class {
	case hStr, hBin:
		return s.payload(h, true)
	case hExt:
		// Skip reads the type byte and payload together.
		s.off += h.n
		return s.scratchRead(h.n + 1)
	case hArray, hMap:
		n := h.n
		if h.class == hMap {
			n *= 2
		}
		for range n {
			if err := s.skipNext(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *scanner) skipNext() error {
	h, err := s.readHead()
	if err != nil {
		return err
	}
	return s.skip(h)
}

// pass moves past the value whose header is h without charging anything:
// msgpack stops before reading it.
func (s *scanner) pass(h head) error {
	scratch := s.scratch
	s.quiet = true
	err := s.skip(h)
	s.quiet, s.scratch = false, scratch
	return err
}

// custom charges a value msgpack hands to application code by its encoded
// size, and skips it.
func (s *scanner) custom(h head, extra uint64) error {
	if err := s.skip(h); err != nil {
		return err
	}
	return s.charge(customPerByte*uint64(s.off-h.start) + customFixed + extra)
}

// mismatched records that msgpack will fail at the value whose header is
// h, before reading it, and moves past it. The rest of the body is still
// charged: the bound does not rely on the failure.
func (s *scanner) mismatched(h head) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.pass(h)
}

// fail records that msgpack will fail, and charges the error it makes.
func (s *scanner) fail() error {
	if s.mismatch {
		return nil
	}
	s.mismatch = true
	return s.charge(failCost)
}

// zeroCost is what reflect.Zero allocates for t: types larger than its
// 1 KiB shared zero value get a fresh one.
func zeroCost(p *scanPlan) uint64 {
	if p.size > 1024 {
		return allocSize(p.size)
	}
	return 0
}

// str charges a string decoded by Decoder.DecodeString.
func (s *scanner) str(h head) (ok bool, err error) {
	switch h.class {
	case hNil:
		return true, nil
	case hStr, hBin:
		if err := s.payload(h, true); err != nil {
			return true, err
		}
		return true, s.charge(stringCost(h.n))
	}
	return false, nil
}

// stringCost is what string(b) allocates for n bytes: nothing for zero
// or one byte (the runtime has static one-byte strings).
func stringCost(n int) uint64 {
	if n <= 1 {
		return 0
	}
	return noscanSize(uint64(n))
}

// value scans one value decoded into a fresh zero value of p's type whose
// own storage is already paid for.
func (s *scanner) value(p *scanPlan) error {
	h, err := s.readHead()
	if err != nil {
		return err
	}
	switch p.kind {
	case planCustom:
		s.opaque = true
		if h.class == hNil {
			return s.charge(zeroCost(p))
		}
		return s.custom(h, p.customNew)

	case planTime:
		// msgpack's extension decoder for time.Time; a nil panics
		// in its nil handling (reflect.Value.IsNil on a struct).
		if h.class != hExt || h.ext != -1 {
			return s.mismatched(h)
		}
		if h.n != 4 && h.n != 8 && h.n != 12 {
			if err := s.fail(); err != nil {
				return err
			}
		}
		return s.payload(h, true)

	case planTopTime:
		switch {
		case h.c == 0x92: // legacy [sec, nsec]
			for range 2 {
				e, err := s.readHead()
				if err != nil {
					return err
				}
				if e.class != hInt && e.class != hNil {
					if err := s.mismatched(e); err != nil {
						return err
					}
				}
			}
			return nil
		case h.class == hStr:
			s.opaque = true // whether time.Parse accepts it
			if err := s.payload(h, true); err != nil {
				return err
			}
			return s.charge(stringCost(h.n) + timeParseCost)
		case h.class == hExt && (h.ext == -1 || h.ext == 13):
			if h.n != 4 && h.n != 8 && h.n != 12 {
				if err := s.fail(); err != nil {
					return err
				}
			}
			return s.payload(h, true)
		}
		return s.mismatched(h)

	case planPtr:
		if h.class == hNil {
			return nil
		}
		s.off = h.start // the pointee decodes the same value
		if err := s.charge(allocSize(p.elem.size)); err != nil {
			return err
		}
		return s.value(p.elem)

	case planBytes:
		switch h.class {
		case hNil:
			return nil
		case hStr, hBin:
			// Read straight into a new slice of exactly n bytes.
			if err := s.payload(h, false); err != nil {
				return err
			}
			return s.charge(noscanSize(uint64(h.n)))
		}
		return s.mismatched(h)

	case planByteArray:
		switch h.class {
		case hNil:
			return nil
		case hStr, hBin:
			if h.n > p.arrayLen {
				if err := s.fail(); err != nil {
					return err
				}
			}
			return s.payload(h, false)
		}
		return s.mismatched(h)

	case planStringSlice:
		switch h.class {
		case hNil:
			return nil
		case hArray:
			if err := s.charge(allocSize(16 * uint64(h.n))); err != nil {
				return err
			}
			for range h.n {
				e, err := s.readHead()
				if err != nil {
					return err
				}
				ok, err := s.str(e)
				if err != nil {
					return err
				}
				if !ok {
					if err := s.mismatched(e); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return s.mismatched(h)

	case planMapStringString, planMapStringAny, planMap:
		return s.typedMap(p, h)

	case planBool:
		if h.class != hNil && h.class != hBool {
			return s.mismatched(h)
		}
		return nil

	case planInt, planUint:
		if h.class != hNil && h.class != hInt {
			return s.mismatched(h)
		}
		return nil

	case planFloat32:
		if h.class != hNil && h.class != hInt && h.class != hFloat32 {
			return s.mismatched(h)
		}
		return nil

	case planFloat64:
		if h.class != hNil && h.class != hInt && h.class != hFloat32 && h.class != hFloat64 {
			return s.mismatched(h)
		}
		return nil

	case planString:
		ok, err := s.str(h)
		if err != nil || ok {
			return err
		}
		return s.mismatched(h)

	case planInterface:
		k, err := s.dynamic(h)
		if err != nil {
			return err
		}
		switch {
		case k == dynNil:
		case p.typ == errorType && k == dynString:
			return s.charge(allocSize(16)) // errors.New
		case p.typ.NumMethod() > 0 && p.implements&(1<<k) == 0:
			return s.fail() // reflect.Value.Set panics
		}
		return nil

	case planSlice:
		switch h.class {
		case hNil:
			return nil
		case hArray:
			// reflect.MakeSlice(n) and reflect.AppendSlice onto the
			// nil slice: two arrays, and three slice headers that
			// escape (MakeSlice's, extendSlice's, Value.Slice's).
			c := allocSize(24)
			if h.n > 0 {
				arr := allocSize(uint64(h.n) * p.elem.size)
				c = 3*allocSize(24) + 2*arr
			}
			if err := s.charge(c); err != nil {
				return err
			}
			for range h.n {
				if err := s.value(p.elem); err != nil {
					return err
				}
			}
			return nil
		}
		return s.mismatched(h)

	case planArray:
		switch h.class {
		case hNil:
			return nil
		case hArray:
			if h.n > p.arrayLen {
				return s.mismatched(h)
			}
			for range h.n {
				if err := s.value(p.elem); err != nil {
					return err
				}
			}
			return nil
		}
		return s.mismatched(h)

	case planStruct:
		return s.structValue(p, h)

	case planUnsupported:
		return s.mismatched(h)
	}
	return fmt.Errorf("%w %v", errBrokenType, p.typ)
}

// typedMap scans a map decoded into a map type: Decoder.DecodeMapLen, then
// a map made for exactly the declared count.
func (s *scanner) typedMap(p *scanPlan, h head) error {
	switch h.class {
	case hNil:
		return nil
	case hMap:
	case hExt:
		// DecodeMapLen skips an extension header and reads the map
		// header from the payload, whose declared length it ignores:
		// the count was never checked against the input, and a few
		// bytes could make it allocate gigabytes.
		return fmt.Errorf("%w at body offset %d", errExtensionMap, h.start)
	default:
		return s.mismatched(h)
	}
	c := mapCost(uint64(h.n), p.slot) + uint64(h.n)*(p.indirectKey+p.indirectElem)
	if p.kind == planMap {
		// decodeTypedMapValue: reflect.New for every key and value.
		c += uint64(h.n) * (allocSize(p.key.size) + allocSize(p.elem.size))
	}
	if err := s.charge(c); err != nil {
		return err
	}
	for range h.n {
		switch p.kind {
		case planMapStringString, planMapStringAny:
			kh, err := s.readHead()
			if err != nil {
				return err
			}
			ok, err := s.str(kh)
			if err != nil {
				return err
			}
			if !ok {
				if err := s.mismatched(kh); err != nil {
					return err
				}
			}
			vh, err := s.readHead()
			if err != nil {
				return err
			}
			if p.kind == planMapStringAny {
				if _, err := s.dynamic(vh); err != nil {
					return err
				}
				continue
			}
			ok, err = s.str(vh)
			if err != nil {
				return err
			}
			if !ok {
				if err := s.mismatched(vh); err != nil {
					return err
				}
			}
		default:
			if p.key.kind == planInterface {
				// A dynamic key must be hashable.
				kh, err := s.readHead()
				if err != nil {
					return err
				}
				k, err := s.dynamic(kh)
				if err != nil {
					return err
				}
				if k == dynBytes || k == dynSlice || k == dynMap ||
					p.key.typ.NumMethod() > 0 && p.key.implements&(1<<k) == 0 {
					if err := s.fail(); err != nil { // unhashable: a panic
						return err
					}
				}
			} else if err := s.value(p.key); err != nil {
				return err
			}
			if err := s.value(p.elem); err != nil {
				return err
			}
		}
	}
	return nil
}

// structValue scans a struct decoded from a map keyed by field name or from
// an array of all its fields in order.
func (s *scanner) structValue(p *scanPlan, h head) error {
	fs := p.fields
	switch h.class {
	case hNil:
		return s.charge(zeroCost(p))
	case hMap:
	case hArray:
		if h.n == 0 {
			return s.charge(zeroCost(p))
		}
		if h.n != len(fs.list) {
			return s.mismatched(h)
		}
	default:
		return s.mismatched(h)
	}
	// structs.Fields boxes its cache key on every call.
	if err := s.charge(allocSize(32)); err != nil {
		return err
	}
	var local [4]uint64
	seen := local[:]
	if fs.words > len(local) {
		seen = make([]uint64, fs.words)
		if err := s.charge(allocSize(8 * uint64(fs.words))); err != nil {
			return err
		}
	}
	if h.class == hArray {
		for _, id := range fs.list {
			if err := s.field(fs, id, seen); err != nil {
				return err
			}
		}
		return nil
	}
	for range h.n {
		// The name is read through the scratch buffer, without
		// allocating.
		kh, err := s.readHead()
		if err != nil {
			return err
		}
		var name []byte
		switch kh.class {
		case hNil:
		case hStr, hBin:
			name = s.b[s.off : s.off+kh.n]
			if err := s.payload(kh, true); err != nil {
				return err
			}
		default:
			if err := s.mismatched(kh); err != nil {
				return err
			}
			if err := s.skipNext(); err != nil {
				return err
			}
			continue
		}
		id, ok := fs.byName[string(name)]
		if !ok {
			if err := s.skipNext(); err != nil { // unknown field
				return err
			}
			continue
		}
		if err := s.field(fs, id, seen); err != nil {
			return err
		}
	}
	return nil
}

// field scans the value of field entry id.
func (s *scanner) field(fs *structPlan, id int32, seen []uint64) error {
	e := &fs.entries[id]
	for i, w := range e.conflict {
		if seen[i]&w != 0 {
			if s.limit != math.MaxUint64 {
				return errOverlap
			}
			break
		}
	}
	seen[id/64] |= 1 << (id % 64)
	for _, ep := range e.ptrs {
		if seen[ep.bit/64]&(1<<(ep.bit%64)) == 0 {
			seen[ep.bit/64] |= 1 << (ep.bit % 64)
			if err := s.charge(allocSize(ep.size)); err != nil {
				return err
			}
		}
	}
	if e.intern || e.readonly {
		// msgpack's string interning; or a field reflect will not
		// set (most decodes into it panic, some do not).
		h, err := s.readHead()
		if err != nil {
			return err
		}
		s.opaque = true
		return s.custom(h, 0)
	}
	return s.value(e.plan)
}

// Dynamic kinds: the Go types msgpack's Decoder.DecodeInterface returns.
const (
	dynNil = iota
	dynBool
	dynInt8
	dynInt16
	dynInt32
	dynInt64
	dynUint8
	dynUint16
	dynUint32
	dynUint64
	dynFloat32
	dynFloat64
	dynString
	dynBytes
	dynSlice
	dynMap
	dynTime
	dynOther // an extension decoded by application code
	numDyn
)

var dynTypes = [numDyn]reflect.Type{
	dynBool:    reflect.TypeFor[bool](),
	dynInt8:    reflect.TypeFor[int8](),
	dynInt16:   reflect.TypeFor[int16](),
	dynInt32:   reflect.TypeFor[int32](),
	dynInt64:   reflect.TypeFor[int64](),
	dynUint8:   reflect.TypeFor[uint8](),
	dynUint16:  reflect.TypeFor[uint16](),
	dynUint32:  reflect.TypeFor[uint32](),
	dynUint64:  reflect.TypeFor[uint64](),
	dynFloat32: reflect.TypeFor[float32](),
	dynFloat64: reflect.TypeFor[float64](),
	dynString:  reflect.TypeFor[string](),
	dynBytes:   reflect.TypeFor[[]byte](),
	dynSlice:   reflect.TypeFor[[]any](),
	dynMap:     reflect.TypeFor[map[string]any](),
	dynTime:    reflect.TypeFor[time.Time](),
}

// implementedDyn returns the dynamic kinds whose Go type implements the
// interface type t. An extension decoded by application code is assumed
// to.
func implementedDyn(t reflect.Type) dynSet {
	set := dynSet(1<<dynNil | 1<<dynOther)
	for k, dt := range dynTypes {
		if dt != nil && dt.Implements(t) {
			set |= 1 << k
		}
	}
	return set
}

// dynamic scans a value decoded by Decoder.DecodeInterface, whose header h
// has been read, and returns its dynamic kind. The cost includes boxing
// the value in an interface: nothing for nil, bools, maps, one-byte
// integers and values below 256; a small pointer-free object for other
// numbers; a 16-byte string header or a 24-byte slice header.
func (s *scanner) dynamic(h head) (int, error) {
	switch h.class {
	case hNil:
		return dynNil, nil
	case hBool:
		return dynBool, nil
	case hInt:
		switch h.c {
		case 0xcc:
			return dynUint8, nil
		case 0xcd:
			return dynUint16, s.charge(noscanSize(2))
		case 0xce:
			return dynUint32, s.charge(noscanSize(4))
		case 0xcf:
			return dynUint64, s.charge(noscanSize(8))
		case 0xd1:
			return dynInt16, s.charge(noscanSize(2))
		case 0xd2:
			return dynInt32, s.charge(noscanSize(4))
		case 0xd3:
			return dynInt64, s.charge(noscanSize(8))
		}
		return dynInt8, nil // fixint, int8
	case hFloat32:
		return dynFloat32, s.charge(noscanSize(4))
	case hFloat64:
		return dynFloat64, s.charge(noscanSize(8))
	case hStr:
		if err := s.payload(h, true); err != nil {
			return dynString, err
		}
		c := stringCost(h.n)
		if h.n > 0 {
			c += allocSize(16)
		}
		return dynString, s.charge(c)
	case hBin:
		if err := s.payload(h, false); err != nil {
			return dynBytes, err
		}
		return dynBytes, s.charge(noscanSize(uint64(h.n)) + allocSize(24))
	case hArray:
		if err := s.charge(allocSize(16*uint64(h.n)) + allocSize(24)); err != nil {
			return dynSlice, err
		}
		for range h.n {
			e, err := s.readHead()
			if err != nil {
				return dynSlice, err
			}
			if _, err := s.dynamic(e); err != nil {
				return dynSlice, err
			}
		}
		return dynSlice, nil
	case hMap:
		if err := s.charge(mapCost(uint64(h.n), 32)); err != nil {
			return dynMap, err
		}
		for range h.n {
			kh, err := s.readHead()
			if err != nil {
				return dynMap, err
			}
			ok, err := s.str(kh)
			if err != nil {
				return dynMap, err
			}
			if !ok {
				if err := s.mismatched(kh); err != nil {
					return dynMap, err
				}
			}
			vh, err := s.readHead()
			if err != nil {
				return dynMap, err
			}
			if _, err := s.dynamic(vh); err != nil {
				return dynMap, err
			}
		}
		return dynMap, nil
	case hExt:
		switch h.ext {
		case -1: // time.Time: reflect.New, then its copy in the interface
			if h.n != 4 && h.n != 8 && h.n != 12 {
				if err := s.fail(); err != nil {
					return dynTime, err
				}
			}
			if err := s.payload(h, true); err != nil {
				return dynTime, err
			}
			return dynTime, s.charge(2 * allocSize(24))
		case math.MinInt8:
			// msgpack's interned-string reference: an index into
			// strings interned earlier in this decode, which only
			// fields tagged intern (charged as custom) add.
			s.opaque = true
			return dynString, s.custom(h, allocSize(16))
		}
		// Another extension: an error unless the application
		// registered it, when its decoder runs.
		s.opaque = true
		return dynOther, s.custom(h, 0)
	}
	return dynNil, fmt.Errorf("msgpack byte %#x at body offset %d", h.c, h.start)
}

// sizeClasses are the Go runtime's small object size classes (its
// internal/runtime/gc.SizeClassToSize); objects of up to 32 KiB are
// rounded up to one of them, larger ones to whole 8 KiB pages.
var sizeClasses = [...]uint16{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// allocSize is the bytes the runtime accounts for an allocation of n bytes
// (runtime.MemStats.TotalAlloc). Objects under 16 bytes may share a 16-byte
// block; each is charged the whole block.
func allocSize(n uint64) uint64 {
	switch {
	case n == 0:
		return 0
	case n <= 16:
		return 16
	case n <= 32768:
		lo, hi := 0, len(sizeClasses)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if uint64(sizeClasses[mid]) >= n {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return uint64(sizeClasses[lo])
	case n > math.MaxUint64/2:
		return math.MaxUint64 / 2
	}
	return (n + 8191) &^ 8191
}

// noscanSize is allocSize for an object without pointers (string bytes, a
// []byte array, a boxed number). The runtime packs those under 16 bytes
// into shared 16-byte blocks, starting a new block for one that does not
// fit and keeping whichever of the two blocks has more room. Charging 8
// bytes for objects of up to 8 bytes and 16 for larger ones covers every
// block: a block started by an object over 8 bytes is paid for by it, and
// one started by an object of up to 8 bytes always has room for the next
// such object, so it holds at least two objects unless it is the last
// block started, which the fixed costs cover. The race detector turns the
// packing off.
func noscanSize(n uint64) uint64 {
	switch {
	case n == 0:
		return 0
	case n <= 8 && !raceEnabled:
		return 8
	case n < 16:
		return 16
	}
	return allocSize(n)
}

// mapCost bounds what make(map[K]V, n) and n assignments allocate in the
// runtime's Swiss tables, for a slot (key and value) of slot bytes: the
// 48-byte map header; for up to 8 entries one group of 8 slots and 8
// control bytes; beyond that a directory and tables sized for n at a load
// of 7/8, each table holding up to 1024 slots.
//
// Entries spread over several tables at random (the hash seed is random per
// map), binomially, and a table that more than 7/8 of its slots' worth of
// entries hash to grows (allocating groups of twice its capacity) or, at
// 1024 slots, splits (allocating two full tables, and perhaps doubling the
// directory). Unless the average load is within 6 standard deviations of
// the limit, which all but rules that out, the bound allows none;
// otherwise one in half the tables and a few more.
func mapCost(n, slot uint64) uint64 {
	c := allocSize(48)
	if n == 0 {
		return c
	}
	group := 8 + 8*slot
	if n <= 8 {
		return c + allocSize(group)
	}
	if n > math.MaxUint64/(8*group) {
		return math.MaxUint64 / 2
	}
	target := n * 8 / 7
	dir := uint64(1) << bits.Len64((target+1023)/1024-1)
	capacity := max(uint64(8), uint64(1)<<bits.Len64(target/dir-1))
	table := allocSize(32) + allocSize(capacity/8*group)
	c += allocSize(8*dir) + dir*table
	if dir > 1 {
		event := 2 * (allocSize(32) + allocSize(128*group)) // a split; a growth costs less
		limit := float64(capacity * 7 / 8)
		events := uint64(0)
		if float64(n/dir) > limit-6*math.Sqrt(limit) {
			events = min(dir, dir/2+2*uint64(math.Sqrt(float64(dir)))+1)
		}
		c += events*event + allocSize(16*dir) + allocSize(32*dir)
	}
	return c
}
