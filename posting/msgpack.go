package posting

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// appendWriter is an io.Writer and io.ByteWriter that appends to a slice,
// letting msgpack encode straight into the caller's destination buffer.
// Implementing WriteByte keeps msgpack from wrapping it in an allocating
// adapter.
type appendWriter struct{ b []byte }

// Write appends p; it never fails.
func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// WriteByte appends c; it never fails.
func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

// encState is a pooled msgpack encoder bound to its own appendWriter.
type encState struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encPool = sync.Pool{New: func() any {
	s := new(encState)
	s.enc = msgpack.NewEncoder(&s.w)
	// Deterministic output for maps, so that equal bodies encode to
	// equal bytes.
	s.enc.SetSortMapKeys(true)
	return s
}}

// appendMsgpack appends the msgpack encoding of v to dst. On error the
// returned slice may hold a partial encoding past len(dst); callers
// truncate it.
func appendMsgpack(dst []byte, v any) (out []byte, err error) {
	s := encPool.Get().(*encState)
	s.w.b = dst
	defer func() {
		if r := recover(); r != nil {
			// msgpack or a custom encoder panicked; the encoder's
			// state is unknown, so it is not returned to the pool.
			out, err = s.w.b, fmt.Errorf("msgpack panic: %v", r)
			s.w.b = nil
			return
		}
		s.w.b = nil
		encPool.Put(s)
	}()
	err = s.enc.Encode(v)
	return s.w.b, err
}

// decState is a pooled msgpack decoder bound to its own bytes.Reader, which
// implements io.ByteScanner, so the decoder reads it directly without extra
// buffering and leaves unread bytes in it.
type decState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any {
	s := new(decState)
	s.dec = msgpack.NewDecoder(&s.r)
	// Allocate slices, maps and byte buffers at their declared sizes
	// in one go rather than growing them in 1 MiB or 1e6-element
	// steps: checkMsgpack has bounded every declared length by the
	// input, and exact sizes are what the pre-scan's cost model
	// assumes (growth in steps allocates several times as much).
	s.dec.DisableAllocLimit(true)
	return s
}}

// maxPooledInput is the largest input after which a decoder is returned to
// the pool; decoders keep scratch buffers sized to what they decoded.
const maxPooledInput = 64 << 10

// decodeMsgpack runs fn on a pooled decoder reading data and checks that
// fn consumed all of data. Panics inside msgpack are turned into errors.
//
// data is first checked with checkMsgpack, so that msgpack never sees
// lengths that would make it allocate more than the input justifies, and
// then, if plan is not nil, scanned as msgpack will decode it into plan's
// type (see scanMsgpack). If the scan bounds the decode's allocations above
// limit, decodeMsgpack returns errBudget (or errOverlap) without decoding.
// A limit of math.MaxUint64 scans for the structural problems only.
func decodeMsgpack(data []byte, plan *scanPlan, limit uint64, fn func(*msgpack.Decoder) (any, error)) (v any, err error) {
	depth, err := checkMsgpackDepth(data)
	if err != nil {
		return nil, err
	}
	if plan != nil {
		if _, _, _, err := scanMsgpack(data, plan, limit, checkStackCost(depth)); err != nil {
			return nil, err
		}
	}
	s := decPool.Get().(*decState)
	s.r.Reset(data)
	// Forget strings interned by an earlier decode, and anything else
	// the decoder kept of its last reader; the flags stay.
	s.dec.ResetReader(&s.r)
	defer func() {
		if r := recover(); r != nil {
			// The decoder's state is unknown; drop it.
			v, err = nil, fmt.Errorf("msgpack panic: %v", r)
			s.r.Reset(nil)
			return
		}
		s.r.Reset(nil)
		if len(data) <= maxPooledInput {
			decPool.Put(s)
		}
	}()
	v, err = fn(s.dec)
	if err == nil && s.r.Len() != 0 {
		v, err = nil, fmt.Errorf("msgpack: %d trailing bytes after the value", s.r.Len())
	}
	return v, err
}

// unmarshalMsgpack decodes all of data into the pointer v, with no budget
// (see Raw.Decode).
func unmarshalMsgpack(data []byte, v any) error {
	_, err := decodeMsgpack(data, decodeTarget(v), math.MaxUint64, func(d *msgpack.Decoder) (any, error) {
		return nil, d.Decode(v)
	})
	return err
}

// decodeTarget returns the plan of what msgpack's Decoder.Decode(v) decodes
// into, or nil if it rejects v before reading anything.
func decodeTarget(v any) *scanPlan {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil
	}
	if _, ok := v.(*time.Time); ok {
		return topTime // Decode's fast path: Decoder.DecodeTime
	}
	e := rv.Elem()
	if e.Kind() == reflect.Interface && !e.IsNil() {
		// Decode decodes into what a non-nil interface points to.
		if e.Elem().Kind() != reflect.Pointer {
			return nil
		}
		return planFor(e.Elem().Type())
	}
	return planFor(e.Type())
}
