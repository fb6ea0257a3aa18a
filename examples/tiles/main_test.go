package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// TestDemo runs the demo over real multicast sockets on lo, on a group of
// its own.
func TestDemo(t *testing.T) {
	url := fmt.Sprintf("tiles://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	if err := runDemo(url, os.Stdout); err != nil {
		t.Fatal(err)
	}
}
