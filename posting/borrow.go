package posting

import (
	"bytes"
	"slices"
	"unsafe"
)

// A Borrower decodes postings without allocating, for receivers that
// handle each posting before the next arrives (a channel's SubscribeFunc
// with channel.NoRetain). It owns one Posting, which every Decode
// overwrites: a []byte body aliases the decoded bytes, and the Body
// interface holding it points into the Borrower itself, so no Decode of a
// []byte body allocates (nor does one with no body, or a Stream or Key
// seen recently: those are interned as in [Decode]).
//
// The contract: the Posting returned, its Body and anything read from
// them are valid only until the next Decode, and only while the decoded
// bytes are unchanged. A receiver that keeps a posting keeps
// [Posting.Clone]'s copy. A string body, Headers and a msgpack body are
// decoded as [Decode] decodes them (they allocate, and do not alias the
// input). The zero Borrower is ready to use; it is not safe for
// concurrent use.
type Borrower struct {
	p    Posting
	body []byte // the []byte the Body interface points at
}

// eface is the layout of an empty interface value (runtime.eface).
type eface struct {
	typ, data unsafe.Pointer
}

// bytesTypeWord is the runtime type word of []byte, as an interface holds it.
var bytesTypeWord = func() unsafe.Pointer {
	var v any = []byte(nil)
	return (*eface)(unsafe.Pointer(&v)).typ
}()

// Decode decodes the encoding b into the Borrower's Posting and returns
// it. Errors are those of [Decode]; on error the previous posting is
// gone.
func (d *Borrower) Decode(b []byte) (*Posting, error) {
	var h wireHeader
	d.p = Posting{}
	d.body = nil
	if err := decodeHeader(b, &h); err != nil {
		return nil, err
	}
	d.p = h.p
	if h.stream != nil {
		d.p.Stream = streamCache.intern(h.stream)
	}
	if h.key != nil {
		d.p.Key = keyCache.intern(h.key)
	}
	if h.nHeaders != 0 {
		d.p.Headers = decodeHeaders(h.headers, h.nHeaders)
	}
	body := b[h.bodyOff:]
	switch h.enc {
	case bodyBytes:
		d.body = body[:len(body):len(body)]
		// Body = d.body, without the allocation boxing a slice costs: the
		// interface's data word points at d.body, which lives as long as
		// the Borrower, and its type word is []byte's.
		e := (*eface)(unsafe.Pointer(&d.p.Body))
		e.typ = bytesTypeWord
		e.data = unsafe.Pointer(&d.body)
	case bodyString:
		d.p.Body = string(body)
	case bodyMsgpack:
		d.p.Body = decodeBody(h.typeName, body, h.ptr, false)
	}
	return &d.p, nil
}

// Borrowed reports whether p is the Posting of a Borrower, valid only until
// that Borrower's next Decode.
func (d *Borrower) Borrowed(p *Posting) bool { return p == &d.p }

// Clone returns a copy of p that shares nothing mutable with it: a []byte
// body, a Raw body's Data and the Headers slice are copied. Other body
// values (strings, registered types) are shared as they are; a pointer
// body still points at the same value.
func (p *Posting) Clone() *Posting {
	q := *p
	switch b := p.Body.(type) {
	case []byte:
		if b != nil {
			q.Body = bytes.Clone(b)
		}
	case Raw:
		b.Data = bytes.Clone(b.Data)
		q.Body = b
	}
	q.Headers = slices.Clone(p.Headers)
	return &q
}
