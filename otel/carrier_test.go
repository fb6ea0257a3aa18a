package rwotel_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	rwotel "github.com/rwanda-go/rwanda/otel"
	"github.com/rwanda-go/rwanda/posting"
)

// TestCarrierTraceContext: the W3C propagator injects a span context into
// a request, the server extracts it from what arrived, and its child's
// context travels back in the reply.
func TestCarrierTraceContext(t *testing.T) {
	prop := propagation.TraceContext{}
	url := "mem://" + t.Name()
	server := open(t, url)
	client := open(t, url)
	var seen trace.SpanContext
	must(t, server.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		ctx = prop.Extract(ctx, rwotel.Carrier{P: req})
		seen = trace.SpanContextFromContext(ctx)
		child := seen.WithSpanID(trace.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
		rep := posting.New("ok")
		prop.Inject(trace.ContextWithSpanContext(ctx, child), rwotel.Carrier{P: rep})
		return rep, nil
	}))

	sent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 1, 1, 1, 1, 1, 1, 1},
		TraceFlags: trace.FlagsSampled,
	})
	req := posting.New("job", posting.WithHeader("other", "kept"))
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sent), rwotel.Carrier{P: req})
	if got := (rwotel.Carrier{P: req}).Keys(); len(got) != 2 || got[0] != "other" || got[1] != "traceparent" {
		t.Fatalf("keys %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := client.Pull(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !seen.Equal(sent.WithRemote(true)) {
		t.Fatalf("server extracted %v, client sent %v", seen, sent)
	}
	back := trace.SpanContextFromContext(prop.Extract(context.Background(), rwotel.Carrier{P: rep}))
	if back.TraceID() != sent.TraceID() || back.SpanID() != (trace.SpanID{9, 9, 9, 9, 9, 9, 9, 9}) {
		t.Fatalf("reply carried %v", back)
	}

	// Set replaces a header of the same name.
	c := rwotel.Carrier{P: posting.New(nil)}
	c.Set("k", "1")
	c.Set("k", "2")
	if len(c.P.Headers) != 1 || c.Get("k") != "2" || c.Get("nope") != "" {
		t.Fatalf("headers %v", c.P.Headers)
	}
}
