package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/rwanda-go/rwanda/floor"
)

// TestDemo plays the demo session, both kinds of resource, over real
// multicast sockets on lo, each on a group of its own.
func TestDemo(t *testing.T) {
	for _, mode := range []floor.Mode{floor.Everywhere, floor.Localised} {
		t.Run(mode.String(), func(t *testing.T) {
			url := fmt.Sprintf("floor://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
			if err := runDemo(os.Stdout, url, mode); err != nil {
				t.Fatal(err)
			}
		})
	}
}
