package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"
	_ "image/jpeg"
	"image/png"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/tiles"
)

func main() {
	url := flag.String("url", "tiles://239.7.7.9:7402?iface=lo", "channel URL")
	name := flag.String("name", "image", "the image's name (its stream)")
	send := flag.String("send", "", "share this image file (PNG, JPEG or GIF); it is read again when it changes")
	recv := flag.String("recv", "", "receive the image and write it to this PNG file as it changes")
	demo := flag.Bool("demo", false, "share a file to two receivers in one process and exit")
	flag.Parse()
	var err error
	switch {
	case *demo:
		err = runDemo(fmt.Sprintf("tiles://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000)), os.Stdout)
	case *send != "":
		err = runSend(*url, *name, *send)
	case *recv != "":
		err = runRecv(*url, *name, *recv)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func readImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func writePNG(path string, img image.Image) error {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// runSend shares the file, and shares it again whenever its modification
// time changes (checked every second), until interrupted.
func runSend(url, name, path string) error {
	return untilInterrupt(url, func(ctx context.Context, ch *channel.Channel) error { return share(ctx, ch, name, path) })
}

// untilInterrupt opens url and runs f on it with a context that ends at
// an interrupt (^C).
func untilInterrupt(url string, f func(context.Context, *channel.Channel) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ch, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer ch.Close()
	return f(ctx, ch)
}

// share is runSend on an open channel.
func share(ctx context.Context, ch *channel.Channel, name, path string) error {
	s, err := tiles.NewChannelSender(ch, name, tiles.Config{})
	if err != nil {
		return err
	}
	defer s.Close()
	var mod time.Time
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		if fi, err := os.Stat(path); err == nil && !fi.ModTime().Equal(mod) {
			img, err := readImage(path)
			if err != nil {
				return err
			}
			if err := s.Frame(img); err != nil {
				return err
			}
			mod = fi.ModTime()
			st := s.Stats()
			fmt.Printf("shared %s: %d tiles changed so far, one full image is %d bytes\n", path, st.Changed, st.FullSize)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
	}
}

// runRecv writes the image to out whenever it is complete and has changed
// (at most once a second), until interrupted.
func runRecv(url, name, out string) error {
	return untilInterrupt(url, func(ctx context.Context, ch *channel.Channel) error { return receive(ctx, ch, name, out) })
}

// receive is runRecv on an open channel.
func receive(ctx context.Context, ch *channel.Channel, name, out string) error {
	r, err := tiles.NewChannelReceiver(ch, name, tiles.RecvConfig{})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintln(os.Stderr, "waiting for the image (start the sender with -send FILE)")
	var last []byte
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
		if !r.Complete() {
			continue
		}
		img := r.Image()
		if bytes.Equal(img.Pix, last) {
			continue
		}
		last = img.Pix
		if err := writePNG(out, img); err != nil {
			return err
		}
		st, _ := r.Stats()
		fmt.Printf("wrote %s (%d×%d): %d tiles received, %d stale\n", out, img.Rect.Dx(), img.Rect.Dy(), st.Tiles, len(r.Stale()))
	}
}

// runDemo writes a synthetic desktop to a PNG file, shares the file on
// url, changes the file (a window drawn on it), and checks that a
// receiver there from the start and one that joins after the change hold
// the file's image.
func runDemo(url string, w *os.File) error {
	dir, err := os.MkdirTemp("", "tiles-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "desk.png")
	frame := tiles.NewDesktop(1280, 720, 1).Next()
	if err := writePNG(path, frame); err != nil {
		return err
	}
	ctx := context.Background()
	var chans [3]*channel.Channel
	for i := range chans {
		if chans[i], err = channel.Open(ctx, url); err != nil {
			return err
		}
		defer chans[i].Close()
	}
	s, err := tiles.NewChannelSender(chans[0], "desk", tiles.Config{})
	if err != nil {
		return err
	}
	defer s.Close()
	early, err := tiles.NewChannelReceiver(chans[1], "desk", tiles.RecvConfig{})
	if err != nil {
		return err
	}
	defer early.Close()

	share := func() (image.Image, error) {
		img, err := readImage(path)
		if err != nil {
			return nil, err
		}
		return img, s.Frame(img)
	}
	img, err := share()
	if err != nil {
		return err
	}
	tile := s.Stats().Tile
	fmt.Fprintf(w, "sharing %s (%d×%d, %d tiles of %d×%d)\n", filepath.Base(path), img.Bounds().Dx(), img.Bounds().Dy(), s.Stats().Changed, tile, tile)
	if err := waitSame(early, img, 5*time.Second); err != nil {
		return fmt.Errorf("receiver from the start: %w", err)
	}
	fmt.Fprintf(w, "receiver from the start holds the image: %s\n", recvLine(early))

	// The file changes: a dialog drawn at its centre.
	for y := 260; y < 460; y++ {
		for x := 440; x < 840; x++ {
			c := color.RGBA{0xfa, 0xfa, 0xf7, 0xff}
			if y < 282 {
				c = color.RGBA{0xb4, 0x3c, 0x3c, 0xff}
			}
			frame.SetRGBA(x, y, c)
		}
	}
	if err := writePNG(path, frame); err != nil {
		return err
	}
	before := s.Stats().Changed
	if img, err = share(); err != nil {
		return err
	}
	fmt.Fprintf(w, "the file changed: %d tiles sent again\n", s.Stats().Changed-before)
	if err := waitSame(early, img, 5*time.Second); err != nil {
		return fmt.Errorf("receiver from the start: %w", err)
	}
	t0 := time.Now()
	late, err := tiles.NewChannelReceiver(chans[2], "desk", tiles.RecvConfig{})
	if err != nil {
		return err
	}
	defer late.Close()
	if err := waitSame(late, img, 5*time.Second); err != nil {
		return fmt.Errorf("late joiner: %w", err)
	}
	fmt.Fprintf(w, "late joiner holds the image after %v: %s\n", time.Since(t0).Round(10*time.Millisecond), recvLine(late))
	st := s.Stats()
	fmt.Fprintf(w, "sender: %d snapshot pass for the late joiner, %d tiles, %d bytes (one full image: %d bytes)\n",
		st.Snapshots, st.SnapshotTiles, st.SnapshotBytes, st.FullSize)
	if st.Snapshots != 1 || st.SnapshotBytes > uint64(st.FullSize) {
		return errors.New("the join did not cost one snapshot pass of at most one full image")
	}
	return nil
}

func recvLine(r *tiles.ChannelReceiver) string {
	st, _ := r.Stats()
	return fmt.Sprintf("%d tiles received (%d from a snapshot), %d stale", st.Tiles, st.Snapshot, len(r.Stale()))
}

// waitSame waits until r's image is want's pixels.
func waitSame(r *tiles.ChannelReceiver, want image.Image, limit time.Duration) error {
	deadline := time.After(limit)
	for {
		if got := r.Image(); got != nil && sameImage(got, want) {
			return nil
		}
		select {
		case <-r.Updated():
		case <-time.After(20 * time.Millisecond): // repairs that change no tile count
		case <-deadline:
			return fmt.Errorf("not the file's image after %v; stale tiles %v", limit, r.Stale())
		}
	}
}

func sameImage(a *image.RGBA, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Rect.Min.Y; y < a.Rect.Max.Y; y++ {
		for x := a.Rect.Min.X; x < a.Rect.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				return false
			}
		}
	}
	return true
}
