package rwcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

var reqCmd = &command{
	name: "req", args: "URL [BODY]",
	summary: `Send BODY (or standard input) as a request to a member that serves (rw
serve, or a program's Serve/ServeName) and print the reply's body. The
members serving a name form a queue group: each request goes to one of
them, round robin.`,
	setup: func(fs *flag.FlagSet) runner {
		var cf chanFlags
		var pf postingFlags
		cf.declare(fs)
		pf.declare(fs)
		name := fs.String("name", "", "the service to ask (default: the default service)")
		to := fs.String("to", "", "ask this member (16 hex digits, as rw stat shows) instead of the next server")
		timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the reply")
		asJSON := fs.Bool("json", false, "print the whole reply as JSON (as rw sub --json)")
		return func(e *env, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want a URL and at most one BODY, got %d arguments", len(args))
			}
			popts, err := pf.options()
			if err != nil {
				return err
			}
			var body string
			if len(args) == 2 {
				body = args[1]
			} else {
				if f, ok := e.stdin.(*os.File); ok && isTerminal(f) {
					e.progressf("rw req: reading the request from standard input (Ctrl-D to end; or give a BODY)")
				}
				b, err := io.ReadAll(e.stdin)
				if err != nil {
					return err
				}
				body = string(b)
			}
			var pull []channel.PullOption
			if *to != "" {
				id, err := strconv.ParseUint(*to, 16, 64)
				if err != nil || id == 0 {
					return usagef("--to wants a member id of 16 hex digits, got %q", *to)
				}
				pull = append(pull, channel.To(id))
			}
			ch, err := e.open(args[0], &cf)
			if err != nil {
				return err
			}
			defer ch.Close()
			ctx, cancel := context.WithTimeout(e.ctx, *timeout)
			defer cancel()
			start := time.Now()
			rep, err := ch.PullName(ctx, *name, posting.New(body, popts...), pull...)
			if err != nil {
				var re *channel.RemoteError
				if errors.As(err, &re) {
					return fmt.Errorf("the server (member %016x) answered with an error: %s", re.Server, re.Message)
				}
				return explainPull(args[0], *name, err)
			}
			if *asJSON {
				b, err := json.Marshal(toJSON(rep, time.Now()))
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", b)
			} else {
				fmt.Fprintln(e.stdout, bodyText(rep.Body, 1<<20))
			}
			e.progressf("rw req: reply from member %016x in %v", rep.Sender, time.Since(start).Round(time.Microsecond))
			return nil
		}
	},
}

var serveCmd = &command{
	name: "serve", args: "URL",
	summary: `Answer the requests that come to this member (rw req, or a program's
Pull/PullName): echo each request's body back, or reply --reply TEXT. Each
request is printed as rw sub prints postings.`,
	setup: func(fs *flag.FlagSet) runner {
		var cf chanFlags
		cf.declare(fs)
		name := fs.String("name", "", "the service to serve (default: the default service)")
		reply := fs.String("reply", "", "reply with this text (default: echo the request's body)")
		delay := fs.Duration("delay", 0, "wait this long before replying (to try timeouts)")
		count := fs.Int("count", 0, "exit after answering this many requests (0: run until interrupted)")
		asJSON := fs.Bool("json", false, "print each request as JSON (as rw sub --json)")
		quiet := fs.Bool("q", false, "no progress lines")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one URL, got %d arguments", len(args))
			}
			replySet := false
			fs.Visit(func(f *flag.Flag) { replySet = replySet || f.Name == "reply" })
			ch, err := e.open(args[0], &cf)
			if err != nil {
				return err
			}
			defer ch.Close()
			var mu sync.Mutex
			answered := 0
			enough := make(chan struct{})
			err = ch.ServeName(*name, func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
				mu.Lock()
				if *asJSON {
					b, _ := json.Marshal(toJSON(req, time.Now()))
					fmt.Fprintf(e.stdout, "%s\n", b)
				} else {
					fmt.Fprintln(e.stdout, pretty(req, time.Now()))
				}
				mu.Unlock()
				if *delay > 0 {
					select {
					case <-time.After(*delay):
					case <-ctx.Done():
						return nil, context.Cause(ctx)
					}
				}
				rep := posting.New(req.Body, posting.WithStream(req.Stream))
				if replySet {
					rep.Body = *reply
				}
				mu.Lock()
				answered++
				if answered == *count {
					// Let the reply leave before the channel closes.
					time.AfterFunc(200*time.Millisecond, func() { close(enough) })
				}
				mu.Unlock()
				return rep, nil
			})
			if err != nil {
				return err
			}
			what := "echo"
			if replySet {
				what = strconv.Quote(*reply)
			}
			svc := "the default service"
			if *name != "" {
				svc = strconv.Quote(*name)
			}
			if !*quiet {
				e.progressf("rw serve: serving %s on %s as member %016x, replying %s (Ctrl-C to stop)", svc, args[0], ch.ID(), what)
			}
			select {
			case <-e.ctx.Done():
			case <-enough:
			}
			mu.Lock()
			n := answered
			mu.Unlock()
			if !*quiet {
				e.progressf("rw serve: answered %d requests", n)
			}
			return nil
		}
	},
}
