package rwcli

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

var recordCmd = &command{
	name: "record", args: "URL FILE",
	summary: `Record the postings that arrive on URL into FILE (a file:// channel's
recording; appended to when FILE exists). Each posting keeps its stream,
media, headers, TTL and body; the recording's sender is rw's member and
its send times are when the postings arrived here, so a realtime replay
spaces them as they arrived. rw replay plays it back.`,
	setup: func(fs *flag.FlagSet) runner {
		var cf chanFlags
		var ff filterFlags
		cf.declare(fs)
		ff.declare(fs)
		count := fs.Int("count", 0, "stop after this many postings (0: until interrupted)")
		dur := fs.Duration("for", 0, "stop after this long (0: until interrupted)")
		quiet := fs.Bool("q", false, "no progress lines")
		return func(e *env, args []string) error {
			if len(args) != 2 {
				return usagef("want a URL and a FILE, got %d arguments", len(args))
			}
			sopts, err := ff.options()
			if err != nil {
				return err
			}
			fileURL, err := recordingURL(args[1], "")
			if err != nil {
				return err
			}
			if fi, err := os.Stat(args[1]); err == nil && fi.Size() > 0 {
				if n, err := countRecords(args[1]); err != nil {
					return hint(err, "%s exists and is not a rwanda recording: name another file", args[1])
				} else if !*quiet {
					e.progressf("rw record: %s holds %d postings; appending", args[1], n)
				}
			}
			rec, err := channel.Open(e.ctx, fileURL)
			if err != nil {
				return err
			}
			defer rec.Close()
			ch, sub, ctx, done, err := e.listen(args[0], &cf, sopts, *dur)
			if err != nil {
				return err
			}
			defer done()
			if !*quiet {
				e.progressf("rw record: recording %s into %s as member %016x (Ctrl-C to stop)", args[0], args[1], ch.ID())
			}
			var total int64
			lastReport := time.Now()
			n, err := receive(ctx, e, ch, sub, *count, *quiet, "record", func(p *posting.Posting) error {
				q := *p // shared with other subscriptions: push a copy
				if err := rec.Push(e.ctx, &q); err != nil {
					return fmt.Errorf("writing %s: %w", args[1], err)
				}
				total += int64(postingSize(p))
				if !*quiet && time.Since(lastReport) >= time.Second {
					lastReport = time.Now()
					e.progressf("rw record: %d postings (%s) so far", rec.Stats().Sent.Postings, size(total))
				}
				return nil
			})
			if !*quiet {
				e.progressf("rw record: recorded %d postings (%s) into %s; play them back with: rw replay %s URL", n, size(total), args[1], args[1])
			}
			return err
		}
	},
}

var replayCmd = &command{
	name: "replay", args: "FILE URL",
	summary: `Push the postings of a recording (rw record, or a file:// channel) onto
URL, spaced as they were recorded (--fast: as fast as the channel takes
them), and exit when the recording has been played.`,
	setup: func(fs *flag.FlagSet) runner {
		var cf chanFlags
		var ff filterFlags
		cf.declare(fs)
		ff.declare(fs)
		fast := fs.Bool("fast", false, "do not pace: push as fast as the channel takes them")
		linger := fs.Duration("linger", 250*time.Millisecond, "after the last push, stay this long to repair what receivers missed")
		quiet := fs.Bool("q", false, "no progress lines")
		return func(e *env, args []string) error {
			if len(args) != 2 {
				return usagef("want a FILE and a URL, got %d arguments", len(args))
			}
			if _, err := ff.options(); err != nil {
				return err
			}
			if _, err := os.Stat(args[0]); err != nil {
				return hint(err, "record one first: rw record URL %s", args[0])
			}
			total, err := countRecords(args[0])
			if err != nil {
				return hint(err, "%s is not a rwanda recording (rw record makes one)", args[0])
			}
			mode := "realtime"
			if *fast {
				mode = "fast"
			}
			fileURL, err := recordingURL(args[0], mode)
			if err != nil {
				return err
			}
			rec, err := channel.Open(e.ctx, fileURL)
			if err != nil {
				return err
			}
			defer rec.Close()
			// Every posting of the file, filtered here: the count is known.
			recSub, err := rec.Subscribe(channel.Queue(1024, channel.FailSlow))
			if err != nil {
				return err
			}
			defer recSub.Close()
			ch, err := e.open(args[1], &cf, channel.WithBlockingPush())
			if err != nil {
				return err
			}
			defer ch.Close()
			if !*quiet {
				e.progressf("rw replay: %d postings from %s onto %s (%s)", total, args[0], args[1], mode)
			}
			match := ff.matcher()
			start, lastReport := time.Now(), time.Now()
			pushed := 0
			for i := 0; i < total; i++ {
				p, err := recSub.Next(e.ctx)
				if err != nil {
					if e.ctx.Err() != nil {
						break
					}
					return err
				}
				if !match(p) {
					continue
				}
				q := posting.Posting{Stream: p.Stream, Media: p.Media, TTL: p.TTL, Key: p.Key, Headers: p.Headers,
					Frame: p.Frame, FrameEnd: p.FrameEnd, Body: p.Body}
				if err := ch.Push(e.ctx, &q); err != nil {
					if e.ctx.Err() != nil {
						break
					}
					return explainPush(err)
				}
				pushed++
				if !*quiet && time.Since(lastReport) >= time.Second {
					lastReport = time.Now()
					e.progressf("rw replay: %d/%d postings", i+1, total)
				}
			}
			drain(e.ctx, ch, *linger)
			if !*quiet {
				e.progressf("rw replay: pushed %d postings in %v", pushed, time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
	},
}

// recordingURL is the file:// URL of path, with the replay mode.
func recordingURL(path, replay string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	if replay != "" {
		u.RawQuery = "replay=" + replay
	}
	return u.String(), nil
}

// recMagic starts every recording (see channel/file.go): then records,
// each a uvarint length and a posting's wire encoding.
var recMagic = []byte("RWANDA-REC1\n")

// countRecords counts the whole records of a recording, as the file://
// channel will replay them (it cuts off a torn tail).
func countRecords(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head := make([]byte, len(recMagic))
	if _, err := io.ReadFull(br, head); err != nil || !bytes.Equal(head, recMagic) {
		return 0, fmt.Errorf("%s is not a rwanda recording", path)
	}
	n := 0
	for {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return n, nil // the end, or a torn length
		}
		if l == 0 || l > 64<<20 {
			return n, nil
		}
		if _, err := br.Discard(int(l)); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil // a torn record
			}
			return n, err
		}
		n++
	}
}

// postingSize is the size of a posting's body.
func postingSize(p *posting.Posting) int {
	switch b := p.Body.(type) {
	case []byte:
		return len(b)
	case string:
		return len(b)
	case posting.Raw:
		return len(b.Data)
	}
	return 0
}
