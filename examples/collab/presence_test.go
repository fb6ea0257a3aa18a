package main

import (
	"testing"
	"time"
)

// TestPresence: a heartbeat joins a member at once, a member silent for the
// timeout leaves (and not a moment before), a goodbye leaves at once, and
// the roster is bounded.
func TestPresence(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newPresence(2500*time.Millisecond, 2)
	if !p.heard(1, Hello{Name: "ana"}, t0) {
		t.Fatal("a first heartbeat is no join")
	}
	if p.heard(1, Hello{Name: "ana"}, t0.Add(500*time.Millisecond)) {
		t.Fatal("a repeated heartbeat changed the roster")
	}
	p.heard(2, Hello{Name: "ben"}, t0)
	if p.heard(3, Hello{Name: "cy"}, t0) || len(p.members()) != 2 {
		t.Fatalf("roster past its bound: %v", p.members())
	}
	if gone := p.expire(t0.Add(2500*time.Millisecond - time.Nanosecond)); len(gone) != 0 {
		t.Fatalf("%v left before the timeout", gone)
	}
	if gone := p.expire(t0.Add(2500 * time.Millisecond)); len(gone) != 1 || gone[0].Name != "ben" || gone[0].Key != "2" || gone[0].LastHeard != t0.UnixMilli() {
		t.Fatalf("at the timeout %v left, want ben (2), last heard at %d", gone, t0.UnixMilli())
	}
	if ms := p.members(); len(ms) != 1 || ms[0].Name != "ana" {
		t.Fatalf("roster %v, want ana (heard 500ms later)", ms)
	}
	if !p.heard(1, Hello{Name: "ana", Bye: true}, t0.Add(time.Second)) || len(p.members()) != 0 {
		t.Fatal("a goodbye did not remove ana")
	}
	if p.heard(1, Hello{Name: "ana", Bye: true}, t0.Add(time.Second)) {
		t.Fatal("a goodbye from nobody changed the roster")
	}
}
