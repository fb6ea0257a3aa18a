package testnet

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Require skips t unless the test runs as root on Linux and every named
// binary (for example "ip", "nft", "chromium") is on PATH. When the
// environment has CI=true a missing privilege or binary fails t instead:
// CI must run these tests. On other systems than Linux it always skips.
func Require(t testing.TB, what ...string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("needs Linux network namespaces (this is %s)", runtime.GOOS)
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range what {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		SkipOrFail(t, "needs %s", strings.Join(missing, ", "))
	}
}

// SkipOrFail skips t, or fails it when CI=true: for what a test needs of
// the machine (a privilege, a binary, a kernel feature) that CI has.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: failing instead of skipping)", msg)
	}
	t.Skip(msg)
}

// Net is a test's set of namespaces: one hub holding the bridges, and the
// hosts. Create it with [NewNet]; its methods fail the test on error and
// must be called from the test's goroutine (they may call t.Fatal).
type Net struct {
	t      testing.TB
	prefix string // "rwt<pid>-<n>-"
	hub    string // the hub namespace

	mu    sync.Mutex
	names map[string]bool // hosts and bridges made so far
	cmds  []*exec.Cmd
}

// Bridge is a Linux bridge in the hub namespace. Multicast snooping is off,
// so the bridge floods every multicast frame to every port (like a plain
// switch); what a host receives is decided by the host's own kernel.
type Bridge struct {
	net  *Net
	Name string // device name inside the hub namespace
}

// Host is a namespace with loopback up and one or more veth links to
// bridges.
type Host struct {
	net *Net
	// Name is the name given to [Net.Host]; NS the namespace's name (for
	// "ip netns exec NS ..." or "ip -n NS ...").
	Name, NS string
	// Iface is the first link's interface name (eth0), Addr its address.
	Iface string
	Addr  netip.Prefix

	links   int      // interfaces made: eth0 .. eth<links-1>
	ports   []string // their bridge ports in the hub
	nftInit bool
}

var netCount atomic.Int64
var cleanStale sync.Once

const nsPrefix = "rwt"

// NewNet makes the hub namespace of a new Net and registers a cleanup that
// kills the processes started with [Host.Command] that still run and deletes
// every namespace of the Net. It calls Require(t, "ip") first, and also
// skips (or fails under CI=true) when namespaces cannot be made, as in an
// unprivileged container.
func NewNet(t testing.TB) *Net {
	t.Helper()
	Require(t, "ip")
	cleanStale.Do(removeStale)
	n := &Net{
		t:      t,
		prefix: fmt.Sprintf("%s%d-%d-", nsPrefix, os.Getpid(), netCount.Add(1)),
		names:  map[string]bool{},
	}
	n.hub = n.prefix + "hub"
	if out, err := exec.Command("ip", "netns", "add", n.hub).CombinedOutput(); err != nil {
		SkipOrFail(t, "cannot make a network namespace: ip netns add: %v: %s", err, bytes.TrimSpace(out))
	}
	t.Cleanup(n.cleanup)
	n.ip("-n", n.hub, "link", "set", "dev", "lo", "up")
	return n
}

// removeStale deletes the namespaces whose names say they were made by a
// test process that has exited (a crashed or killed run).
func removeStale() {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	re := regexp.MustCompile(`^` + nsPrefix + `(\d+)-\d+-`)
	for _, e := range ents {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

func (n *Net) cleanup() {
	n.mu.Lock()
	cmds := n.cmds
	n.mu.Unlock()
	for _, c := range cmds {
		if c.Process != nil {
			c.Process.Kill() // an error means it has exited already
		}
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), n.prefix) {
			if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
				n.t.Errorf("testnet: ip netns del %s: %v: %s", e.Name(), err, bytes.TrimSpace(out))
			}
		}
	}
}

// ip runs ip(8) with args and fails the test on error.
func (n *Net) ip(args ...string) string {
	n.t.Helper()
	return n.run(exec.Command("ip", args...))
}

