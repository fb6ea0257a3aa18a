package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// Slide is one step of the lesson.
type Slide struct {
	N     int
	Title string
}

func init() { posting.Register[Slide]("rwanda.examples/record.Slide") }

func main() {
	file := flag.String("file", "", "the recording (default: a temporary file, removed at the end)")
	flag.Parse()
	path := *file
	if path == "" {
		dir, err := os.MkdirTemp("", "rwanda-record")
		if err != nil {
			log.Fatal(err)
		}
		path = filepath.Join(dir, "lesson.rw")
		err = run(path)
		os.RemoveAll(dir)
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(path); err != nil {
		log.Fatal(err)
	}
}

// fileURL is the file:// URL of path with a replay mode.
func fileURL(path, replay string) string {
	abs, _ := filepath.Abs(path)
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "replay=" + replay}).String()
}

func run(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Record: four slides, 100 ms apart, with a header.
	rec, err := channel.Open(ctx, fileURL(path, "fast"))
	if err != nil {
		return err
	}
	titles := []string{"welcome", "postings", "stacks", "questions"}
	for i, title := range titles {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		p := posting.New(Slide{i + 1, title}, posting.WithStream("slides"), posting.WithHeader("lesson", "rwanda-101"))
		if err := rec.Push(ctx, p); err != nil {
			return err
		}
	}
	rec.Close()
	fi, _ := os.Stat(path)
	fmt.Printf("recorded %d slides into %s (%d bytes)\n", len(titles), path, fi.Size())

	// Replay them, fast and then in real time: each subscription replays
	// the recording from the start.
	for _, mode := range []string{"fast", "realtime"} {
		ch, err := channel.Open(ctx, fileURL(path, mode))
		if err != nil {
			return err
		}
		slides, err := channel.SubscribeTyped[Slide](ch)
		if err != nil {
			return err
		}
		start := time.Now()
		for range titles {
			s, p, err := slides.Next(ctx)
			if err != nil {
				return err
			}
			lesson, _ := p.Header("lesson")
			fmt.Printf("  %-8s +%3dms  slide %d %-10s (%s, seq %d)\n", mode, time.Since(start).Milliseconds(), s.N, s.Title, lesson, p.Seq)
		}
		ch.Close()
	}
	return nil
}
