package compress

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstd encoders and decoders are expensive to build (tables of hundreds of
// KiB) and cheap to reuse, so they live in package-level pools that every
// layer instance borrows from for the length of one Down or Up call. The
// memory they hold is bounded by how many calls compress at once (stacks
// serialise their own calls), not by the number of stacks, and a layer holds
// nothing between calls.
//
// Both are built for the synchronous EncodeAll and DecodeAll only, with a
// concurrency of one and no reader or writer: in that mode the library
// starts no goroutines, so a pooled coder that the garbage collector drops
// without Close leaks nothing (TestNoGoroutineLeak checks).

// encWindow is the window of the zstd encoders. A larger window helps only
// payloads over 1 MiB and costs its double in history per pooled encoder.
const encWindow = 1 << 20

// zencoders holds encoders by zstd.EncoderLevel (1..4).
var zencoders [5]sync.Pool

func getEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	if e, ok := zencoders[level].Get().(*zstd.Encoder); ok {
		return e
	}
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(encWindow),
		zstd.WithEncoderCRC(true),
		// Single segment frames always carry their content size, which
		// the receiver checks against the declared length.
		zstd.WithSingleSegment(true),
	)
	if err != nil {
		// The options are constants the library accepts.
		panic("compress: building a zstd encoder: " + err.Error())
	}
	return e
}

func putEncoder(level zstd.EncoderLevel, e *zstd.Encoder) { zencoders[level].Put(e) }

// decLimit is the bound a zstd decoder enforces on both the decoded size
// and the window: the layer's max, but never under the windows its own
// encoders use for tiny payloads (up to 2 KiB for a payload of 1 KiB).
func decLimit(limit int64) uint64 { return uint64(max(limit, 4<<10)) }

// zdecoders maps a decoder limit (decLimit) to the pool of decoders built
// with it. A program has as many entries as distinct max values it uses.
var zdecoders sync.Map // uint64 → *sync.Pool

func decoderPool(limit uint64) *sync.Pool {
	if p, ok := zdecoders.Load(limit); ok {
		return p.(*sync.Pool)
	}
	p, _ := zdecoders.LoadOrStore(limit, &sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(limit),
			zstd.WithDecoderMaxWindow(limit),
			zstd.WithDecodeAllCapLimit(true),
		)
		if err != nil {
			// limit is within what the library accepts (4 KiB..1 GiB).
			panic("compress: building a zstd decoder: " + err.Error())
		}
		return d
	}})
	return p.(*sync.Pool)
}