func (n *Net) run(cmd *exec.Cmd) string {
	n.t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		n.t.Fatalf("testnet: %s: %v: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

func (n *Net) claim(kind, name string, maxLen int) {
	n.t.Helper()
	if name == "" || len(name) > maxLen || strings.ContainsAny(name, "/ \t\n") {
		n.t.Fatalf("testnet: %s name %q: want 1..%d characters, no '/' or space", kind, name, maxLen)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names[name] {
		n.t.Fatalf("testnet: %s name %q is taken", kind, name)
	}
	n.names[name] = true
}

// Bridge makes a bridge called name (at most 12 characters) in the hub.
func (n *Net) Bridge(name string) *Bridge {
	n.t.Helper()
	n.claim("bridge", name, 12)
	n.ip("-n", n.hub, "link", "add", "name", name, "type", "bridge", "mcast_snooping", "0")
	n.ip("-n", n.hub, "link", "set", "dev", name, "up")
	return &Bridge{net: n, Name: name}
}

// Host makes a namespace called name (at most 10 characters) with loopback
// up and a link eth0 to br with address cidr ("10.77.0.1/24"), and routes
// the multicast range 224.0.0.0/4 through eth0. Add more links with
// [Host.Link].
func (n *Net) Host(name string, br *Bridge, cidr string) *Host {
	n.t.Helper()
	n.claim("host", name, 10)
	h := &Host{net: n, Name: name, NS: n.prefix + name}
	n.ip("netns", "add", h.NS)
	n.ip("-n", h.NS, "link", "set", "dev", "lo", "up")
	h.Iface = h.Link(br, cidr)
	h.Addr = netip.MustParsePrefix(cidr)
	n.ip("-n", h.NS, "route", "add", "224.0.0.0/4", "dev", h.Iface)
	return h
}

// Link adds a veth link from h to br with address cidr (empty: none) and
// returns its interface name in h (eth1, eth2, ...). It adds no multicast
// route: the first link has that (see [Host.Run] to add others).
func (h *Host) Link(br *Bridge, cidr string) string {
	n := h.net
	n.t.Helper()
	if cidr != "" {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			n.t.Fatalf("testnet: host %s: address %q: %v", h.Name, cidr, err)
		}
	}
	iface := fmt.Sprintf("eth%d", h.links)
	port := "p-" + h.Name
	if h.links > 0 {
		port += "-" + strconv.Itoa(h.links)
	}
	h.links++
	h.ports = append(h.ports, port)
	// Both ends are made directly in their namespaces: nothing appears in
	// the host machine's namespace, even for a moment.
	n.ip("-n", h.NS, "link", "add", "name", iface, "type", "veth", "peer", "name", port, "netns", n.hub)
	n.ip("-n", n.hub, "link", "set", "dev", port, "master", br.Name)
	n.ip("-n", n.hub, "link", "set", "dev", port, "up")
	if cidr != "" {
		n.ip("-n", h.NS, "addr", "add", cidr, "dev", iface)
	}
	n.ip("-n", h.NS, "link", "set", "dev", iface, "up")
	// A veth passes nothing until both ends report carrier: frames sent
	// before that are lost, which a test would see as loss on a fresh link.
	n.waitUp(h.NS, iface)
	n.waitUp(n.hub, port)
	return iface
}

// waitUp waits (up to a configured bound) until the interface's operational
// state in ns is UP.
func (n *Net) waitUp(ns, iface string) {
	n.t.Helper()
	deadline := time.Now().Add(linkUpTimeout)
	for {
		out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", iface).CombinedOutput()
		if err == nil && strings.Contains(string(out), "state UP") {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("testnet: %s in %s not up after %v: %s", iface, ns, linkUpTimeout, out)
		}
		time.Sleep(time.Millisecond) // polling the kernel's link state
	}
}

// linkUpTimeout bounds the wait for a new link's carrier.
const linkUpTimeout = 10 * time.Second

// SetMTU sets the MTU of both ends of all h's links: frames larger than mtu
// neither leave h nor reach it (the bridge drops them).
func (h *Host) SetMTU(mtu int) {
	n := h.net
	n.t.Helper()
	m := strconv.Itoa(mtu)
	for i, port := range h.ports {
		n.ip("-n", n.hub, "link", "set", "dev", port, "mtu", m)
		n.ip("-n", h.NS, "link", "set", "dev", fmt.Sprintf("eth%d", i), "mtu", m)
	}
}

// Drop adds an nftables rule to h that drops the packets h receives that
// match match, an nft expression such as
//
//	"udp dport 7400"                             all datagrams to port 7400
//	"meta l4proto udp numgen random mod 100 < 5" 5 % of UDP, at random
//
// The rule counts what it drops (see [Host.Dropped]). Rules live in table
// "inet testnet", chain "input" (hook input, so they see multicast and
// unicast alike); use [Host.Nft] for anything else. Call Require(t, "nft")
// first.
func (h *Host) Drop(match string) {
	h.net.t.Helper()
	if !h.nftInit {
		h.Nft("add table inet testnet\n" +
			"add chain inet testnet input { type filter hook input priority 0; policy accept; }\n")
		h.nftInit = true
	}
	h.Nft("add rule inet testnet input " + match + " counter drop\n")
}

// Dropped returns how many packets h's [Host.Drop] rules have dropped.
func (h *Host) Dropped() int {
	h.net.t.Helper()
	if !h.nftInit {
		return 0
	}
	out := h.Run("nft", "list", "chain", "inet", "testnet", "input")
	total := 0
	for _, m := range regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(out, -1) {
		v, _ := strconv.Atoi(m[1])
		total += v
	}
	return total
}

// LimitIn shapes what h receives on its first link: a tbf qdisc on the
// link's bridge port in the hub, at rate ("456kbit"), with a bucket of
// burst bytes and a queue of at most limit bytes (beyond it, tail drop).
// It reports false, having changed nothing, when the kernel has no tbf;
// the caller then shapes otherwise or skips. Call Require(t, "tc") first.
func (h *Host) LimitIn(rate string, burst, limit int) bool {
	h.net.t.Helper()
	out, err := exec.Command("tc", "-n", h.net.hub, "qdisc", "add", "dev", h.ports[0], "root", "tbf",
		"rate", rate, "burst", strconv.Itoa(burst), "limit", strconv.Itoa(limit)).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "Unknown qdisc") || strings.Contains(string(out), "No such file") {
			return false
		}
		h.net.t.Fatalf("testnet: tc qdisc add tbf on %s: %v: %s", h.ports[0], err, bytes.TrimSpace(out))
	}
	return true
}

