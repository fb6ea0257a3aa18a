// Package testnet holds what the project's tests share for running real
// sockets and goroutines: free loopback ports, goroutine-leak checks, and
// network namespaces. Only tests import it.
//
// # Network namespaces
//
// A [Net] is a set of namespaces ("hosts") joined by bridges that live in a
// hub namespace of their own, so the machine's own network is never
// touched. Everything is made with the ip(8) and nft(8) commands and removed
// on t.Cleanup, also after a failure. Processes run inside a host with
// [Host.Command] ("ip netns exec"); tests usually re-execute their own test
// binary with an environment variable that selects a helper role.
//
//	net := testnet.NewNet(t)                 // skips without root and ip (fails under CI=true)
//	br := net.Bridge("br")
//	a := net.Host("a", br, "10.77.0.1/24")   // namespace, eth0 on br, lo up, 224.0.0.0/4 via eth0
//	b := net.Host("b", br, "10.77.0.2/24")
//	a.SetMTU(1400)
//	testnet.Require(t, "nft")
//	a.Drop("meta l4proto udp numgen random mod 100 < 5") // 5 % of what a receives
//	cmd := b.Command(exe, "-test.run=^$")    // ip netns exec <b's namespace> exe ...
//
// Tests that need root, namespaces or other binaries call [Require] (NewNet
// does for "ip"): it skips with a message when something is missing, and
// fails instead when the environment has CI=true.
//
// Names: a namespace is called "rwt<pid>-<n>-<name>" (n counts the Nets of
// the process), so parallel tests and test processes never collide, and
// NewNet deletes the namespaces left by test processes that no longer run.
// Interface names are short and only need to be unique inside their
// namespace: a host's interfaces are eth0, eth1, ...; the bridge ports in
// the hub are "p-<host>" ("p-<host>-1" for a host's second link, ...).
package testnet
