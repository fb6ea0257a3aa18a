package channel

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

type typedNote struct {
	N    int
	Text string
}

func init() { posting.Register[typedNote]("rwanda.test/typedNote") }

func TestTypedBodyAs(t *testing.T) {
	n := typedNote{N: 1, Text: "a"}
	for _, tc := range []struct {
		name string
		body any
		ok   bool
	}{
		{"value", n, true},
		{"pointer", &n, true},
		{"nil pointer", (*typedNote)(nil), false},
		{"other type", "a", false},
		{"raw", posting.Raw{Type: "rwanda.test/typedNote", Err: posting.ErrOverBudget}, false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := posting.New(tc.body)
			v, ok := BodyAs[typedNote](p)
			if ok != tc.ok || (ok && v != n) {
				t.Fatalf("BodyAs[typedNote](%#v) = %#v, %v; want ok %v", tc.body, v, ok, tc.ok)
			}
			pv, ok := BodyAs[*typedNote](p)
			if ok != (tc.ok || tc.name == "nil pointer") {
				t.Fatalf("BodyAs[*typedNote](%#v) = %v, %v", tc.body, pv, ok)
			}
			if ok && tc.ok && *pv != n {
				t.Fatalf("BodyAs[*typedNote](%#v) = %#v", tc.body, *pv)
			}
		})
	}
	if _, ok := BodyAs[int](nil); ok {
		t.Fatal("BodyAs of a nil posting")
	}
}

// TestTypedSubscription pushes T, *T and other bodies through a channel:
// the typed subscription hands out the T and *T bodies as T, in order,
// and counts the others as skipped.
func TestTypedSubscription(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	a, b := open(t, url), open(t, url)
	notes, err := SubscribeTyped[typedNote](b, Streams("notes"))
	if err != nil {
		t.Fatal(err)
	}
	ptrs, err := SubscribeTyped[*typedNote](b, Streams("notes"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bodies := []any{typedNote{1, "value"}, "not a note", &typedNote{2, "pointer"}, []byte("bytes"), 42, typedNote{3, "last"}}
	for _, body := range bodies {
		must(t, a.Push(ctx, posting.New(body, posting.WithStream("notes"))))
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i, want := range []typedNote{{1, "value"}, {2, "pointer"}, {3, "last"}} {
		got, p, err := notes.Next(wctx)
		if err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
		if got != want || p.Stream != "notes" || p.Sender != a.ID() {
			t.Fatalf("note %d: %#v from %v, want %#v", i, got, p, want)
		}
		gp, _, err := ptrs.Next(wctx)
		if err != nil || *gp != want {
			t.Fatalf("pointer note %d: %v, %v", i, gp, err)
		}
	}
	if n := notes.Skipped(); n != 3 {
		t.Fatalf("skipped %d, want 3 (a string, a []byte, an int)", n)
	}
	if st := notes.Subscription().Stats(); st.Delivered != uint64(len(bodies)) {
		t.Fatalf("subscription stats %+v", st)
	}
}

// TestTypedAll ranges over a typed subscription: it yields until the loop
// breaks, and stops with the reason when the subscription closes or ctx
// ends.
func TestTypedAll(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	a, b := open(t, url), open(t, url)
	sub, err := SubscribeTyped[typedNote](b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		must(t, a.Push(ctx, posting.New(typedNote{N: i})))
	}
	var got []int
	for v, p := range sub.All(ctx) {
		if p.Seq != uint64(v.N+1) {
			t.Fatalf("note %d came with seq %d", v.N, p.Seq)
		}
		if got = append(got, v.N); len(got) == 3 {
			break
		}
	}
	if len(got) != 3 || got[2] != 2 || sub.Err() != nil {
		t.Fatalf("got %v, err %v", got, sub.Err())
	}
	// The rest are (soon) queued; closing lets All drain them, then stop.
	for sub.Subscription().Stats().Delivered < 5 {
		if ctx.Err() != nil {
			t.Fatalf("delivered %d of 5", sub.Subscription().Stats().Delivered)
		}
		time.Sleep(time.Millisecond)
	}
	must(t, sub.Close())
	for v := range sub.All(ctx) {
		got = append(got, v.N)
	}
	if len(got) != 5 || !errors.Is(sub.Err(), ErrClosed) {
		t.Fatalf("after Close: got %v, err %v", got, sub.Err())
	}

	// A context that ends stops the loop too.
	sub2, _ := SubscribeTyped[typedNote](b)
	short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stop()
	for range sub2.All(short) {
		t.Fatal("nothing was pushed")
	}
	if !errors.Is(sub2.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v", sub2.Err())
	}
}

// TestTypedSubscriptionAll ranges over a plain subscription's postings.
func TestTypedSubscriptionAll(t *testing.T) {
	url := memURL(t)
	a, b := open(t, url), open(t, url)
	sub, _ := b.Subscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range []string{"x", "y", "z"} {
		must(t, a.Push(ctx, posting.New(s)))
	}
	var got string
	for p := range sub.All(ctx) {
		if got += p.Body.(string); len(got) == 3 {
			break
		}
	}
	if got != "xyz" {
		t.Fatalf("got %q", got)
	}
	fn, _ := b.SubscribeFunc(func(*posting.Posting) {})
	for range fn.All(ctx) {
		t.Fatal("a SubscribeFunc subscription yielded")
	}
}