// NoMulticastIn stops the bridge flooding multicast to h's first link
// (bridge link ... mcast_flood off): a host that joins no group, behind a
// bottleneck, does not see its link filled with the LAN's multicast.
// Broadcast and unicast still pass.
func (h *Host) NoMulticastIn() {
	h.net.t.Helper()
	h.net.run(exec.Command("bridge", "-n", h.net.hub, "link", "set", "dev", h.ports[0], "mcast_flood", "off"))
}

// LimitDrops returns how many packets h's LimitIn queue dropped.
func (h *Host) LimitDrops() int {
	h.net.t.Helper()
	out := h.net.run(exec.Command("tc", "-n", h.net.hub, "-s", "qdisc", "show", "dev", h.ports[0]))
	m := regexp.MustCompile(`dropped (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

// Nft runs nft -f with script inside h.
func (h *Host) Nft(script string) {
	h.net.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", h.NS, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	h.net.run(cmd)
}

// Run runs a command inside h, fails the test if it fails, and returns
// its combined output.
func (h *Host) Run(name string, args ...string) string {
	h.net.t.Helper()
	return h.net.run(exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...))
}

// Command returns a command that runs name with args inside h, through
// "ip netns exec" (which execs name, so cmd.Process is name's process). It
// inherits the environment unless cmd.Env is set. It is killed if the test
// process dies, and by the Net's cleanup if it still runs then; Wait for it
// as usual.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	setPdeathsig(cmd)
	h.net.mu.Lock()
	h.net.cmds = append(h.net.cmds, cmd)
	h.net.mu.Unlock()
	return cmd
}
