package monitor

import "testing"

// TestRelayParsers: what a relay reads is what the layer wrote, and
// anything else is refused.
func TestRelayParsers(t *testing.T) {
	h := appendData(nil, 300, 0xdeadbeef)
	if seq, st, ok := ParseDataHeader(append(h, "payload"...)); !ok || seq != 300 || st != 0xdeadbeef {
		t.Errorf("data header: %d %x %v, want 300 deadbeef true", seq, st, ok)
	}
	if _, _, ok := ParseDataHeader(h[:len(h)-1]); ok {
		t.Error("a cut data header parsed")
	}
	rep := report{highest: 9, expected: 10, lost: 2, lossPPM: 200000, jitter: 5, rate: 1200, mpps: 7500, echo: 42, hold: 900}
	b := appendReport(nil, &rep)
	w, ok := ParseReport(b)
	if want := (WireReport{Expected: 10, Lost: 2, Rate: 1200, MilliPPS: 7500, Echo: 42, Hold: 900}); !ok || w != want {
		t.Errorf("report: %+v %v, want %+v", w, ok, want)
	}
	if _, ok := ParseReport(b[:len(b)-1]); ok {
		t.Error("a cut report parsed")
	}
	if _, ok := ParseReport(h); ok {
		t.Error("a data header parsed as a report")
	}
	if p, ok := Passed([]byte{kindPass, 4, 1}); !ok || string(p) != "\x04\x01" {
		t.Errorf("pass: %x %v, want 0401 true", p, ok)
	}
	if _, ok := Passed(h); ok {
		t.Error("a data header taken for a passed packet")
	}
}
