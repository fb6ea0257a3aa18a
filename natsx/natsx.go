package natsx

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rwanda-go/rwanda/transport"
)

// Name is the transport's name in package transport's registry: the
// suffix of a channel URL's scheme (classroom+nats://...).
const Name = "nats"

func init() {
	transport.MustRegister(transport.Entry{Name: Name, Forms: []string{
		"app+nats://host[:port]/subject[?creds=FILE&tls=BOOL&reconnect=DURATION] (a NATS server; port 4222 by default)",
		"app+nats:///subject (an embedded nats-server, in this process only)",
		"app+nats://:port/subject (an embedded nats-server listening on port)",
	}, Open: open})
}

// DefaultPort is the NATS client port a URL without one connects to.
const DefaultPort = 4222

// DefaultReconnectWait is how long a connection waits between attempts to
// reconnect (plus up to a quarter of it at random, so many clients do not
// come back at once); reconnect= sets it.
const DefaultReconnectWait = 250 * time.Millisecond

// DatagramSize is the largest datagram a channel sends over NATS when its
// URL gives no mtu= (and the server's max_payload is larger): 32 KiB less
// the 2 bytes of the CRLF that ends a message on the wire. nats.go reads
// its connection 32 KiB at a time and nats-server at most 64 KiB at a
// time; a message that does not fit in what one read brings is copied
// into a buffer made for it, in the server and in every receiving client,
// and above 32 KiB such a buffer is a large object for Go's allocator and
// garbage collector. Bundles of 1 KiB postings up to this size cost the
// broker about a third less CPU per posting than bundles of 64 KiB (and
// sender, broker and receiver together about a sixth less), and 64 KiB
// postings, cut by the frag layer, cost no more (see the package doc).
// The URL's mtu= replaces it, within the server's max_payload.
const DatagramSize = 32<<10 - 2

// MaxSubject bounds a channel's subject, in bytes.
const MaxSubject = 200

// A subject token: what a channel subject's dot-separated parts may hold.
// Wildcards (* and >), spaces and empty tokens are not subjects one can
// publish on.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ErrBadURL is wrapped by the errors of URLs this transport cannot open.
var ErrBadURL = errors.New("natsx: bad URL")

// ErrClosed is returned by a Send after Close.
var ErrClosed = errors.New("natsx: connection closed")

// config is what a URL asks of the transport.
type config struct {
	server    string // nats://host:port or tls://host:port; "" for an embedded server
	embedPort int    // an embedded server's port (0: in-process, no listener)
	subject   string
	creds     string
	reconnect time.Duration
	mtu       int // the channel's cap (Endpoint.MTU)
}

// parse reads the parts of a channel URL that concern NATS. The channel
// has already checked the scheme and its own parameters (qos, mtu,
// channel); the others are this transport's, and one it does not know is
// an error.
func parse(u *url.URL) (config, error) {
	cfg := config{reconnect: DefaultReconnectWait}
	bad := func(format string, a ...any) (config, error) {
		return config{}, fmt.Errorf("%w %q: %s", ErrBadURL, u.Redacted(), fmt.Sprintf(format, a...))
	}
	if u.Opaque != "" || u.User != nil {
		return bad("want app+nats://host:port/subject")
	}
	subject, err := Subject(u.Path)
	if err != nil {
		return bad("%v", err)
	}
	cfg.subject = subject
	host, port := u.Hostname(), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return bad("missing port")
	}
	n := 0
	if port != "" {
		v, err := strconv.ParseUint(port, 10, 16)
		if err != nil || v == 0 {
			return bad("port %q must be 1..65535", port)
		}
		n = int(v)
	}
	tls := false
	q := u.Query()
	for key, vals := range q {
		if len(vals) != 1 {
			return bad("parameter %s given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "qos", "mtu", "channel": // the channel's
		case "creds":
			if v == "" {
				return bad("creds: want the path of a NATS credentials file")
			}
			cfg.creds = v
		case "tls":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("tls: want true or false, got %q", v)
			}
			tls = b
		case "reconnect":
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Millisecond || d > time.Minute {
				return bad("reconnect: want a duration from 1ms to 1m, got %q", v)
			}
			cfg.reconnect = d
		default:
			return bad("unknown parameter %s (this transport's: creds, tls, reconnect; the channel's: qos, mtu, channel)", key)
		}
	}
	if host == "" {
		if cfg.creds != "" || tls {
			return bad("creds and tls are for a server named in the URL, not an embedded one")
		}
		cfg.embedPort = n
		return cfg, nil
	}
	if n == 0 {
		n = DefaultPort
	}
	scheme := "nats"
	if tls {
		scheme = "tls"
	}
	cfg.server = scheme + "://" + (&url.URL{Host: joinHostPort(host, n)}).Host
	return cfg, nil
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// Subject returns the NATS subject a channel URL's path names: "/a.b"
// is subject "a.b". A subject is 1 to [MaxSubject] bytes of dot-separated
// tokens of letters, digits, '_' and '-': no wildcards, no empty tokens.
// Each member also receives on its inbox, subject.m.ID (ID: 16 hex
// digits), so permissions granted on "subject" and "subject.>" cover a
// channel.
func Subject(path string) (string, error) {
	s, ok := strings.CutPrefix(path, "/")
	if !ok || s == "" {
		return "", errors.New("want a subject as the path (app+nats://host:4222/subject)")
	}
	if len(s) > MaxSubject {
		return "", fmt.Errorf("subject of %d bytes: at most %d", len(s), MaxSubject)
	}
	for tok := range strings.SplitSeq(s, ".") {
		if !tokenRE.MatchString(tok) {
			return "", fmt.Errorf("subject %q: want dot-separated tokens of letters, digits, '_' and '-' (no wildcards, no empty token)", s)
		}
	}
	return s, nil
}

// open is the registry's Open: it connects (or starts an embedded server
// and connects to it) and subscribes to the channel's subject and this
// member's inbox.
func open(ctx context.Context, e *transport.Endpoint) (transport.Opened, error) {
	cfg, err := parse(e.URL)
	if err != nil {
		return transport.Opened{}, err
	}
	cfg.mtu = e.MTU
	if !e.MTUGiven {
		cfg.mtu = min(cfg.mtu, DatagramSize)
	}
	return dial(ctx, cfg)
}

// natsOptions are the client options every connection gets.
func natsOptions(ctx context.Context, cfg config) []nats.Option {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	opts := []nats.Option{
		nats.Name("rwanda " + cfg.subject),
		// A member's own broadcasts do not come back to it.
		nats.NoEcho(),
		// Ride out server restarts and failovers for as long as the
		// channel is open; what is published meanwhile waits in the
		// client's reconnect buffer (bounded: nats.go's 8 MiB), and what
		// the channel's window finds missing afterwards it repairs.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.reconnect),
		nats.ReconnectJitter(cfg.reconnect/4, cfg.reconnect/4),
		nats.Timeout(timeout),
		nats.NoCallbacksAfterClientClose(),
	}
	if cfg.creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.creds))
	}
	return opts
}
