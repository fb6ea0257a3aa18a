package channel

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
)

// counters are what every part of a channel counts: drops by reason, the
// stacks' events by kind, and traffic. The parts share one; its lock is a
// leaf (nothing is called while it is held).
type counters struct {
	log     *slog.Logger
	onEvent func(Event) // WithEvents; nil: none

	mu     sync.Mutex
	drops  map[string]uint64
	events map[string]uint64

	sent  traffic
	recvd traffic
	held  atomic.Uint64 // data frames held for a late announcement
}

type traffic struct{ datagrams, bytes, postings atomic.Uint64 }

func newCounters(log *slog.Logger, onEvent func(Event)) *counters {
	return &counters{log: log, onEvent: onEvent, drops: make(map[string]uint64), events: make(map[string]uint64)}
}

// drop counts one datagram, frame or posting dropped for reason.
func (k *counters) drop(reason string) {
	k.mu.Lock()
	k.drops[reason]++
	k.mu.Unlock()
}

// dropN counts n postings dropped for reason.
func (k *counters) dropN(reason string, n uint64) {
	k.mu.Lock()
	k.drops[reason] += n
	k.mu.Unlock()
}

// report counts an event, logs it and hands it to WithEvents' function.
// User code runs in it: callers hold no lock of the channel's parts.
func (k *counters) report(e Event) {
	k.mu.Lock()
	k.events[e.Kind]++
	k.mu.Unlock()
	level := slog.LevelInfo
	if e.Kind == "monitor-report" {
		level = slog.LevelDebug // every report period: figures, not news
	}
	k.log.Log(context.Background(), level, "stream event", "kind", e.Kind, "stream", e.Stream, "member", fmt.Sprintf("%016x", e.Member), "layer", e.Layer, "detail", e.Detail)
	if f := k.onEvent; f != nil {
		f(e)
	}
}

// snapshot copies the drop and event counts.
func (k *counters) snapshot() (drops, events map[string]uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.drops), maps.Clone(k.events)
}
