package stack

import (
	"testing"
	"time"
)

func TestManualClockOrder(t *testing.T) {
	c := NewManualClock(time.Time{})
	start := c.Now()
	if !start.Equal(ManualEpoch) {
		t.Fatalf("start %v", start)
	}
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+c.Now().Sub(start).String()) }
	}
	c.AfterFunc(30*time.Millisecond, at("c"))
	c.AfterFunc(10*time.Millisecond, at("a"))
	c.AfterFunc(10*time.Millisecond, at("b")) // same deadline: creation order
	stopped := c.AfterFunc(20*time.Millisecond, at("stopped"))
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report true once")
	}
	c.Advance(25 * time.Millisecond)
	if want := "a@10ms b@10ms"; join(got) != want {
		t.Fatalf("fired %q, want %q", join(got), want)
	}
	if d := c.Now().Sub(start); d != 25*time.Millisecond {
		t.Fatalf("now = start+%v", d)
	}
	c.Advance(10 * time.Millisecond)
	if want := "a@10ms b@10ms c@30ms"; join(got) != want {
		t.Fatalf("fired %q, want %q", join(got), want)
	}
	if c.Pending() != 0 {
		t.Fatalf("pending %d", c.Pending())
	}
}

func TestManualClockChainedTimers(t *testing.T) {
	c := NewManualClock(time.Time{})
	n := 0
	var tick func()
	tick = func() {
		n++
		if n < 5 {
			c.AfterFunc(10*time.Millisecond, tick)
		}
	}
	c.AfterFunc(10*time.Millisecond, tick)
	c.Advance(35 * time.Millisecond)
	if n != 3 {
		t.Fatalf("ticks within 35ms: %d, want 3", n)
	}
	for c.RunNext() {
	}
	if n != 5 {
		t.Fatalf("ticks after RunNext: %d, want 5", n)
	}
	if c.RunNext() {
		t.Fatal("RunNext with nothing pending")
	}
}

func TestManualClockReset(t *testing.T) {
	c := NewManualClock(time.Time{})
	fired := 0
	tm := c.AfterFunc(10*time.Millisecond, func() { fired++ })
	c.Advance(5 * time.Millisecond)
	if !tm.Reset(10 * time.Millisecond) { // now due at 15ms
		t.Fatal("Reset of a pending timer reported false")
	}
	c.Advance(9 * time.Millisecond)
	if fired != 0 {
		t.Fatal("fired before its reset deadline")
	}
	c.Advance(time.Millisecond)
	if fired != 1 {
		t.Fatalf("fired %d", fired)
	}
	if tm.Reset(time.Millisecond) {
		t.Fatal("Reset of a fired timer reported true")
	}
	c.Advance(0)
	c.Advance(time.Millisecond)
	if fired != 2 {
		t.Fatalf("re-armed timer fired %d", fired)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
