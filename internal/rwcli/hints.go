package rwcli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/transport"
)

// Errors that say what to do: each explain function wraps an error with
// the likely cause and the fix.

// hinted is an error with advice.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string {
	return h.err.Error() + "\n  " + strings.ReplaceAll(h.hint, "\n", "\n  ")
}
func (h *hinted) Unwrap() error { return h.err }

func hint(err error, format string, a ...any) error {
	return &hinted{err: err, hint: fmt.Sprintf(format, a...)}
}

// multicastInterfaces lists the interfaces that are up, multicast-capable
// and not loopback: the ones the OS might choose for a group.
func multicastInterfaces() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var names []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
			names = append(names, i.Name)
		}
	}
	return names
}

// withIface returns the URL with iface=NAME added.
func withIface(raw, name string) string {
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	return raw + sep + "iface=" + name
}

// ifaceHint warns about a multicast URL without iface= on a host with
// several interfaces the OS could pick: members on two hosts may then
// never hear each other. It returns "" when there is nothing to say.
func ifaceHint(a *channel.Address, flagIface string, ifaces []string) string {
	if a.Form != channel.Multicast || a.Iface != "" || flagIface != "" || len(ifaces) < 2 {
		return ""
	}
	return fmt.Sprintf("%s names no interface, and this host has several (%s): the OS picks one for the group, "+
		"which may not be the one your other members are on. Name it: %s (or --iface NAME; iface=lo for this host only).",
		a.Raw, strings.Join(ifaces, ", "), withIface(a.Raw, ifaces[0]))
}

// explainTransport explains a URL naming a transport this rw does not
// have ("" when err is not that).
func explainTransport(err error) string {
	if !errors.Is(err, transport.ErrUnknown) {
		return ""
	}
	if strings.Contains(err.Error(), `"nats"`) {
		return "this rw has no NATS transport (it would make the core module depend on nats.go); the rw of module natsx has: go install github.com/rwanda-go/rwanda/natsx/cmd/rw@latest"
	}
	return "a transport of another module is registered by importing its package: build an rw that imports it beside internal/rwcli, as natsx/cmd/rw does"
}

// explainURL explains a URL that does not parse.
func explainURL(raw string, err error) error {
	if h := explainTransport(err); h != "" {
		return hint(err, "%s", h)
	}
	if !strings.Contains(raw, "://") {
		return hint(err, "a channel URL has a scheme of your choosing: app://239.7.7.7:7400?iface=lo (multicast), app://127.0.0.1:7400 (a peer), app://:7400 (listen), file:///tmp/x.rw")
	}
	return hint(err, "URLs look like app://239.7.7.7:7400?iface=lo (multicast), app://127.0.0.1:7400 (a peer), app://:7400 (listen), file:///tmp/x.rw; parameters: qos, iface, ttl, loop, mtu, listen, channel, source")
}

// explainOpen explains why a channel did not open.
func explainOpen(a *channel.Address, flagIface string, err error, ifaces []string) error {
	if h := explainTransport(err); h != "" {
		return hint(err, "%s", h)
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		port := a.Listen.Port()
		return hint(err, "another program already listens on port %d: stop it, or pick another port; to let several processes on this host share traffic, use a multicast group (app://239.7.7.7:%d?iface=lo)", port, port)
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		return hint(err, "ports under 1024 need privileges: use a port of 1024 or more")
	case a.Form == channel.Multicast && a.Iface == "" && flagIface == "":
		if len(ifaces) > 0 {
			return hint(err, "no interface was named for the multicast group, and the OS could not pick one: add ?iface=NAME (this host has %s; iface=lo stays on this host), e.g. %s",
				strings.Join(ifaces, ", "), withIface(a.Raw, ifaces[0]))
		}
		return hint(err, "no interface was named for the multicast group: add ?iface=NAME (iface=lo stays on this host), e.g. %s", withIface(a.Raw, "lo"))
	case a.Form == channel.Multicast:
		return hint(err, "check that the interface exists, is up and supports multicast (ip link show; iface=lo works on any Linux host)")
	case strings.Contains(err.Error(), "channel id"):
		return hint(err, "keyed channels between two peers name themselves: add ?channel=NAME to the URL on both ends")
	}
	return err
}

// explainPull explains a request that got no reply.
func explainPull(url, name string, err error) error {
	svc := "the default service"
	if name != "" {
		svc = fmt.Sprintf("service %q", name)
	}
	switch {
	case errors.Is(err, channel.ErrNoServer):
		return hint(err, "nobody on %s serves %s: start one in another terminal (rw serve %s%s), and check that both ends use the same URL (group, port, channel=, iface=)",
			url, svc, url, map[bool]string{true: " --name " + name}[name != ""])
	case errors.Is(err, channel.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return hint(err, "a member serves %s but did not answer in time: raise --timeout, or look at the server", svc)
	}
	return err
}
