package rwcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// filterFlags select what a subscription takes.
type filterFlags struct {
	streams string
	media   string
}

func (f *filterFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.streams, "stream", "", "only these streams (comma-separated)")
	fs.StringVar(&f.media, "media", "", "only these media classes (comma-separated: data, audio, video, text, image, control)")
}

// matcher tests postings against the filters as a subscription would
// (for postings read from a recording, whose subscription takes every
// posting so that replay knows when the recording ends). Call options
// first: it checks the media names.
func (f *filterFlags) matcher() func(*posting.Posting) bool {
	var streams []string
	var media []posting.Media
	if f.streams != "" {
		streams = strings.Split(f.streams, ",")
	}
	if f.media != "" {
		for _, name := range strings.Split(f.media, ",") {
			if m, err := posting.ParseMedia(strings.TrimSpace(name)); err == nil {
				media = append(media, m)
			}
		}
	}
	return func(p *posting.Posting) bool {
		return (len(streams) == 0 || slices.Contains(streams, p.Stream)) && (len(media) == 0 || slices.Contains(media, p.Media))
	}
}

func (f *filterFlags) options() ([]channel.SubOption, error) {
	var opts []channel.SubOption
	if f.streams != "" {
		opts = append(opts, channel.Streams(strings.Split(f.streams, ",")...))
	}
	if f.media != "" {
		var ms []posting.Media
		for _, name := range strings.Split(f.media, ",") {
			m, err := posting.ParseMedia(strings.TrimSpace(name))
			if err != nil {
				return nil, usagef("%v", err)
			}
			ms = append(ms, m)
		}
		opts = append(opts, channel.Media(ms...))
	}
	return opts, nil
}

var subCmd = &command{
	name: "sub", args: "URL",
	summary: `Print the postings that arrive on the channel, one line each: send time,
sender, stream, sequence number, media, age, headers and body. With --json,
one JSON object per posting (stream, media, kind, sender, seq, sent, age_ms,
headers, type, size, body); bodies of types rw does not know are decoded
from their msgpack bytes ("raw": true).`,
	setup: func(fs *flag.FlagSet) runner {
		var cf chanFlags
		var ff filterFlags
		cf.declare(fs)
		ff.declare(fs)
		asJSON := fs.Bool("json", false, "one JSON object per posting")
		count := fs.Int("count", 0, "exit after this many postings (0: run until interrupted)")
		dur := fs.Duration("for", 0, "exit after this long (0: run until interrupted)")
		quiet := fs.Bool("q", false, "no progress lines")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one URL, got %d arguments", len(args))
			}
			sopts, err := ff.options()
			if err != nil {
				return err
			}
			ch, sub, ctx, done, err := e.listen(args[0], &cf, sopts, *dur)
			if err != nil {
				return err
			}
			defer done()
			if !*quiet {
				e.progressf("rw sub: listening on %s as member %016x (Ctrl-C to stop)", args[0], ch.ID())
			}
			n, err := receive(ctx, e, ch, sub, *count, *quiet, "sub", func(p *posting.Posting) error {
				now := time.Now()
				if *asJSON {
					b, err := json.Marshal(toJSON(p, now))
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(e.stdout, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintln(e.stdout, pretty(p, now))
				return err
			})
			if !*quiet {
				e.progressf("rw sub: %d postings; %d dropped because this terminal was slower than the channel", n, sub.Stats().Dropped)
			}
			return err
		}
	},
}

// receive hands each posting of sub to show until count (0: no limit)
// have arrived or ctx ends, and returns how many arrived. While nothing
// arrives it says so, once, with what to check.
func receive(ctx context.Context, e *env, ch *channel.Channel, sub *channel.Subscription, count int, quiet bool, cmd string, show func(*posting.Posting) error) (int, error) {
	n := 0
	warned := false
	start := time.Now()
	for count == 0 || n < count {
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		p, err := sub.Next(wait)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return n, nil // interrupted, or --for passed
		case errors.Is(err, context.DeadlineExceeded):
			if n == 0 && !warned && !quiet {
				warned = true
				e.progressf("rw %s: nothing received in %v; %s", cmd, time.Since(start).Round(time.Second), silenceHint(ch))
			}
			continue
		default:
			return n, err
		}
		n++
		if err := show(p); err != nil {
			return n, err
		}
	}
	return n, nil
}

// silenceHint says what to check when a channel is silent.
func silenceHint(ch *channel.Channel) string {
	st := ch.Stats()
	a := ch.Address()
	if len(st.Peers) == 0 {
		s := "no member heard either: check that the sender uses the same URL (group or port, channel=)"
		if a.Form == channel.Multicast {
			s += ", and the same interface (iface=; both on this host: iface=lo)"
		}
		return s
	}
	if len(st.Drops) > 0 {
		return fmt.Sprintf("%d members heard, but datagrams were dropped: %v (a key on one side only? see rw stat)", len(st.Peers), st.Drops)
	}
	return fmt.Sprintf("%d members heard, none sending what this subscription takes (see rw stat %s)", len(st.Peers), a.Raw)
}
