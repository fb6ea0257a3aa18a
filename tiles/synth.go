package tiles

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
)

// Desktop generates the seeded synthetic desktop the package's targets are
// measured on: a flat background and taskbar, windows with text-like glyph
// blocks, one photo-like region (smooth gradients with noise), and two
// changes per frame: a window moving across the screen (over the photo
// too) and a line of typing, one glyph a frame. At 1920×1080 with 64×64
// tiles about 5 % of the tiles change per frame. The same seed gives the
// same frames.
type Desktop struct {
	w, h   int
	rng    *rand.Rand
	base   *image.RGBA // the desktop without the moving window (typing drawn in)
	frame  *image.RGBA
	glyphs [64][16]uint8 // 8×16 glyph bitmaps, a byte a row

	// the typing: the text area and the cursor
	text          image.Rectangle
	curX, curY, n int

	// the moving window
	win        image.Rectangle
	vx, vy     int
	winContent *image.RGBA
}

// Colours of the desktop.
var (
	deskBG   = color.RGBA{0x2d, 0x4f, 0x6c, 0xff}
	barBG    = color.RGBA{0x20, 0x20, 0x24, 0xff}
	paper    = color.RGBA{0xfa, 0xfa, 0xf7, 0xff}
	ink      = color.RGBA{0x22, 0x22, 0x2a, 0xff}
	titleBG  = color.RGBA{0x3c, 0x6e, 0xb4, 0xff}
	titleInk = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// NewDesktop returns a generator of w×h frames (the targets use
// 1920×1080; w and h at least 320×240) from seed.
func NewDesktop(w, h int, seed uint64) *Desktop {
	w, h = max(w, 320), max(h, 240)
	d := &Desktop{w: w, h: h, rng: rand.New(rand.NewPCG(seed, 0xde5c))}
	for g := range d.glyphs {
		// Strokes: a vertical, a horizontal or two, some dots — text-like
		// ink on x-height rows 4..13 with an ascender now and then.
		var bm [16]uint8
		top := 5
		if d.rng.IntN(3) == 0 {
			top = 2
		}
		if c := d.rng.IntN(6); true {
			for y := top; y < 14; y++ {
				bm[y] |= 1 << (1 + c)
			}
		}
		for range 1 + d.rng.IntN(2) {
			y := 5 + d.rng.IntN(9)
			bm[y] |= 0x7e
		}
		for range 3 {
			bm[5+d.rng.IntN(9)] |= 1 << d.rng.IntN(8)
		}
		d.glyphs[g] = bm
	}
	d.base = image.NewRGBA(image.Rect(0, 0, w, h))
	d.frame = image.NewRGBA(image.Rect(0, 0, w, h))
	fill(d.base, d.base.Rect, deskBG)
	fill(d.base, image.Rect(0, h-40, w, h), barBG)
	for i := range 6 { // taskbar buttons
		fill(d.base, image.Rect(8+i*160, h-34, 8+i*160+150, h-6), color.RGBA{0x44, 0x44, 0x4c, 0xff})
	}
	// A document window full of text (left), an editor being typed into
	// (bottom right), the photo (top right).
	doc := image.Rect(w/40, h/20, w/40+w*2/5, h/20+h*3/5)
	d.window(d.base, doc)
	d.glyphBlock(d.base, doc.Inset(12).Add(image.Pt(0, 14)), 0)
	photo := image.Rect(w/2, h/20, w/2+w/3, h/20+h*2/5)
	d.photo(d.base, photo)
	ed := image.Rect(w/2, h/2, w/2+w*2/5, h/2+h/3)
	d.window(d.base, ed)
	d.text = ed.Inset(12)
	d.text.Min.Y += 14
	d.curX, d.curY = d.text.Min.X, d.text.Min.Y
	// The moving window: a dialog with its own text.
	ww, wh := w/6, h/5
	d.winContent = image.NewRGBA(image.Rect(0, 0, ww, wh))
	d.window(d.winContent, d.winContent.Rect)
	d.glyphBlock(d.winContent, d.winContent.Rect.Inset(8).Add(image.Pt(0, 10)), 0)
	d.win = image.Rect(w/5, h/3, w/5+ww, h/3+wh)
	d.vx, d.vy = 5, 3
	return d
}

// Next returns the next frame. The image is the generator's and is
// overwritten by the next call.
func (d *Desktop) Next() *image.RGBA {
	d.n++
	if d.n == 1 {
		copy(d.frame.Pix, d.base.Pix)
	}
	glyph := image.Rect(d.curX, d.curY, d.curX+8, d.curY+16)
	old := d.win
	d.typeGlyph()
	// Move the window, bouncing off the screen's edges (taskbar excluded).
	d.win = d.win.Add(image.Pt(d.vx, d.vy))
	if d.win.Min.X < 0 || d.win.Max.X > d.w {
		d.vx = -d.vx
		d.win = d.win.Add(image.Pt(2*d.vx, 0))
	}
	if d.win.Min.Y < 0 || d.win.Max.Y > d.h-40 {
		d.vy = -d.vy
		d.win = d.win.Add(image.Pt(0, 2*d.vy))
	}
	// The frame is the base with the window on top: restore what changed
	// in the base and where the window was, then draw the window.
	copyRect(d.frame, d.base, glyph)
	copyRect(d.frame, d.base, old)
	for y := 0; y < d.win.Dy(); y++ {
		src := d.winContent.Pix[y*d.winContent.Stride : y*d.winContent.Stride+d.win.Dx()*4]
		off := d.frame.PixOffset(d.win.Min.X, d.win.Min.Y+y)
		copy(d.frame.Pix[off:off+len(src)], src)
	}
	return d.frame
}

// typeGlyph draws the next glyph at the cursor and moves it on; at the
// end of the text area the typing starts again at its top, over the old
// text.
func (d *Desktop) typeGlyph() {
	if d.rng.IntN(6) == 0 { // a space
		fill(d.base, image.Rect(d.curX, d.curY, d.curX+8, d.curY+16), paper)
	} else {
		d.drawGlyph(d.base, d.curX, d.curY, d.rng.IntN(len(d.glyphs)), ink, paper)
	}
	d.curX += 8
	if d.curX+8 > d.text.Max.X {
		d.curX, d.curY = d.text.Min.X, d.curY+18
		if d.curY+16 > d.text.Max.Y {
			d.curY = d.text.Min.Y
		}
	}
}

func (d *Desktop) window(img *image.RGBA, r image.Rectangle) {
	fill(img, r, paper)
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+22), titleBG)
	for i := range min(12, (r.Dx()-20)/8) { // the title
		d.drawGlyph(img, r.Min.X+8+i*8, r.Min.Y+3, d.rng.IntN(len(d.glyphs)), titleInk, titleBG)
	}
}

