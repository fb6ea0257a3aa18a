package testnet

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// FreePort returns a port on 127.0.0.1 that is free for UDP and TCP and
// stays this test's until it ends.
//
// Asking the kernel for port 0 and closing the socket is not enough: the
// port returns to the ephemeral pool, and a test in another package's
// process, binding port 0 or connecting over TCP, can be given it before
// this test binds it (a CI run failed so: "bind: address already in
// use"). So the port comes from below the kernel's ephemeral range, where
// no port-0 bind or outgoing connection lands, and below the tests'
// random multicast groups; and a lock file held until the test's cleanup
// keeps every other test process off it.
func FreePort(t testing.TB) int {
	t.Helper()
	port, release, err := reservePort()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return port
}

// portFree reports whether port can be bound on every address for UDP
// and TCP (tests listen on the wildcard address too).
func portFree(port int) bool {
	u, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
	if err != nil {
		return false
	}
	u.Close()
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{Port: port})
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// kernelFreePort is the old way, for systems without file locks: a port
// the kernel chose, free a moment ago.
func kernelFreePort() (int, func(), error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, func() {}, nil
}

// CheckGoroutines fails t if goroutines started during the test outlive
// it (and whatever cleanups registered after this call close).
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if err := WaitGoroutines(before, 5*time.Second); err != "" {
			t.Error(err)
		}
	})
}

// WaitGoroutines waits up to d for the goroutines to come down to n and
// returns "" or a report with every goroutine's stack.
func WaitGoroutines(n int, d time.Duration) string {
	deadline := time.Now().Add(d)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			return fmt.Sprintf("goroutines: %d before, %d after:\n%s", n, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond) // waiting for goroutines to exit, not for time to pass
	}
	return ""
}

// SchedProbe measures how late this process's goroutines run on a busy
// machine: a goroutine sleeps a short interval over and over and keeps
// the largest overshoot. Timing tests add what it measured to their
// configured bounds (DECISIONS §4), instead of a constant tuned to one
// machine.
type SchedProbe struct {
	stop chan struct{}
	done chan struct{}
	max  atomic.Int64
}

// probeInterval is the probe's sleep: short, so it samples often.
const probeInterval = 200 * time.Microsecond

// StartSchedProbe starts measuring; Stop ends it.
func StartSchedProbe() *SchedProbe {
	p := &SchedProbe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(probeInterval) // the probe: how late does a sleeping goroutine wake?
			if over := int64(time.Since(t0) - probeInterval); over > p.max.Load() {
				p.max.Store(over)
			}
		}
	}()
	return p
}

// Max is the largest delay seen so far.
func (p *SchedProbe) Max() time.Duration { return time.Duration(p.max.Load()) }

// Stop ends the probe and returns the largest delay it saw.
func (p *SchedProbe) Stop() time.Duration {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	return p.Max()
}
