//go:build unix

package testnet

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FreePort's ports: the portSpan ports below portTop or below the
// ephemeral range, whichever is lower. The tests' random multicast groups
// take ports from 20000 up, and a group's socket bound to a port keeps a
// wildcard unicast bind off it.
const (
	portSpan = 8000
	portTop  = 20000
)

// reservePort finds a port in FreePort's span that no other process
// holds the lock of and that binds, and locks it. The lock is an flock,
// so it dies with the process if the process dies.
func reservePort() (int, func(), error) {
	low := min(ephemeralLow(), portTop)
	if low-portSpan < 1024 {
		return kernelFreePort()
	}
	dir := filepath.Join(os.TempDir(), "rwanda-testports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, nil, fmt.Errorf("testnet: %w", err)
	}
	start := rand.IntN(portSpan)
	for i := range portSpan {
		port := low - portSpan + (start+i)%portSpan
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return 0, nil, fmt.Errorf("testnet: %w", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another test holds it
			continue
		}
		if !portFree(port) {
			f.Close() // something outside the tests has it
			continue
		}
		return port, func() { f.Close() }, nil
	}
	return 0, nil, fmt.Errorf("testnet: no free port in %d–%d", low-portSpan, low-1)
}

// ephemeralLow is the first port of the kernel's ephemeral range
// (32768 where it cannot be read: Linux's default, and below the BSDs').
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