// glyphBlock fills r with lines of text: words of 2–9 glyphs, lines of
// varying length, a blank line now and then.
func (d *Desktop) glyphBlock(img *image.RGBA, r image.Rectangle, _ int) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y+16 <= r.Max.Y; y += 18 {
		if d.rng.IntN(7) == 0 {
			continue
		}
		end := r.Max.X - d.rng.IntN(max(1, r.Dx()/3))
		for x := r.Min.X; x+8 <= end; {
			word := 2 + d.rng.IntN(8)
			for range word {
				if x+8 > end {
					break
				}
				d.drawGlyph(img, x, y, d.rng.IntN(len(d.glyphs)), ink, paper)
				x += 8
			}
			x += 8
		}
	}
}

func (d *Desktop) drawGlyph(img *image.RGBA, x, y, g int, fg, bg color.RGBA) {
	if !image.Rect(x, y, x+8, y+16).In(img.Rect) {
		return
	}
	for row := range 16 {
		bits := d.glyphs[g][row]
		off := img.PixOffset(x, y+row)
		for col := range 8 {
			c := bg
			if bits&(1<<col) != 0 {
				c = fg
			}
			img.Pix[off+col*4], img.Pix[off+col*4+1], img.Pix[off+col*4+2], img.Pix[off+col*4+3] = c.R, c.G, c.B, c.A
		}
	}
}

// photo paints smooth gradients and sensor-like noise: what compresses
// like a photograph.
func (d *Desktop) photo(img *image.RGBA, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			fx, fy := float64(x-r.Min.X), float64(y-r.Min.Y)
			v := [3]float64{
				128 + 60*math.Sin(fx/37+fy/53) + 30*math.Cos(fy/23),
				110 + 50*math.Cos(fx/29-fy/61) + 25*math.Sin(fx/11+fy/17),
				100 + 70*math.Sin((fx+fy)/45) + 20*math.Cos(fx/13),
			}
			off := img.PixOffset(x, y)
			for c := range 3 {
				n := float64(d.rng.IntN(5) - 2)
				img.Pix[off+c] = uint8(min(255, max(0, v[c]+n)))
			}
			img.Pix[off+3] = 0xff
		}
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		off := img.PixOffset(r.Min.X, y)
		for x := range r.Dx() {
			img.Pix[off+x*4], img.Pix[off+x*4+1], img.Pix[off+x*4+2], img.Pix[off+x*4+3] = c.R, c.G, c.B, c.A
		}
	}
}

func copyRect(dst, src *image.RGBA, r image.Rectangle) {
	r = r.Intersect(dst.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := dst.PixOffset(r.Min.X, y)
		copy(dst.Pix[o:o+r.Dx()*4], src.Pix[o:o+r.Dx()*4])
	}
}
