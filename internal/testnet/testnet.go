package testnet

import (
	"fmt"
	"net"
	"runtime"
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
