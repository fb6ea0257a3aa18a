package channel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/transport"
)

// Form is the shape of a channel URL: what its host names. It replaces the
// Transport enum of earlier versions; which transport carries the channel
// is [Address.Transport], a name in package transport's registry.
type Form uint8

const (
	// Multicast: the host is an IP multicast group (224.0.0.0/4, ff00::/8).
	Multicast Form = iota + 1
	// Unicast: the host is a peer's address (point-to-point UDP), or empty
	// for a listening side (udp://:7400).
	Unicast
	// Mem: mem://name, an in-process hub for tests and embedding.
	Mem
	// File: file:///path records postings and replays them.
	File
	// Other: the scheme names a transport of its own with a +suffix
	// (classroom+nats://hub:4222/lesson); that transport reads the rest of
	// the URL.
	Other
)

func (f Form) String() string {
	switch f {
	case Multicast:
		return "multicast"
	case Unicast:
		return "unicast"
	case Mem:
		return "mem"
	case File:
		return "file"
	case Other:
		return "other"
	}
	return fmt.Sprintf("Form(%d)", f)
}

// ReplayMode says how a file:// channel replays its recording.
type ReplayMode uint8

const (
	// ReplayFast delivers recorded postings as fast as subscribers take them.
	ReplayFast ReplayMode = iota
	// ReplayRealtime spaces recorded postings as they were sent.
	ReplayRealtime
)

func (m ReplayMode) String() string {
	if m == ReplayRealtime {
		return "realtime"
	}
	return "fast"
}

// Default MTUs: the UDP payload of a 1500-byte Ethernet frame. Without
// mtu= in the URL a UDP channel takes its MTU from the path (the
// interface's or the route's MTU less the IP and UDP headers) but no more
// than these (DECISIONS §4), so that loopback and jumbo-frame paths still
// cut postings into datagrams of Ethernet size; mtu= sets it (see
// [Channel.MTU]).
const (
	DefaultMTU4   = 1472  // IPv4: 1500 − 20 IP − 8 UDP
	DefaultMTU6   = 1452  // IPv6: 1500 − 40 IP − 8 UDP
	DefaultMTUMem = 65507 // mem://: the largest UDP payload
	minMTU        = 256
	maxMTU        = 65507
)

// Address is a parsed channel URL.
//
//	scheme://239.7.7.7:7400?qos=reliable&iface=eth0&ttl=4   multicast group
//	scheme://[ff15::7]:7400                                 IPv6 multicast group
//	scheme://10.0.0.5:7400?listen=:7401                     unicast peer (bind 7401)
//	scheme://:7400  (or ?listen=:7400 with no host)          listening side
//	mem://name                                              in-process hub
//	file:///var/rec/lesson.rw?replay=realtime               record and replay
//
// The scheme is the application's namespace and is free, except "mem" and
// "file", which are reserved. Query parameters: qos, iface, ttl, loop, mtu,
// listen, replay, channel, source, gateway; any other is an error. channel=NAME
// names the channel explicitly (see [Address.Identity]); source=ADDR makes
// a multicast channel receive only from that sender (source-specific
// multicast).
type Address struct {
	Raw    string
	Scheme string
	Form   Form
	// Transport names the registered transport that carries the channel
	// (package transport): "multicast", "udp", "mem", a +suffix of the
	// scheme ("classroom+nats://..."), or "" for file://, which records
	// postings and has no transport.
	Transport string
	// Group is the multicast group and port (Multicast).
	Group netip.AddrPort
	// Host and Port name the peer of a Unicast channel; Host is empty for a
	// listening side. Host may be a name, resolved when the channel opens.
	Host string
	Port uint16
	// Listen is the local address a Unicast channel binds (zero: any
	// address, ephemeral port).
	Listen netip.AddrPort
	// Name of a Mem hub; Path of a File recording.
	Name string
	Path string
	// QoS is the qos parameter as given (syntax checked), or "".
	QoS string
	// Iface is the interface for multicast ("" lets the OS choose).
	Iface string
	// TTL is the multicast TTL / hop limit (default 1: the local network).
	TTL int
	// Loop delivers multicast to other sockets of this host (default true).
	Loop bool
	// MTU is the largest datagram payload: the mtu= parameter (MTUGiven),
	// else the default of the form, which is a cap on the path's MTU for
	// UDP (DefaultMTU4 or DefaultMTU6; DefaultMTUMem for mem and file, and
	// for a transport named by a +suffix, whose MTU is its carrier's).
	// [Channel.MTU] is the one in use.
	MTU      int
	MTUGiven bool
	// Replay is the replay mode of a File channel.
	Replay ReplayMode
	// Channel is the explicit channel id (channel=NAME), or "".
	Channel string
	// Source is the one sender a Multicast channel receives from
	// (source=ADDR: a source-specific join, IGMPv3 or MLDv2); the zero
	// Addr receives from any source.
	Source netip.Addr
	// Gateways are the gateways of a Multicast channel
	// (gateway=HOST:PORT,HOST:PORT; package gateway), as given: the
	// channel joins the group directly when it can receive it, and else
	// goes through the nearest gateway, moving to the next when it falls
	// silent (see the package documentation, "Gateways").
	Gateways []string

	url *url.URL
}

