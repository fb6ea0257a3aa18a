// Package posting defines the Posting, the typed message that rwanda
// channels send over multicast and unicast transports, together with its
// compact, versioned binary encoding.
//
// A [Posting] is a body (any Go value) plus a small header: the stream it
// belongs to, a [Media] class, a [Kind] (one-way [Message], or [Request],
// [Reply], [Fault] and [Cancel] for request/reply exchanges), fields the
// channel fills in when sending (sequence number, sender id, send time),
// fields that control delivery (time to live, correlation id, reply-to
// member, reply deadline, latest-wins key, frame id and end marker), and
// ordered application headers (name/value pairs for metadata and trace
// context).
//
// # Usage
//
// Register the body types you exchange, once per process, under names that
// are the same on every peer:
//
//	type Chat struct {
//		From, Text string
//	}
//
//	func init() { posting.Register[Chat]("example.com/chat.Chat") }
//
// Build postings with [New] and options, and encode them with
// [Posting.MarshalBinary] or, to reuse a buffer, [Posting.AppendBinary]:
//
//	p := posting.New(&Chat{From: "ann", Text: "hi"},
//		posting.WithStream("lobby"), posting.WithMedia(posting.Text),
//		posting.WithTTL(5*time.Second))
//	buf, err := p.AppendBinary(buf[:0])
//
// Decode with [Decode] or [Posting.UnmarshalBinary] and switch on the body:
//
//	q, err := posting.Decode(buf)
//	if err != nil {
//		return err // malformed input; errors.Is(err, posting.ErrMalformed) etc.
//	}
//	switch body := q.Body.(type) {
//	case *Chat: // the sender pushed a *Chat
//	case posting.Raw: // unknown type, or bytes that did not decode
//		log.Printf("cannot decode %s: %v", body.Type, body.Err)
//	}
//
// Decode copies what it keeps, so the posting outlives buf. A receiver
// that handles each posting before decoding the next can use a
// [Borrower] instead: it reuses one Posting, and a []byte body aliases the
// input, so decoding allocates nothing; [Posting.Clone] copies what is to
// be kept. A channel's SubscribeFunc with NoRetain works that way.
//
// # Bodies
//
// nil, []byte and string bodies travel as raw bytes, without reflection or
// msgpack, and decode as nil, []byte and string. A decoded []byte body is
// never nil (an empty one is []byte{}), and is a copy of the input.
//
// Every other body is encoded with github.com/vmihailenco/msgpack/v5 (so
// msgpack struct tags apply, and structs are encoded as maps keyed by field
// name unless they use `msgpack:",as_array"`; map keys are sorted, so equal
// maps encode to equal bytes) and is tagged with a wire type name:
//
//   - for types registered with [Register], the registered name;
//   - for other types, the reflect.Type.String form of the type, such as
//     "main.Chat". A receiver can register a compatible type under that
//     name to decode such bodies.
//
// A pointer body *T is encoded as T and carries a pointer flag; the
// receiver gets back the shape the sender pushed: T for a T, *T for a *T,
// and a nil *T for a nil *T. Only one level of pointer is removed: a **T
// body is tagged with the name of *T, which cannot be registered.
//
// The names "bool", "int", "int64", "uint64", "float64" and "[]string" are
// registered in advance and decode as those Go types. map[string]any and
// []any bodies travel under the names "map[string]interface {}" and
// "[]interface {}", but a receiver decodes them only after opting in with
// [RegisterDynamic] (they are the costliest values to decode; see below);
// values inside them decode as msgpack decodes them into interface values
// (for example, a small int becomes an int8).
//
// Before msgpack sees a body, its structure is checked: it must be exactly
// one msgpack value, nested at most 10000 levels deep, whose every array,
// map, string, binary and extension length fits in the bytes that follow.
// This matters because the msgpack library sizes allocations from declared
// lengths (six hostile bytes can make it allocate 4 GiB); after the check,
// the number of elements any decode allocates is bounded by the body size.
//
// # Decode budget
//
// Bounding the number of elements is not enough: one byte can become a
// large Go value. An empty msgpack map (one byte) decodes into a []any
// element as an interface value and a new map, 80 bytes; into a
// []struct{ A [64]int64 } element as 512 bytes, which msgpack's slice
// decoder allocates twice. A 1 MiB body of such bytes would take 34 MB to
// over 1 GB. So before decoding a body into its registered type T, the
// receiver walks the msgpack bytes together with T, as msgpack will decode
// them, and adds up an upper bound of what the decode allocates; if the
// bound exceeds 8 bytes per body byte plus 4096, the body is not decoded:
// Body is a [Raw] whose Err is [ErrOverBudget] and whose Data holds the
// bytes. The Go value of T itself (and its interface box) is not charged:
// its size is the receiving application's choice, not the sender's.
//
// The cost model follows msgpack's decoders and the Go runtime's allocator
// (its size classes, its packing of small pointer-free objects, the layout
// of its hash tables):
//
//   - strings: their bytes (none for strings of 0 or 1 byte), plus
//     msgpack's scratch buffer, which grows to the longest string, field
//     name or skipped value read; []byte and byte arrays: their bytes;
//   - slices: the element array (count times element size) twice, since
//     msgpack builds it with reflect.MakeSlice and reflect.AppendSlice,
//     and three slice headers; []string once;
//   - maps: the map header, and the groups of key/value slots its tables
//     need for the count at a load of 7/8 (with room for the growth or
//     splitting of tables that random hashing may cause when they are
//     nearly full), a new key and value per entry for typed maps, and
//     keys and values over 128 bytes stored out of line;
//   - pointers: the pointee; structs: decoded in place, from a map keyed
//     by field name (msgpack's names: the msgpack tag, its alias option,
//     inlined embedded structs; unknown fields are skipped and cost only
//     their scratch reads) or from an array of all fields; a nil embedded
//     pointer that msgpack allocates on the way to a promoted field; fixed
//     arrays: in place;
//   - interfaces: the dynamic value msgpack creates (int8 for small
//     integers, int64, float64, string, []byte, []any, map[string]any,
//     time.Time) and its interface box;
//   - time.Time: nothing beyond its scratch read (and an allowance for
//     time.Parse when a whole time.Time body is sent as a string);
//   - values decoded by application code, which the walk cannot see into
//     (msgpack.CustomDecoder, msgpack.Unmarshaler,
//     encoding.BinaryUnmarshaler and encoding.TextUnmarshaler
//     implementations, extension types other than time.Time, fields tagged
//     intern, fields promoted through unexported embedded structs): 8 bytes
//     per byte of their encoding plus 64, that is, the whole budget of
//     their bytes. This is an assumption, not a bound: a custom decoder
//     that allocates more than that per byte it reads can take a decode
//     past the budget, so such decoders must bound their own allocations.
//     Decoders installed with msgpack.Register or msgpack.RegisterExt for
//     types that implement none of these interfaces cannot be detected,
//     and are assumed to decode as msgpack's own decoders would.
//
// The budget admits every ordinary value: strings, byte slices, numbers
// and structs with real content cost 1 to 6 bytes per body byte. What it
// refuses are large bodies of values whose Go form dwarfs their encoding:
// empty strings in a []string (16 bytes each), nils, empty arrays and maps
// in dynamic values, small integers in large fixed arrays, empty maps as
// structs; also, as every non-empty Go map takes at least about 340 bytes,
// arrays of small JSON-like objects (under some 45 bytes each). The 4096
// bytes let small bodies of any shape through (a one-entry map[string]any
// costs about 350 bytes). A struct map that sets the same field twice, by
// a repeated key, an alias or an embedded struct's name and a promoted
// field, is refused as well: msgpack would decode the second value into
// the first's storage, growing its maps, which the walk does not follow.
// A body that fails to decode after passing the walk also costs the copy
// of its bytes kept in the Raw (but for [DecodeShared]).
//
// The walk also refuses, with an error, a map whose header msgpack would
// read from inside an extension value (its map length decoder skips an
// extension header without checking the length it finds inside, so eight
// bytes could make it allocate a table for 2^31 entries), and types for
// which msgpack cannot build a decoder without recursing forever.
//
// [Raw.Decode], which applications call explicitly, walks the bytes only
// for those refusals: it has no budget, and decodes a body that
// [ErrOverBudget] kept from decoding, at whatever cost. The walk runs in
// time linear in the body and allocates nothing (but once per type, to
// plan it, and for structs of more than 256 fields).
//
// A msgpack body whose type name is not registered in the receiver, whose
// decode would exceed the budget, or whose bytes fail those checks or do
// not decode as the registered type (including bytes left over after the
// value), is not an error: the posting decodes, and its Body is a [Raw]
// holding the type name, the msgpack bytes, the pointer flag and the
// reason in Raw.Err. [Raw.Decode] unmarshals the bytes later, and a posting
// whose body is a Raw re-encodes its body verbatim, so relays can forward
// bodies they do not understand.
//
// # Wire format, version 2
//
// All multi-byte integers are little-endian. "uvarint" is the unsigned
// LEB128 varint of [encoding/binary.AppendUvarint], which decoders require
// to be minimally encoded (at most 10 bytes, no redundant trailing zero
// groups).
//
//	offset  size  field
//	0       1     version: 2. Decoders also accept 1 (see Version 1 below)
//	              and reject any other value with ErrVersion.
//	1       1     flags:
//	                bit 0 (0x01) Stream present
//	                bit 1 (0x02) TTL present
//	                bit 2 (0x04) Correlation present
//	                bit 3 (0x08) ReplyTo present
//	                bit 4 (0x10) Sent present
//	                bit 5 (0x20) Seq present
//	                bit 6 (0x40) Sender present
//	                bit 7 (0x80) body was a pointer (*T); only with body encoding 3
//	2       1     class: media<<4 | kind
//	                bits 7-4 media: 0 data, 1 audio, 2 video, 3 text, 4 image,
//	                         5 control; 6-15 are rejected
//	                bits 3-0 kind: 0 message, 1 request, 2 reply, 3 fault,
//	                         4 cancel; 5-15 are rejected
//	3       1     flags2:
//	                bits 1-0 body encoding: 0 nil, 1 bytes, 2 string, 3 msgpack
//	                bit 2 (0x04) Key present
//	                bit 3 (0x08) Headers present
//	                bit 4 (0x10) Frame present
//	                bit 5 (0x20) FrameEnd; only with bit 4
//	                bit 6 (0x40) ReplyWithin present; only with kind 1 (request)
//	                bit 7 (0x80) reserved, must be 0
//
// A Cancel (kind 4) must have its Correlation flag set.
//
// Then, each only if its flag is set, in this order:
//
//	Seq          uvarint, nonzero
//	Sender       8 bytes (uint64), nonzero
//	Sent         8 bytes (int64 Unix nanoseconds; any value, 0 is the epoch)
//	TTL          uvarint nanoseconds, 1..2^63-1
//	Correlation  uvarint, nonzero
//	ReplyTo      8 bytes (uint64), nonzero
//	Stream       1 length byte (1..255), then that many bytes
//	ReplyWithin  uvarint nanoseconds, 1..2^63-1
//	Frame        uvarint, nonzero
//	Key          1 length byte (1..64), then that many bytes
//	Headers      uvarint count (1..32), then count entries, each:
//	               name   1 length byte (1..255), then that many bytes
//	               value  uvarint length (0..4096), then that many bytes
//	             the names and values total at most 4096 bytes
//
// Then, only if the body encoding is 3 (msgpack):
//
//	type name    1 length byte (1..255), then that many bytes
//
// Finally the body, which is all remaining bytes:
//
//	encoding 0 (nil)      no bytes; any remaining byte is an error
//	encoding 1 (bytes)    the []byte, verbatim (may be empty)
//	encoding 2 (string)   the string, verbatim (may be empty, need not be UTF-8)
//	encoding 3 (msgpack)  one msgpack value; 0xc0 (msgpack nil) with the
//	                      pointer flag means a nil *T
//
// A field is present exactly when it is set: a zero Seq, Sender,
// Correlation, ReplyTo, TTL, ReplyWithin or Frame, an empty Stream or Key,
// no Headers (nil or empty) and a zero Sent time are omitted, and decoders
// reject a present field holding zero or the empty string, and a Headers
// count of zero (a present Sent of 0 is the Unix epoch, which is not the
// zero time.Time; header values may be empty).
// Together with the minimal varints this makes the header canonical: every
// Posting has exactly one header encoding, and a Posting decoded from a
// version 2 encoding re-encodes to the same header bytes. Bodies of encodings 0 to 2, and Raw bodies,
// re-encode to the same bytes too; a decoded msgpack value re-encodes to an
// equal value, but not necessarily to the same bytes (msgpack admits several
// encodings of most values).
//
// Decoding is bounded by its input: every length and count is checked
// against the bytes that remain before anything is allocated (a Headers
// count, for instance, must not exceed half of them, as every entry takes
// at least 2 bytes).
//
// The smallest encoding, a Message with a nil body and no fields set, is
// the four bytes 02 00 00 00. A Data Message on stream "s" with Seq 1 and
// the []byte body "hi" is 02 21 00 01 01 01 73 68 69.
//
// # Version 1
//
// Version 1 had no flags2 byte: its header was the version byte (1), the
// flags byte as above, and a class byte media<<4 | kind<<2 | body encoding
// (kinds 0 to 3 only), followed by the fields Seq to Stream, the type name
// and the body exactly as in version 2; it had no ReplyWithin, Frame, Key or
// Headers. Decoders still accept it, so that old recordings replay, and
// decode it to the same Posting as the equivalent version 2 encoding; the
// encoder writes only version 2. The "hi" example above was
// 01 21 01 01 01 73 68 69 in version 1.
//
// # Errors
//
// Decoding never panics. Header problems are reported as *[DecodeError]
// values that carry the byte offset and a reason and wrap [ErrVersion],
// [ErrTruncated] or [ErrMalformed], so errors.Is works. Encoding reports
// invalid header fields with errors wrapping [ErrInvalid], and returns the
// msgpack error for bodies msgpack cannot encode (channels, functions, ...).
//
// # Concurrency
//
// The type registry is safe for concurrent use; lookups, which happen for
// every msgpack body encoded or decoded, are lock-free reads of an immutable
// snapshot, and [Register] replaces the snapshot. Encoding and decoding
// functions keep no shared state beyond pooled msgpack encoders and
// decoders, and may be called from any number of goroutines. A Posting
// itself is a plain struct: do not modify it, or its Body, while another
// goroutine uses it.
//
// # Limitations
//
//   - The encoding is not self-delimiting: the body extends to the end of the
//     input, so a datagram cut short inside a []byte or string body decodes
//     as a shorter body. Framing and integrity are the transport's job.
//   - Stream names and type names are limited to 255 bytes, keys to
//     [MaxKeyLen] (64) bytes.
//   - A posting carries at most [MaxHeaders] (32) headers, with names of 1
//     to 255 bytes, and at most [MaxHeaderBytes] (4096) bytes of header
//     names and values in all. Headers travel in every posting's header,
//     uncompressed: keep them small.
//   - Sent is carried as int64 Unix nanoseconds (years 1678 to 2262); the
//     monotonic clock reading and the location are not carried. TTL and
//     ReplyWithin are measured from Sent.
//   - Type names are matched exactly; nothing checks that two peers
//     registered compatible Go types under the same name. msgpack decoding
//     is lenient (unknown struct fields are skipped, missing ones keep their
//     zero value), which helps evolving types but can hide mismatches.
//   - Unregistered bodies of generic types may have reflect names longer
//     than 255 bytes; register such types under shorter names.
//   - Bodies must not contain reference cycles; msgpack would recurse
//     without end.
//   - Decoding a msgpack body into a value type T costs two allocations (the
//     value and its interface box) plus msgpack's own; *T costs one plus
//     msgpack's. The walk that bounds msgpack's allocations reads the body
//     once more before msgpack does. A []byte body costs its copy and its interface box. Stream
//     names and keys are interned in small fixed-size caches, so postings
//     of busy streams and frequent keys usually decode without allocating
//     them. Headers cost two allocations however many there are: the slice
//     and one string that all names and values share (so keeping one
//     decoded header value keeps all of them in memory).
package posting
