package rwcli

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/channel"
)

// Main runs rw with the process's arguments and standard streams until
// it ends or is interrupted, and exits with its status. Transports
// registered by the program's imports (natsx's +nats) are rw's too.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `rw pokes at rwanda channels: publish, subscribe, ask, serve, watch,
record and replay.

usage: rw <command> [flags] [arguments]

commands:
  pub URL [BODY]      push BODY, or each line of standard input, or a file
  sub URL             print what arrives (--json: one JSON object per posting)
  req URL [BODY]      ask a member that serves (Pull) and print the reply
  serve URL           answer requests: echo them, or --reply TEXT
  stat URL            a live view of members, streams, stacks, loss, RTT, drops
  record URL FILE     record what arrives on URL into FILE
  replay FILE URL     push a recording onto URL, paced as recorded
  layers [NAME...]    the protocol layers and profiles, with parameters and defaults
  bench [ARGS...]     run rwbench (its compare, unless ARGS name another)
  help [COMMAND]      this text, or a command's flags

URLs:
  app://239.7.7.7:7400?iface=eth0      a multicast group (every member on the LAN)
  app://10.0.0.5:7400                  one peer over UDP
  app://:7400                          listen: answer whoever talks to this port
  file:///var/rec/lesson.rw            a recording
  Parameters: qos=, iface=, ttl=, loop=, mtu=, listen=, channel=, source=.

Run 'rw help COMMAND' for a command's flags. Flags may come before or
after the arguments; after --, everything is an argument (a BODY that
starts with -).
`

// command is one subcommand.
type command struct {
	name    string
	args    string // what follows the flags, for usage
	summary string
	// setup declares the command's flags on fs and returns the function
	// that runs it, which reads them.
	setup func(fs *flag.FlagSet) runner
}

// runner runs a command with its positional arguments.
type runner func(e *env, args []string) error

// env is what a command runs with.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// usageError is a mistake in how rw was called: it is printed with the
// command's usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// Run runs the rw command line args (without the program's name) and
// returns its exit status: 0, 1 (the command failed) or 2 (usage).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if c := lookup(rest[0]); c != nil {
				fs, _ := newFlagSet(c, stderr)
				fs.SetOutput(stdout)
				fs.Usage()
				return 0
			}
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "rw: unknown command %q\n\n%s", name, usage)
		return 2
	}
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	if c.name == "bench" { // its flags are rwbench's
		return exitCode(stderr, c, runBench(e, rest))
	}
	fs, runc := newFlagSet(c, stderr)
	pos, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2 // the flag package printed the error and the usage
	}
	return exitCode(stderr, c, runc(e, pos))
}

func exitCode(stderr io.Writer, c *command, err error) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "rw %s: %s\nusage: rw %s [flags] %s (rw help %s for the flags)\n", c.name, ue.msg, c.name, c.args, c.name)
		return 2
	}
	fmt.Fprintf(stderr, "rw %s: %v\n", c.name, err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func newFlagSet(c *command, stderr io.Writer) (*flag.FlagSet, runner) {
	fs := flag.NewFlagSet("rw "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: rw %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
		if c.name != "bench" {
			fmt.Fprintf(w, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	var r runner
	if c.setup != nil {
		r = c.setup(fs)
	}
	return fs, r
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments, which it returns. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first non-flag or after "--".
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// commands is every subcommand.
var commands = []*command{pubCmd, subCmd, reqCmd, serveCmd, statCmd, recordCmd, replayCmd, layersCmd, benchCmd}

func lookup(name string) *command {
	i := slices.IndexFunc(commands, func(c *command) bool { return c.name == name })
	if i < 0 {
		return nil
	}
	return commands[i]
}

// chanFlags are the flags every command that opens a channel takes.
type chanFlags struct {
	qos     string
	iface   string
	keyFile string
}

func (f *chanFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.qos, "qos", "", `QoS string of the streams this member sends (e.g. "reliable", "realtime", "frag/monitor"; rw layers lists them)`)
	fs.StringVar(&f.iface, "iface", "", "network interface of a multicast group (as iface= in the URL)")
	fs.StringVar(&f.keyFile, "key-file", "", "file holding the channel key (hex, or 16+ raw bytes): a keyed channel")
}

func (f *chanFlags) options() ([]channel.Option, error) {
	var opts []channel.Option
	if f.qos != "" {
		opts = append(opts, channel.WithQoS(f.qos))
	}
	if f.iface != "" {
		opts = append(opts, channel.WithInterface(f.iface))
	}
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("reading the key: %w", err)
		}
		key := b
		if h, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil {
			key = h
		}
		if len(key) < 16 {
			return nil, fmt.Errorf("the key in %s is %d bytes; a channel key is at least 16 (make one: head -c32 /dev/urandom | xxd -p -c64 > %s)", f.keyFile, len(key), f.keyFile)
		}
		opts = append(opts, channel.WithKey(key))
	}
	return opts, nil
}

// open opens url with the channel flags and extra options, explaining
// what to do when it fails, and warns (on stderr) about a multicast URL
// that leaves the choice of interface to the OS on a host with several.
// listen opens url (with f's options) and subscribes to it with sopts and
// a large drop-oldest queue, for d when d > 0 (else until e's context
// ends): what rw sub and rw record share. done closes what was opened.
func (e *env) listen(url string, f *chanFlags, sopts []channel.SubOption, d time.Duration) (ch *channel.Channel, sub *channel.Subscription, ctx context.Context, done func(), err error) {
	ch, err = e.open(url, f)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	sub, err = ch.Subscribe(append(sopts, channel.Queue(1<<16, channel.DropOldest))...)
	if err != nil {
		ch.Close()
		return nil, nil, nil, nil, err
	}
	ctx, cancel := e.ctx, context.CancelFunc(func() {})
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	return ch, sub, ctx, func() { cancel(); sub.Close(); ch.Close() }, nil
}

func (e *env) open(url string, f *chanFlags, extra ...channel.Option) (*channel.Channel, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	addr, err := channel.ParseURL(url)
	if err != nil {
		return nil, explainURL(url, err)
	}
	ch, err := channel.Open(e.ctx, url, append(opts, extra...)...)
	if err != nil {
		return nil, explainOpen(addr, f.iface, err, multicastInterfaces())
	}
	if hint := ifaceHint(addr, f.iface, multicastInterfaces()); hint != "" {
		fmt.Fprintf(e.stderr, "rw: note: %s\n", hint)
	}
	return ch, nil
}

// progressf prints a progress line on stderr.
func (e *env) progressf(format string, a ...any) {
	fmt.Fprintf(e.stderr, format+"\n", a...)
}