// Identity names the channel the same way on every member, whatever each
// member's own URL says about interfaces, ports to listen on or QoS. With an
// explicit channel id it is the scheme and the id ("classroom?channel=lesson"),
// whatever the transport, so one channel can span transports and relays.
// Without one it is the scheme and the group (multicast), the scheme and
// the name (mem), the scheme and the path (file), or the scheme alone
// (unicast, whose two ends name each other; a keyed unicast channel must
// therefore name its id, see [Open]). Keys and signatures are derived from
// it, so members of different channels sharing a key still get different
// keys, and a signed datagram of one channel does not verify on another.
func (a *Address) Identity() string {
	if a.Channel != "" {
		return a.Scheme + "?channel=" + a.Channel
	}
	switch a.Form {
	case Multicast:
		return a.Scheme + "://" + a.Group.String()
	case Mem:
		return "mem://" + a.Name
	case File:
		return "file://" + a.Path
	case Other:
		return a.Scheme + "://" + a.url.Host + a.url.Path
	}
	return a.Scheme + "://"
}

// URLError reports a bad channel URL or parameter.
type URLError struct {
	URL    string
	Param  string // the offending query parameter, if any
	Reason string
	Err    error
}

func (e *URLError) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("channel: url %q: parameter %s: %s", e.URL, e.Param, e.Reason)
	}
	return fmt.Sprintf("channel: url %q: %s", e.URL, e.Reason)
}

// Unwrap returns the underlying error.
func (e *URLError) Unwrap() error { return e.Err }

// ErrBadURL is wrapped by every *URLError.
var ErrBadURL = errors.New("channel: bad URL")

var schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]{0,31}$`)
var memNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// channelIDRE is what a channel id may be: printable, URL-safe, short.
var channelIDRE = regexp.MustCompile(`^[A-Za-z0-9_.~:/-]{1,128}$`)

// ParseURL parses and checks a channel URL without touching the network.
func ParseURL(raw string) (*Address, error) {
	bad := func(param, format string, a ...any) (*Address, error) {
		return nil, &URLError{URL: raw, Param: param, Reason: fmt.Sprintf(format, a...), Err: ErrBadURL}
	}
	if len(raw) > 2048 {
		return bad("", "longer than 2048 bytes")
	}
	i := strings.Index(raw, "://")
	if i <= 0 {
		return bad("", "want scheme://host:port (for example app://239.7.7.7:7400)")
	}
	if !schemeRE.MatchString(strings.ToLower(raw[:i])) {
		return bad("", "invalid scheme %q: letters, digits, '+', '-', '.', starting with a letter", raw[:i])
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("", "%v", err)
	}
	if u.Scheme == "" || !strings.Contains(raw, "://") {
		return bad("", "want scheme://host:port (for example app://239.7.7.7:7400)")
	}
	scheme := strings.ToLower(u.Scheme)
	if !schemeRE.MatchString(scheme) {
		return bad("", "invalid scheme %q", u.Scheme)
	}
	// scheme+transport names the transport; the identity uses the
	// application scheme alone (DECISIONS §3).
	var named string
	if i := strings.LastIndexByte(scheme, '+'); i > 0 {
		scheme, named = scheme[:i], scheme[i+1:]
		if !transport.ValidName(named) || scheme == "mem" || scheme == "file" {
			return bad("", "want app+transport://... (a transport name: lower-case letters, digits, '-', starting with a letter), got scheme %q", u.Scheme)
		}
	}
	if u.User != nil {
		return bad("", "user information is not allowed")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("", "a fragment (#...) is not allowed")
	}
	a := &Address{Raw: raw, Scheme: scheme, TTL: 1, Loop: true, url: u}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("", "query: %v", err)
	}
	if named != "" && named != "udp" && named != "multicast" {
		return parseOther(a, named, q, bad)
	}

	switch scheme {
	case "mem":
		a.Form = Mem
		if u.Port() != "" || !memNameRE.MatchString(u.Host) || (u.Path != "" && u.Path != "/") {
			return bad("", "want mem://name with a name of letters, digits, '_', '.', '-'")
		}
		a.Name = u.Host
	case "file":
		a.Form = File
		if u.Host != "" {
			return bad("", "want file:///absolute/path (no host)")
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") || strings.HasSuffix(u.Path, "/") {
			return bad("", "want file:///absolute/path to a file")
		}
		a.Path = filepath.Clean(u.Path)
	default:
		if u.Path != "" && u.Path != "/" {
			return bad("", "a path is not allowed on a network channel")
		}
		if u.Opaque != "" {
			return bad("", "want scheme://host:port")
		}
		host, portStr := u.Hostname(), u.Port()
		if strings.HasSuffix(u.Host, ":") {
			return bad("", "missing port")
		}
		var port uint16
		if portStr != "" {
			n, err := strconv.ParseUint(portStr, 10, 16)
			if err != nil || n == 0 {
				return bad("", "port %q must be 1..65535", portStr)
			}
			port = uint16(n)
		}
		ip, ipErr := netip.ParseAddr(host)
		switch {
		case host == "":
			a.Form = Unicast // listening side
			if port != 0 {
				a.Listen = netip.AddrPortFrom(netip.IPv4Unspecified(), port)
			}
		case ipErr == nil && ip.Zone() != "":
			return bad("", "zones are not allowed in the host; name the interface with iface=")
		case ipErr == nil && ip.Unmap().IsMulticast():
			if port == 0 {
				return bad("", "a multicast group needs a port")
			}
			a.Form = Multicast
			a.Group = netip.AddrPortFrom(ip.Unmap(), port)
		case ipErr == nil && ip.IsUnspecified():
			if port == 0 {
				return bad("", "a listening side needs a port")
			}
			a.Form = Unicast
			a.Listen = netip.AddrPortFrom(ip.Unmap(), port)
		default:
			if ipErr != nil && !validHostname(host) {
				return bad("", "host %q is neither an IP address nor a host name", host)
			}
			if port == 0 {
				return bad("", "a unicast peer needs a port")
			}
			a.Form = Unicast
			a.Host, a.Port = host, port
			if ipErr == nil {
				a.Host = ip.Unmap().String()
			}
		}
	}

	// Query parameters, strictly.
	for key, vals := range q {
		if len(vals) != 1 {
			return bad(key, "given %d times", len(vals))
		}
		v := vals[0]
		if known, why := a.commonParam(key, v); known {
			if why != "" {
				return bad(key, "%s", why)
			}
			continue
		}
		switch key {
		case "iface":
			if a.Form != Multicast {
				return bad(key, "only for multicast channels")
			}
			if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ \t") {
				return bad(key, "invalid interface name %q", v)
			}
			a.Iface = v
		case "ttl":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return bad(key, "want 0..255, got %q", v)
			}
			if a.Form != Multicast {
				return bad(key, "only for multicast channels")
			}
			a.TTL = n
		case "loop":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad(key, "want true or false, got %q", v)
			}
			if a.Form != Multicast {
				return bad(key, "only for multicast channels")
			}
			a.Loop = b
		case "listen":
			if a.Form != Unicast {
				return bad(key, "only for unicast channels")
			}
			ap, err := parseListen(v)
			if err != nil {
				return bad(key, "%v", err)
			}
			a.Listen = ap
		case "replay":
			if a.Form != File {
				return bad(key, "only for file:// channels")
			}
			switch v {
			case "fast":
				a.Replay = ReplayFast
			case "realtime":
				a.Replay = ReplayRealtime
			default:
				return bad(key, "want fast or realtime, got %q", v)
			}
		case "gateway":
			if a.Form != Multicast {
				return bad(key, "only for multicast channels (the group the gateways relay)")
			}
			if !q.Has("channel") {
				return bad(key, "needs channel=NAME: the channel's identity must not depend on the way in (DECISIONS §3)")
			}
			for _, g := range strings.Split(v, ",") {
				h, port, err := net.SplitHostPort(g)
				if err != nil || h == "" {
					return bad(key, "want HOST:PORT[,HOST:PORT...], got %q", g)
				}
				if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
					return bad(key, "port %q must be 1..65535", port)
				}
				if ip, err := netip.ParseAddr(h); (err != nil && !validHostname(h)) || (err == nil && (ip.IsMulticast() || ip.IsUnspecified() || ip.Zone() != "")) {
					return bad(key, "%q is not a unicast host", h)
				}
				if slices.Contains(a.Gateways, g) {
					return bad(key, "%s named twice", g)
				}
				a.Gateways = append(a.Gateways, g)
			}
			if len(a.Gateways) > maxGateways {
				return bad(key, "at most %d gateways", maxGateways)
			}
		case "source":
			if a.Form != Multicast {
				return bad(key, "only for multicast channels")
			}
			ip, err := netip.ParseAddr(v)
			if err != nil || ip.Zone() != "" {
				return bad(key, "want an IP address, got %q", v)
			}
			ip = ip.Unmap()
			if ip.IsMulticast() || ip.IsUnspecified() || ip.Is4() != a.Group.Addr().Is4() {
				return bad(key, "want a unicast address of the group's IP family, got %s", ip)
			}
			a.Source = ip
		default:
			return bad(key, "unknown parameter (known: qos, iface, ttl, loop, mtu, listen, replay, channel, source, gateway)")
		}
	}
	if a.Form == Unicast && a.Host == "" && a.Listen.Port() == 0 {
		return bad("", "a listening side needs a port (scheme://:7400)")
	}
	switch a.Form {
	case Multicast:
		a.Transport = "multicast"
	case Unicast:
		a.Transport = "udp"
	case Mem:
		a.Transport = "mem"
	}
	if named != "" && named != a.Transport {
		return bad("", "+%s names a transport that does not take this URL (it is a %v address)", named, a.Form)
	}
	if a.MTU == 0 {
		switch {
		case a.Form == Mem || a.Form == File:
			a.MTU = DefaultMTUMem
		case a.Group.Addr().Is6() || a.Listen.Addr().Is6() || strings.Contains(a.Host, ":"):
			a.MTU = DefaultMTU6
		default:
			a.MTU = DefaultMTU4
		}
	}
	return a, nil
}

func parseListen(v string) (netip.AddrPort, error) {
	if strings.HasPrefix(v, ":") {
		v = "0.0.0.0" + v
	}
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("want [address]:port, got %q", v)
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, errors.New("zones are not allowed; name the interface with iface=")
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

var hostnameRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$`)

