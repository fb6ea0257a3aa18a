package bridge

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// dgram builds a wire v2 datagram from sender with one DATA frame per meta
// (payload "x"), keyed adding a trailer of zeros.
func dgram(sender uint64, keyed bool, metas ...stack.Meta) []byte {
	b := []byte{wireMagic, wireVersion << 4}
	if keyed {
		b[1] |= flagAuth
	}
	b = binary.BigEndian.AppendUint64(b, sender)
	b = append(b, 6) // an unknown-to-the-bridge control frame (HELLO): skipped
	b = binary.AppendUvarint(b, 9)
	b = append(b, make([]byte, 9)...)
	for _, m := range metas {
		body := binary.AppendUvarint(nil, 3) // stream
		body = stack.AppendRelay(body, &m)
		body = append(body, 'x')
		b = append(b, frameData)
		b = binary.AppendUvarint(b, uint64(len(body)))
		b = append(b, body...)
	}
	if keyed {
		b = append(b, make([]byte, authLen)...)
	}
	return b
}

func TestInspect(t *testing.T) {
	ttl := stack.Meta{Flags: stack.FlagDroppable | stack.FlagLeft, Left: 100}
	rel := stack.Meta{}
	for _, tc := range []struct {
		name      string
		d         []byte
		data      int
		droppable bool
		left      time.Duration
	}{
		{"control", dgram(7, false), 0, false, 0},
		{"reliable", dgram(7, false, rel, rel), 2, false, 0},
		{"ttl", dgram(7, false, ttl), 1, true, 100 * time.Millisecond},
		{"ttl keyed", dgram(7, true, ttl, stack.Meta{Flags: stack.FlagDroppable | stack.FlagLeft, Left: 40}), 2, true, 40 * time.Millisecond},
		{"mixed", dgram(7, false, ttl, rel), 2, false, 100 * time.Millisecond},
	} {
		in, err := Inspect(tc.d)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if in.Sender != 7 || in.Data != tc.data || in.Droppable != tc.droppable || in.Left != tc.left {
			t.Errorf("%s: %+v", tc.name, in)
		}
		if tc.droppable && (in.Expired(tc.left-time.Millisecond) || !in.Expired(tc.left)) {
			t.Errorf("%s: expires early or not at its time left", tc.name)
		}
		if !tc.droppable && in.Expired(time.Hour) {
			t.Errorf("%s: a datagram that may not be dropped expires", tc.name)
		}
	}
	good := dgram(7, false, ttl)
	for name, d := range map[string][]byte{
		"short":      good[:5],
		"magic":      append([]byte{0x51}, good[1:]...),
		"version":    append([]byte{wireMagic, 1 << 4}, good[2:]...),
		"flags":      append([]byte{wireMagic, wireVersion<<4 | 4}, good[2:]...),
		"sender 0":   append([]byte{wireMagic, wireVersion << 4, 0, 0, 0, 0, 0, 0, 0, 0}, good[10:]...),
		"truncated":  good[:len(good)-1],
		"no trailer": dgram(7, true)[:20],
		"bad relay":  append(good[:len(good)-3:len(good)-3], 0x07, 'x'), // media 7
	} {
		if _, err := Inspect(d); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestHeartbeatEnvelope(t *testing.T) {
	now := time.Unix(1700000000, 5)
	id, bye, clock, ok := parseHeartbeat(appendHeartbeat(nil, 42, true, now))
	if !ok || id != 42 || !bye || !clock.Equal(now) {
		t.Fatalf("heartbeat: %v %v %v %v", id, bye, clock, ok)
	}
	d := dgram(7, false)
	id, clock, res, got, ok := parseEnvelope(append(appendEnvelope(nil, 42, now, 1500*time.Microsecond), d...))
	if !ok || id != 42 || !clock.Equal(now) || res != 1500*time.Microsecond || string(got) != string(d) {
		t.Fatalf("envelope: %v %v %v %v", id, clock, res, ok)
	}
	if _, _, _, ok := parseHeartbeat(appendHeartbeat(nil, 0, false, now)); ok {
		t.Error("a heartbeat from bridge 0 parses")
	}
}

// TestTransit: the estimate never says more than the transit beyond the
// fastest, whatever the clock offset.
func TestTransit(t *testing.T) {
	var e transit
	base := time.Unix(1700000000, 0)
	offset := 3 * time.Hour // the far clock is behind
	for i, delay := range []time.Duration{5, 2, 9, 2, 40} {
		sent := base.Add(time.Duration(i) * time.Second)
		now := sent.Add(offset + delay*time.Millisecond)
		got := e.sample(now, sent)
		want := (delay - 2) * time.Millisecond
		if i == 0 {
			want = 0
		}
		if got > max(want, 0) {
			t.Errorf("sample %d (delay %v ms): %v beyond the fastest, more than %v", i, delay, got, want)
		}
	}
	if got := e.sample(base.Add(10*time.Second+offset+7*time.Second), base.Add(10*time.Second)); got != 7*time.Second-2*time.Millisecond {
		t.Errorf("a datagram 7 s late: %v", got)
	}
}

// FuzzInspect: the inspector and the bridges' own messages never panic
// on any input, and what Inspect accepts has a sender.
func FuzzInspect(f *testing.F) {
	ttl := stack.Meta{Flags: stack.FlagDroppable | stack.FlagLeft, Left: 100}
	f.Add(dgram(7, false, ttl))
	f.Add(dgram(7, true, stack.Meta{}, ttl))
	f.Add(appendHeartbeat(nil, 3, false, time.Unix(1, 0)))
	f.Add(appendEnvelope(nil, 3, time.Unix(1, 0), time.Second))
	f.Fuzz(func(t *testing.T, d []byte) {
		in, err := Inspect(d)
		if err == nil && in.Sender == 0 {
			t.Fatal("accepted sender 0")
		}
		if err == nil && in.Data == 0 && in.Droppable {
			t.Fatal("a datagram without data is droppable")
		}
		parseHeartbeat(d)
		parseEnvelope(d)
	})
}
