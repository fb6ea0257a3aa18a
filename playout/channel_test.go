package playout_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/playout"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// aheadClock is the real clock, an hour fast: a sender whose clock is off.
type aheadClock struct{}

func (aheadClock) Now() time.Time { return time.Now().Add(time.Hour) }
func (aheadClock) AfterFunc(d time.Duration, f func()) stack.Timer {
	return time.AfterFunc(d, f)
}

// TestChannelClockOffset: Channel.ClockOffset is the smallest arrival −
// send time of a member's postings that carry a TTL (an unkeyed channel
// counts nothing else); a group that takes it as its Offset plays against
// it.
func TestChannelClockOffset(t *testing.T) {
	ctx := context.Background()
	url := fmt.Sprintf("mem://playout-offset-%d", time.Now().UnixNano())
	rx, err := channel.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := channel.Open(ctx, url, channel.WithClock(aheadClock{}))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	g := playout.NewGroup(playout.Config{Offset: func() (time.Duration, bool) { return rx.ClockOffset(tx.ID()) }})
	b := g.Stream(playout.Config{})
	got := make(chan *posting.Posting, 16)
	sub, err := rx.SubscribeFunc(func(p *posting.Posting) {
		b.Push(p, time.Now())
		got <- p
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	recv := func() {
		t.Helper()
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("nothing received")
		}
	}
	if _, ok := rx.ClockOffset(tx.ID()); ok {
		t.Fatal("an offset for a member never heard from")
	}
	if err := tx.Push(ctx, posting.New("no ttl", posting.WithMedia(posting.Text))); err != nil {
		t.Fatal(err)
	}
	recv()
	if off, ok := rx.ClockOffset(tx.ID()); ok {
		t.Fatalf("an offset (%v) from a posting without a TTL on an unkeyed channel", off)
	}
	for range 5 {
		if err := tx.Push(ctx, posting.New("ttl", posting.WithMedia(posting.Text), posting.WithTTL(time.Second))); err != nil {
			t.Fatal(err)
		}
		recv()
	}
	off, ok := rx.ClockOffset(tx.ID())
	if !ok || off > -time.Hour+time.Second || off < -time.Hour {
		t.Fatalf("offset %v (%v), want an hour behind and the delay", off, ok)
	}
	if st := b.Stats(); st.Offset != off || st.Played+uint64(st.Queued) != 6 {
		t.Fatalf("the group's offset %v, the channel's %v; stats %+v", st.Offset, off, st)
	}
	if _, ok := rx.ClockOffset(rx.ID() + 1); ok {
		t.Fatal("an offset for a stranger")
	}
}
