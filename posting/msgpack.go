package posting

import (
	"bytes"
	"fmt"
	"sync"

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
	return s
}}

// maxPooledInput is the largest input after which a decoder is returned to
// the pool; decoders keep scratch buffers sized to what they decoded.
const maxPooledInput = 64 << 10

// decodeMsgpack runs fn on a pooled decoder reading data and checks that
// fn consumed all of data. Panics inside msgpack are turned into errors.
//
// data is first checked with checkMsgpack, so that msgpack never sees
// lengths that would make it allocate more than the input justifies.
func decodeMsgpack(data []byte, fn func(*msgpack.Decoder) (any, error)) (v any, err error) {
	if err := checkMsgpack(data); err != nil {
		return nil, err
	}
	s := decPool.Get().(*decState)
	s.r.Reset(data)
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

// unmarshalMsgpack decodes all of data into the pointer v.
func unmarshalMsgpack(data []byte, v any) error {
	_, err := decodeMsgpack(data, func(d *msgpack.Decoder) (any, error) {
		return nil, d.Decode(v)
	})
	return err
}
