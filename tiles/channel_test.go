package tiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
)

var hubSeq atomic.Int64

func openMem(t *testing.T, url string, opts ...channel.Option) *channel.Channel {
	t.Helper()
	ch, err := channel.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

// waitFor waits for cond, woken by r's updates, for at most limit.
func waitFor(t *testing.T, r *ChannelReceiver, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond) // NAK repairs change no "updated" signal of their own
	defer poll.Stop()
	for !cond() {
		select {
		case <-r.Updated():
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("not within %v; stale tiles %v", limit, r.Stale())
		}
	}
}

// TestChannelShare: over a mem:// hub, with the channel's default stack and
// with a best-effort one, a receiver there from the start and a late
// joiner hold the sender's frames; Close stops every goroutine.
func TestChannelShare(t *testing.T) {
	for _, qos := range []string{"", "frag/order/window(mode=besteffort)"} {
		t.Run(fmt.Sprintf("qos=%q", qos), func(t *testing.T) {
			testnet.CheckGoroutines(t)
			url := fmt.Sprintf("mem://tiles-%d", hubSeq.Add(1))
			var opts []channel.Option
			if qos != "" {
				opts = append(opts, channel.WithStreamQoS("desk", qos), channel.WithStreamQoS(CtlStream("desk"), qos))
			}
			a, b, c := openMem(t, url, opts...), openMem(t, url, opts...), openMem(t, url, opts...)
			s, err := NewChannelSender(a, "desk", Config{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r1, err := NewChannelReceiver(b, "desk", RecvConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer r1.Close()
			d := NewDesktop(640, 480, 5)
			var frame []byte
			for range 5 {
				m := d.Next()
				frame = append(frame[:0], m.Pix...)
				if err := s.Frame(m); err != nil {
					t.Fatal(err)
				}
			}
			same := func(r *ChannelReceiver) func() bool {
				return func() bool { img := r.Image(); return img != nil && bytes.Equal(img.Pix, frame) }
			}
			waitFor(t, r1, 5*time.Second, same(r1))
			r2, err := NewChannelReceiver(c, "desk", RecvConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			waitFor(t, r2, 5*time.Second, same(r2))
			st := s.Stats()
			t.Logf("sender %+v", st)
			if st.Snapshots != 1 || st.PushFailed != 0 {
				t.Errorf("%d snapshots (want 1, for the late joiner), %d pushes failed (%v)", st.Snapshots, st.PushFailed, st.LastError)
			}
			if len(r1.Stale()) != 0 || len(r2.Stale()) != 0 {
				t.Errorf("stale tiles: %v, %v", r1.Stale(), r2.Stale())
			}
			s.Close()
			if err := s.Frame(d.Next()); !errors.Is(err, ErrClosed) {
				t.Errorf("Frame after Close: %v", err)
			}
		})
	}
}
