package main

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestDemo runs the demo over real multicast sockets on lo, on a group of
// its own, for 3 s.
func TestDemo(t *testing.T) {
	url := fmt.Sprintf("av://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	if err := runDemo(url, 3*time.Second, "delay=30ms,jitter=25ms,loss=2%", testing.Verbose()); err != nil {
		t.Fatal(err)
	}
}
