package harness

import (
	"bufio"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestServeWarm: "warm N" reports the warm-up's deliveries and the count
// starts afresh before the answer (the parent measures once it has it);
// "stop N" reports only what came after.
func TestServeWarm(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var c Counter
	done := make(chan error, 1)
	go func() { done <- Serve("x", &c, inR, outW); outW.Close() }()
	sc := bufio.NewScanner(outR)
	if !sc.Scan() || sc.Text() != "ready x" {
		t.Fatalf("first line %q", sc.Text())
	}
	read := func() Report {
		t.Helper()
		var r Report
		if !sc.Scan() || json.Unmarshal(sc.Bytes(), &r) != nil {
			t.Fatalf("answer %q", sc.Text())
		}
		return r
	}
	for range 3 {
		c.Add(10)
	}
	io.WriteString(inW, "warm 3\n")
	if r := read(); r.Delivered != 3 || r.Bytes != 30 {
		t.Errorf("warm-up report %+v", r)
	}
	if n := c.Count(); n != 0 {
		t.Errorf("count %d after the warm-up's answer, want 0", n)
	}
	c.Add(5)
	c.Add(5)
	io.WriteString(inW, "stop 2\n")
	if r := read(); r.Delivered != 2 || r.Bytes != 10 || r.FirstNs == 0 || r.LastNs < r.FirstNs {
		t.Errorf("stop report %+v", r)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after stop")
	}
}

// TestPaced: a paced sender sends about rate × time, not as many as it
// can; an unpaced one stops at its deadline.
func TestPaced(t *testing.T) {
	d := 100 * time.Millisecond
	start := time.Now()
	n, err := Paced(1000, start.Add(d), func() error { return nil })
	el := time.Since(start)
	if err != nil || n > int64(1000*el.Seconds())+1 || n < 1 {
		t.Errorf("paced at 1000/s for %v: %d calls, %v", el, n, err)
	}
	start = time.Now()
	m, err := Paced(0, start.Add(d), func() error { return nil })
	if err != nil || m <= n || time.Since(start) < d {
		t.Errorf("unpaced: %d calls in %v, %v", m, time.Since(start), err)
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line  string
		verb  string
		n     int64
		quiet time.Duration
		ok    bool
	}{
		{"stop 5", "stop", 5, 0, true},
		{"warm 7 5000", "warm", 7, 5 * time.Second, true},
		{"stop 5 0", "", 0, 0, false},
		{"stop -1", "", 0, 0, false},
		{"go 5", "", 0, 0, false},
		{"stop 5 6 7", "", 0, 0, false},
	} {
		verb, n, quiet, ok := ParseCommand(tc.line)
		if verb != tc.verb || n != tc.n || quiet != tc.quiet || ok != tc.ok {
			t.Errorf("%q: %q %d %v %v", tc.line, verb, n, quiet, ok)
		}
	}
}
