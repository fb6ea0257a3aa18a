package channel

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// TestNoRetainBesideOwners: a NoRetain function sees every posting; a
// queued subscription and a plain SubscribeFunc added beside it get
// postings of their own, whose bodies stay as they were while later
// postings arrive; requests still reach the handler whole.
func TestNoRetainBesideOwners(t *testing.T) {
	url := memURL(t)
	rx := open(t, url, WithQoS("reliable"))
	var mu sync.Mutex
	var borrowed []string
	if _, err := rx.SubscribeFunc(func(p *posting.Posting) {
		mu.Lock()
		borrowed = append(borrowed, string(p.Body.([]byte))) // a copy: it keeps the text
		mu.Unlock()
	}, NoRetain()); err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Subscribe(NoRetain()); err == nil {
		t.Fatal("Subscribe accepted NoRetain")
	}
	tx := open(t, url, WithQoS("reliable"), WithBlockingPush())
	ctx := context.Background()
	body := func(i int) []byte {
		return fmt.Appendf(nil, "posting %04d %s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 40))
	}
	push := func(from, to int) {
		for i := from; i < to; i++ {
			if err := tx.Push(ctx, posting.New(body(i), posting.WithStream("s"))); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(borrowed) }
	push(0, 100) // only the borrower: flows decode into borrowed postings
	waitFor(t, "the first 100", func() bool { return count() == 100 })

	q, err := rx.Subscribe(Queue(1000, DropNewest))
	if err != nil {
		t.Fatal(err)
	}
	var kept []*posting.Posting // under mu
	if _, err := rx.SubscribeFunc(func(p *posting.Posting) { mu.Lock(); kept = append(kept, p); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	push(100, 400)
	waitFor(t, "all 400", func() bool { mu.Lock(); defer mu.Unlock(); return len(borrowed) == 400 && len(kept) == 300 })
	for i := 100; i < 400; i++ {
		p := next(t, q)
		if !bytes.Equal(p.Body.([]byte), body(i)) {
			t.Fatalf("queued posting %d holds %q, want %q", i, p.Body, body(i))
		}
	}
	mu.Lock()
	if len(kept) != 300 {
		t.Fatalf("the plain SubscribeFunc got %d postings, want 300", len(kept))
	}
	for i, p := range kept {
		if !bytes.Equal(p.Body.([]byte), body(100+i)) {
			t.Fatalf("kept posting %d holds %q, want %q", 100+i, p.Body, body(100+i))
		}
	}
	for i, s := range borrowed {
		if s != string(body(i)) {
			t.Fatalf("borrowed posting %d was %q, want %q", i, s, body(i))
		}
	}
	mu.Unlock()

	// Requests and replies are kept by whoever takes them: a borrower on
	// the serving side does not change what the handler and the caller
	// see.
	srv := open(t, url)
	if _, err := srv.SubscribeFunc(func(*posting.Posting) {}, NoRetain()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(append([]byte("echo "), req.Body.([]byte)...)), nil
	}); err != nil {
		t.Fatal(err)
	}
	cli := open(t, url)
	if _, err := cli.SubscribeFunc(func(*posting.Posting) {}, NoRetain()); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := cli.Pull(rctx, posting.New([]byte("ping")))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(rep.Body.([]byte)); got != "echo ping" {
		t.Fatalf("reply %q", got)
	}
}

// TestOfferBorrowedCopiesForOwners: a subscription that keeps postings and
// comes in while a flow decodes into a borrowed posting (between its check
// and its offer) gets a copy, not the borrowed posting.
func TestOfferBorrowedCopiesForOwners(t *testing.T) {
	c := open(t, memURL(t))
	var seen []string
	if _, err := c.SubscribeFunc(func(p *posting.Posting) { seen = append(seen, string(p.Body.([]byte))) }, NoRetain()); err != nil {
		t.Fatal(err)
	}
	q, err := c.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	var kept []*posting.Posting
	if _, err := c.SubscribeFunc(func(p *posting.Posting) { kept = append(kept, p) }); err != nil {
		t.Fatal(err)
	}
	var d posting.Borrower
	for _, s := range []string{"one", "two"} {
		enc, err := posting.New([]byte(s)).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		p, err := d.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		c.dispatchBorrowed(p)
		clear(enc) // the datagram's buffer goes back to the pool
	}
	if got := fmt.Sprint(seen); got != "[one two]" {
		t.Fatalf("the borrower saw %s", got)
	}
	for _, want := range []string{"one", "two"} {
		if p := next(t, q); d.Borrowed(p) || string(p.Body.([]byte)) != want {
			t.Fatalf("queued %q (borrowed: %v), want a copy of %q", p.Body, d.Borrowed(p), want)
		}
	}
	if len(kept) != 2 || d.Borrowed(kept[0]) || string(kept[0].Body.([]byte)) != "one" || string(kept[1].Body.([]byte)) != "two" {
		t.Fatalf("the plain SubscribeFunc kept %v", kept)
	}
}
