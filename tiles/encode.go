package tiles

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Geometry is an image's size and its tiling: tiles of Tile×Tile pixels,
// row by row from the top left, those on the right and bottom edges cut to
// the image.
type Geometry struct {
	Width, Height, Tile int
}

// Limits of a geometry: sides of 1 to MaxSide pixels, tiles of 8 to
// MaxTile pixels in steps of 8, at most MaxTiles tiles.
const (
	MaxSide  = 8192
	MaxTile  = 512
	MaxTiles = 1 << 16
)

// Valid reports whether g is within the limits.
func (g Geometry) Valid() error {
	switch {
	case g.Width < 1 || g.Width > MaxSide || g.Height < 1 || g.Height > MaxSide:
		return fmt.Errorf("%w: image %d×%d (sides 1..%d)", ErrGeometry, g.Width, g.Height, MaxSide)
	case g.Tile < 8 || g.Tile > MaxTile || g.Tile%8 != 0:
		return fmt.Errorf("%w: tile %d (8..%d in steps of 8)", ErrGeometry, g.Tile, MaxTile)
	case g.Cols()*g.Rows() > MaxTiles:
		return fmt.Errorf("%w: %d tiles (at most %d)", ErrGeometry, g.Cols()*g.Rows(), MaxTiles)
	}
	return nil
}

// Cols is the number of tile columns.
func (g Geometry) Cols() int { return (g.Width + g.Tile - 1) / g.Tile }

// Rows is the number of tile rows.
func (g Geometry) Rows() int { return (g.Height + g.Tile - 1) / g.Tile }

// Tiles is the number of tiles.
func (g Geometry) Tiles() int { return g.Cols() * g.Rows() }

// Rect is tile i's rectangle in the image.
func (g Geometry) Rect(i int) image.Rectangle {
	x, y := i%g.Cols()*g.Tile, i/g.Cols()*g.Tile
	return image.Rect(x, y, min(x+g.Tile, g.Width), min(y+g.Tile, g.Height))
}

// Errors.
var (
	ErrGeometry  = errors.New("tiles: bad geometry")
	ErrSize      = errors.New("tiles: frame size differs from the first frame's")
	ErrMalformed = errors.New("tiles: malformed message")
	ErrClosed    = errors.New("tiles: closed")
)

// Encoder diffs frames into tiles and compresses tiles. It is not safe
// for concurrent use.
type Encoder struct {
	g    Geometry
	prev []byte // the last frame's pixels, RGBA, stride Width*4
	have bool
	conv *image.RGBA // a frame of another type, converted
	rgb  []byte      // scratch: a tile's filtered RGB
}

// codecZstd is the only codec: the tile's pixels as RGB rows, each byte
// minus the one 3 to its left (PNG's Sub filter), zstd-compressed.
const codecZstd = 1

var (
	zenc     *zstd.Encoder
	zdec     *zstd.Decoder
	zOnce    sync.Once
	errCodec = errors.New("codec")
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	zOnce.Do(func() {
		var err error
		zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<17))
		if err != nil {
			panic(err)
		}
		zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxMemory(uint64(MaxTile*MaxTile*3)), zstd.WithDecoderMaxWindow(1<<20))
		if err != nil {
			panic(err)
		}
	})
	return zenc, zdec
}

// NewEncoder returns an encoder for frames of geometry g.
func NewEncoder(g Geometry) (*Encoder, error) {
	if err := g.Valid(); err != nil {
		return nil, err
	}
	codecs()
	return &Encoder{g: g, prev: make([]byte, g.Width*g.Height*4), rgb: make([]byte, 0, g.Tile*g.Tile*3)}, nil
}

// Geometry returns the encoder's geometry.
func (e *Encoder) Geometry() Geometry { return e.g }

