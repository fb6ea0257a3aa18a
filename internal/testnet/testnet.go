package testnet

import (
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// FreePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
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
