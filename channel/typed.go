package channel

import (
	"context"
	"iter"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/rwanda-go/rwanda/posting"
)

// This file holds generic helpers over Subscribe and Subscription: typed
// receiving and iterators. They add no state to the channel.

// BodyAs returns p's body as a T, and whether it is one. A body pushed as
// a T or as a non-nil *T gives a T (for a *T, a shallow copy of what it
// points to); when T is a pointer type *U, a body pushed as a U gives a
// pointer to a copy of it. Anything else — another type, a nil *T, a
// posting.Raw (a type not registered here, or a body that did not
// decode) — gives the zero T and false.
//
// Register T with posting.Register under the same name on every member,
// or its bodies arrive as posting.Raw.
func BodyAs[T any](p *posting.Posting) (T, bool) {
	var zero T
	if p == nil || p.Body == nil {
		return zero, false
	}
	switch b := p.Body.(type) {
	case T:
		return b, true
	case *T:
		if b != nil {
			return *b, true
		}
		return zero, false
	}
	if rt := reflect.TypeFor[T](); rt.Kind() == reflect.Pointer {
		if v := reflect.ValueOf(p.Body); v.Type() == rt.Elem() {
			ptr := reflect.New(rt.Elem())
			ptr.Elem().Set(v)
			return ptr.Interface().(T), true
		}
	}
	return zero, false
}

// Typed is a subscription that hands out bodies of one Go type, T,
// instead of postings whose Body is an any to assert (see
// [SubscribeTyped]).
type Typed[T any] struct {
	sub     *Subscription
	skipped atomic.Uint64

	mu  sync.Mutex
	err error // why the last Next or All stopped
}

// SubscribeTyped subscribes to c's postings that match opts (as
// [Channel.Subscribe], with the same bounded queue) and hands out their
// bodies as T: see [BodyAs] for which bodies are a T (T, *T, and U for a
// T that is *U).
//
// Postings whose body is not a T are skipped and counted: [Typed.Skipped]
// says how many. They count as delivered in the subscription's own Stats
// and took room in its queue; narrow the subscription with Streams or
// Media when a stream carries other types too. A body of T's registered
// name that could not be decoded (posting.Raw with posting.ErrOverBudget,
// say) is skipped as well.
//
//	sub, err := channel.SubscribeTyped[Chat](ch, channel.Streams("chat"))
//	for msg, p := range sub.All(ctx) {
//		fmt.Println(p.Sender, msg.Text)
//	}
func SubscribeTyped[T any](c *Channel, opts ...SubOption) (*Typed[T], error) {
	s, err := c.Subscribe(opts...)
	if err != nil {
		return nil, err
	}
	return &Typed[T]{sub: s}, nil
}

// Next returns the next body that is a T, with its posting, waiting until
// one arrives, ctx is done or the subscription ends (then it returns the
// reason, as [Subscription.Next] does). Postings of other types are
// skipped and counted.
func (t *Typed[T]) Next(ctx context.Context) (T, *posting.Posting, error) {
	for {
		p, err := t.sub.Next(ctx)
		if err != nil {
			t.mu.Lock()
			t.err = err
			t.mu.Unlock()
			var zero T
			return zero, nil, err
		}
		if v, ok := BodyAs[T](p); ok {
			return v, p, nil
		}
		t.skipped.Add(1)
	}
}

// All returns an iterator over the bodies that are a T and their
// postings, in arrival order, for use with range. It stops when the loop
// breaks, when ctx is done, or when the subscription ends; then [Typed.Err]
// says why (nil after a break).
func (t *Typed[T]) All(ctx context.Context) iter.Seq2[T, *posting.Posting] {
	return func(yield func(T, *posting.Posting) bool) {
		t.mu.Lock()
		t.err = nil
		t.mu.Unlock()
		for {
			v, p, err := t.Next(ctx)
			if err != nil || !yield(v, p) {
				return
			}
		}
	}
}

// Err says why the last [Typed.Next] failed or [Typed.All] stopped:
// ctx's error, [ErrClosed], [ErrSlowConsumer]; nil if it has not.
func (t *Typed[T]) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Skipped returns how many postings were skipped because their body was
// not a T.
func (t *Typed[T]) Skipped() uint64 { return t.skipped.Load() }

// Subscription returns the underlying subscription (its Stats, Err).
func (t *Typed[T]) Subscription() *Subscription { return t.sub }

// Close ends the subscription (see [Subscription.Close]).
func (t *Typed[T]) Close() error { return t.sub.Close() }

// All returns an iterator over the subscription's postings, for use with
// range. It stops when the loop breaks, when ctx is done, or when the
// subscription ends (Err then says why; ctx.Err when ctx is done). On a
// SubscribeFunc subscription, which has no queue, it yields nothing.
//
//	for p := range sub.All(ctx) { ... }
func (s *Subscription) All(ctx context.Context) iter.Seq[*posting.Posting] {
	return func(yield func(*posting.Posting) bool) {
		if s.fn != nil {
			return
		}
		for {
			p, err := s.Next(ctx)
			if err != nil || !yield(p) {
				return
			}
		}
	}
}