// RGBA returns img as an *image.RGBA of the encoder's size with its origin
// at (0, 0): img itself when it is one, otherwise a conversion into a
// buffer of the encoder's, overwritten by the next call.
func (e *Encoder) RGBA(img image.Image) (*image.RGBA, error) {
	b := img.Bounds()
	if b.Dx() != e.g.Width || b.Dy() != e.g.Height {
		return nil, fmt.Errorf("%w: %d×%d, want %d×%d", ErrSize, b.Dx(), b.Dy(), e.g.Width, e.g.Height)
	}
	if m, ok := img.(*image.RGBA); ok && b.Min == (image.Point{}) {
		return m, nil
	}
	if e.conv == nil {
		e.conv = image.NewRGBA(image.Rect(0, 0, e.g.Width, e.g.Height))
	}
	draw.Draw(e.conv, e.conv.Rect, img, b.Min, draw.Src)
	return e.conv, nil
}

// Diff appends to dst the indices of the tiles of m that differ from the
// last frame diffed (all of them at the first frame), in order, and
// remembers m's pixels. m must be of the encoder's size with its origin at
// (0, 0) (see [Encoder.RGBA]).
func (e *Encoder) Diff(dst []int, m *image.RGBA) []int {
	g := e.g
	cols := g.Cols()
	rowBytes := g.Width * 4
	for ty := range g.Rows() {
		y0, y1 := ty*g.Tile, min(ty*g.Tile+g.Tile, g.Height)
		for tx := range cols {
			x0, x1 := tx*g.Tile*4, min(tx*g.Tile+g.Tile, g.Width)*4
			changed := !e.have
			for y := y0; y < y1 && !changed; y++ {
				cur := m.Pix[y*m.Stride+x0 : y*m.Stride+x1]
				if !bytes.Equal(cur, e.prev[y*rowBytes+x0:y*rowBytes+x1]) {
					changed = true
				}
			}
			if !changed {
				continue
			}
			for y := y0; y < y1; y++ {
				copy(e.prev[y*rowBytes+x0:y*rowBytes+x1], m.Pix[y*m.Stride+x0:y*m.Stride+x1])
			}
			dst = append(dst, ty*cols+tx)
		}
	}
	e.have = true
	return dst
}

// Compress appends tile i of m, compressed, to dst.
func (e *Encoder) Compress(dst []byte, m *image.RGBA, i int) []byte {
	r := e.g.Rect(i)
	rgb := e.rgb[:0]
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := m.Pix[m.PixOffset(r.Min.X, y):m.PixOffset(r.Max.X, y)]
		var pr, pg, pb byte
		for x := 0; x+3 < len(row); x += 4 {
			rgb = append(rgb, row[x]-pr, row[x+1]-pg, row[x+2]-pb)
			pr, pg, pb = row[x], row[x+1], row[x+2]
		}
	}
	e.rgb = rgb
	enc, _ := codecs()
	return enc.EncodeAll(rgb, dst)
}

// decodeTile decompresses payload, tile i of g, into m (of g's size),
// checking that it holds exactly the tile's pixels. buf is scratch of at
// least g.Tile*g.Tile*3 bytes' capacity.
func decodeTile(m *image.RGBA, g Geometry, i int, payload, buf []byte) error {
	r := g.Rect(i)
	want := r.Dx() * r.Dy() * 3
	_, dec := codecs()
	rgb, err := dec.DecodeAll(payload, buf[:0:want])
	if err != nil {
		return fmt.Errorf("%w: tile %d: %v", ErrMalformed, i, err)
	}
	if len(rgb) != want {
		return fmt.Errorf("%w: tile %d decompresses to %d bytes, want %d", ErrMalformed, i, len(rgb), want)
	}
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := m.Pix[m.PixOffset(r.Min.X, y):m.PixOffset(r.Max.X, y)]
		var pr, pg, pb byte
		for x := 0; x+3 < len(row); x += 4 {
			pr, pg, pb = pr+rgb[n], pg+rgb[n+1], pb+rgb[n+2]
			row[x], row[x+1], row[x+2], row[x+3] = pr, pg, pb, 0xff
			n += 3
		}
	}
	return nil
}
