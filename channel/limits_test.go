package channel

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
)

// TestAnnouncedLimits: a stack announced with a parameter beyond the
// receiver's limits is refused (counted, nothing built); a receiver whose
// Policy raises the limit takes it.
func TestAnnouncedLimits(t *testing.T) {
	url := memURL(t)
	big := Policy{Limits: map[string]registry.Bounds{"order.buffer": {Max: "1048576"}}}
	tx := open(t, url, WithQoS("order(buffer=1048576)/window"), WithReceivePolicy(big))
	strict := open(t, url)
	lenient := open(t, url, WithReceivePolicy(big))
	ss, _ := strict.Subscribe()
	ls, _ := lenient.Subscribe()
	for i := range 3 {
		must(t, tx.Push(context.Background(), posting.New(i)))
	}
	if p := next(t, ls); p.Body != 0 {
		t.Fatalf("lenient receiver got %v first", p.Body)
	}
	expectNone(t, ss)
	waitDrops(t, strict, "policy", 3)
	if n := len(strict.Stats().Flows); n != 0 {
		t.Fatalf("strict receiver built %d flows", n)
	}
}

// TestLocalQoSOutsideLimits: a member's own QoS beyond the limits fails
// at Open, naming the parameter, instead of being refused by every
// receiver; a bad Policy.Limits key fails at Open too.
func TestLocalQoSOutsideLimits(t *testing.T) {
	_, err := Open(context.Background(), memURL(t), WithQoS("order(buffer=1048576)"))
	if !errors.Is(err, registry.ErrLimit) || !strings.Contains(err.Error(), "buffer") {
		t.Fatalf("Open with order(buffer=1048576): %v; want ErrLimit naming buffer", err)
	}
	_, err = Open(context.Background(), memURL(t), WithReceivePolicy(Policy{Limits: map[string]registry.Bounds{"order.bufer": {Max: "1"}}}))
	if !errors.Is(err, registry.ErrParam) {
		t.Fatalf("Open with a misspelt limit: %v; want ErrParam", err)
	}
}

// TestMaxPosting: Push refuses a posting larger than WithMaxPosting, and
// the receiving stacks deliver nothing larger: frag's max is lowered to it.
func TestMaxPosting(t *testing.T) {
	url := memURL(t)
	tx := open(t, url)
	rx := open(t, url, WithMaxPosting(64<<10))
	sub, _ := rx.Subscribe()
	small := open(t, url, WithMaxPosting(64<<10))
	err := small.Push(context.Background(), posting.New(make([]byte, 100<<10)))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Push of 100 KiB with a 64 KiB maximum: %v; want ErrTooLarge", err)
	}
	must(t, tx.Push(context.Background(), posting.New(make([]byte, 100<<10))))
	must(t, tx.Push(context.Background(), posting.New([]byte("small"))))
	if p := next(t, sub); string(p.Body.([]byte)) != "small" {
		t.Fatalf("got %d bytes first; the 100 KiB posting should have been dropped", len(p.Body.([]byte)))
	}
	st := rx.Stats()
	dropped := st.Drops["too-large"]
	for _, f := range st.Flows {
		dropped += f.Stack.Layers[0].Drops["too-large"]
	}
	if dropped != 1 {
		t.Fatalf("too-large drops %d, want 1: %+v", dropped, st)
	}
}

// TestClampParcels: frag's and compress's max in a receiving stack are
// lowered to the largest posting, compress's to frag's.
func TestClampParcels(t *testing.T) {
	reg := registry.Default()
	for _, tc := range []struct {
		in   string
		max  int64
		want string
	}{
		{"frag/order/window", 1 << 20, "frag(max=1MiB)/order/window"},
		{"compress(max=8MiB)/frag(max=2MiB)", 16 << 20, "compress(max=2MiB)/frag(max=2MiB)"},
		{"compress/frag", 16 << 20, "compress/frag"},
		{"window", 1 << 10, "window"},
	} {
		spec, err := reg.Resolve(tc.in)
		must(t, err)
		want, err := reg.Resolve(tc.want)
		must(t, err)
		if got := clampParcels(reg, spec, tc.max).String(); got != want.String() {
			t.Errorf("clampParcels(%q, %d) = %q; want %q", tc.in, tc.max, got, want.String())
		}
		if spec.String() != must1(reg.Resolve(tc.in)).String() {
			t.Errorf("clampParcels changed its input %q", tc.in)
		}
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