func validHostname(h string) bool { return len(h) <= 253 && hostnameRE.MatchString(h) }

// parseOther checks the parameters a channel reads itself on a URL whose
// +suffix names another transport; that transport reads the rest (host,
// path and its own parameters) when it opens.
func parseOther(a *Address, name string, q url.Values, bad func(param, format string, a ...any) (*Address, error)) (*Address, error) {
	// The cap is the largest datagram: such a transport knows its
	// carrier's limit (a broker's max payload) and its MTU reports the
	// smaller of the two; 1472 bytes is a UDP path's, not a broker's.
	a.Form, a.Transport, a.MTU = Other, name, DefaultMTUMem
	for key, vals := range q {
		if len(vals) != 1 {
			return bad(key, "given %d times", len(vals))
		}
		if _, why := a.commonParam(key, vals[0]); why != "" {
			return bad(key, "%s", why)
		}
	}
	return a, nil
}

// commonParam reads the parameters every channel URL may carry (qos, mtu,
// channel): known says key is one of them, why what is wrong with v.
func (a *Address) commonParam(key, v string) (known bool, why string) {
	switch key {
	case "qos":
		if _, err := registry.Parse(v); err != nil {
			return true, err.Error()
		}
		a.QoS = v
	case "mtu":
		n, err := strconv.Atoi(v)
		if err != nil || n < minMTU || n > maxMTU {
			return true, fmt.Sprintf("want %d..%d bytes, got %q", minMTU, maxMTU, v)
		}
		a.MTU, a.MTUGiven = n, true
	case "channel":
		if !channelIDRE.MatchString(v) {
			return true, fmt.Sprintf("want 1 to 128 of letters, digits and _ . ~ : / -, got %q", v)
		}
		a.Channel = v
	default:
		return false, ""
	}
	return true, ""
}

// Endpoint is what the channel's transport is asked to open: for a relay
// (a NATS bridge, a gateway) that opens the transport itself and forwards
// datagrams without being a member. Each call returns a new Endpoint.
func (a *Address) Endpoint() *transport.Endpoint { return a.endpoint() }

// endpoint is what the transport is asked to open.
func (a *Address) endpoint() *transport.Endpoint {
	return &transport.Endpoint{URL: a.url, Scheme: a.Scheme, Group: a.Group, Source: a.Source, Host: a.Host, Port: a.Port,
		Listen: a.Listen, Name: a.Name, Path: a.Path, Iface: a.Iface, TTL: a.TTL, Loop: a.Loop, MTU: a.MTU, MTUGiven: a.MTUGiven}
}

// String returns the URL as given.
func (a *Address) String() string { return a.Raw }

// IsMulticast reports whether the channel is a multicast group.
func (a *Address) IsMulticast() bool { return a.Form == Multicast }
