package rwcli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// postingFlags are the flags that shape the postings a command sends.
type postingFlags struct {
	stream  string
	media   string
	ttl     time.Duration
	key     string
	headers headerList
}

func (f *postingFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.stream, "stream", "", "stream name (default: the default stream)")
	fs.StringVar(&f.media, "media", "", "media class: data, audio, video, text, image, control (default: classified from the body)")
	fs.DurationVar(&f.ttl, "ttl", 0, "time to live: the posting is never delivered after it (semi-reliable)")
	fs.StringVar(&f.key, "latest", "", "latest-wins key: a newer posting with the same key supersedes older ones")
	fs.Var(&f.headers, "header", "a header NAME=VALUE (repeat for more)")
}

// options returns the posting options; it checks the media name.
func (f *postingFlags) options() ([]posting.Option, error) {
	opts := []posting.Option{posting.WithStream(f.stream)}
	if f.media != "" {
		m, err := posting.ParseMedia(f.media)
		if err != nil {
			return nil, usagef("%v", err)
		}
		opts = append(opts, posting.WithMedia(m))
	}
	if f.ttl > 0 {
		opts = append(opts, posting.WithTTL(f.ttl))
	}
	if f.key != "" {
		opts = append(opts, posting.WithKey(f.key))
	}
	for _, h := range f.headers {
		opts = append(opts, posting.WithHeader(h.Name, h.Value))
	}
	return opts, nil
}

// headerList is a repeatable NAME=VALUE flag.
type headerList []posting.Header

func (h *headerList) String() string {
	var parts []string
	for _, x := range *h {
		parts = append(parts, x.Name+"="+x.Value)
	}
	return strings.Join(parts, ",")
}

func (h *headerList) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	*h = append(*h, posting.Header{Name: name, Value: value})
	return nil
}

var pubCmd = &command{
	name: "pub", args: "URL [BODY]",
	summary: `Push BODY onto the channel (--count times), or each line of standard input
when there is no BODY, or a whole file with --file. In BODY, {n} becomes the
posting's number (1, 2, ...). Bodies travel as strings (a file as bytes).`,
	setup: func(fs *flag.FlagSet) runner {
		var cf chanFlags
		var pf postingFlags
		cf.declare(fs)
		pf.declare(fs)
		count := fs.Int("count", 0, "postings to push: BODY this many times (default 1), or at most this many lines")
		rate := fs.Float64("rate", 0, "postings per second (default: as fast as the channel takes them)")
		file := fs.String("file", "", "push this file's content as the body (bytes)")
		linger := fs.Duration("linger", 250*time.Millisecond, "after the last push, stay this long to repair what receivers missed")
		quiet := fs.Bool("q", false, "no progress lines")
		return func(e *env, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want a URL and at most one BODY, got %d arguments", len(args))
			}
			if *file != "" && len(args) == 2 {
				return usagef("give a BODY or --file, not both")
			}
			if *count < 0 || *rate < 0 {
				return usagef("--count and --rate cannot be negative")
			}
			popts, err := pf.options()
			if err != nil {
				return err
			}
			var next func(n int) (any, bool, error) // the n-th body (from 1), false at the end
			switch {
			case *file != "":
				data, err := os.ReadFile(*file)
				if err != nil {
					return err
				}
				limit := max(*count, 1)
				next = func(n int) (any, bool, error) { return data, n <= limit, nil }
			case len(args) == 2:
				body, limit := args[1], max(*count, 1)
				numbered := strings.Contains(body, "{n}")
				next = func(n int) (any, bool, error) {
					if numbered {
						return strings.ReplaceAll(body, "{n}", strconv.Itoa(n)), n <= limit, nil
					}
					return body, n <= limit, nil
				}
			default:
				if f, ok := e.stdin.(*os.File); ok && isTerminal(f) && !*quiet {
					e.progressf("rw pub: reading postings from standard input, a line each (Ctrl-D to end; or give a BODY)")
				}
				in := bufio.NewScanner(e.stdin)
				in.Buffer(make([]byte, 64<<10), 16<<20)
				next = func(n int) (any, bool, error) {
					if *count > 0 && n > *count {
						return nil, false, nil
					}
					if !in.Scan() {
						return nil, false, in.Err()
					}
					return in.Text(), true, nil
				}
			}
			ch, err := e.open(args[0], &cf, channel.WithBlockingPush())
			if err != nil {
				return err
			}
			defer ch.Close()
			return pub(e, ch, args[0], next, popts, *rate, *linger, *quiet)
		}
	},
}

func pub(e *env, ch *channel.Channel, url string, next func(int) (any, bool, error), popts []posting.Option, rate float64, linger time.Duration, quiet bool) error {
	start := time.Now()
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	var sent, bytes int
	report := func(final bool) {
		el := time.Since(start)
		verb := "pushed"
		if final {
			verb = "sent"
		}
		e.progressf("rw pub: %s %d postings (%s) to %s in %v, %.0f/s", verb, sent, size(int64(bytes)), url, el.Round(time.Millisecond), float64(sent)/max(el.Seconds(), 1e-9))
	}
loop:
	for n := 1; ; n++ {
		body, ok, err := next(n)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if tick != nil && n > 1 {
			select {
			case <-tick:
			case <-e.ctx.Done():
				break loop
			}
		}
		p := posting.New(body, popts...)
		if err := ch.Push(e.ctx, p); err != nil {
			if e.ctx.Err() != nil {
				break loop
			}
			return explainPush(err)
		}
		sent++
		switch b := body.(type) {
		case string:
			bytes += len(b)
		case []byte:
			bytes += len(b)
		}
		select {
		case <-progress.C:
			if !quiet {
				report(false)
			}
		default:
		}
		if e.ctx.Err() != nil {
			break loop
		}
	}
	drain(e.ctx, ch, linger)
	if !quiet {
		report(true)
	}
	return nil
}

// drain waits, at most d, until what was pushed on reliable streams is
// acknowledged by the receivers the channel knows (Channel.Flush), so
// that their last repair requests are answered before Close. What is not
// acknowledged by then, Close (lingering in its turn) reports.
func drain(ctx context.Context, ch *channel.Channel, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_ = ch.Flush(ctx)
}

func explainPush(err error) error {
	var re *channel.RefusedError
	switch {
	case errors.As(err, &re):
		return hint(err, "a member refused this stream (%s): use a QoS it accepts (--qos), or fewer streams", re.Reason)
	case errors.Is(err, channel.ErrTooLarge):
		return hint(err, "the body is larger than the channel's largest posting")
	}
	return err
}

// size prints a byte count.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
