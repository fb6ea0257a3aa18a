package rwotel

import (
	"go.opentelemetry.io/otel/propagation"

	"github.com/rwanda-go/rwanda/posting"
)

// Carrier lets OpenTelemetry propagators read and write trace context
// (traceparent, tracestate, baggage) in a posting's headers:
//
//	otel.GetTextMapPropagator().Inject(ctx, rwotel.Carrier{P: req})   // before Pull or Push
//	ctx = otel.GetTextMapPropagator().Extract(ctx, rwotel.Carrier{P: req}) // in the handler
//
// Header names are compared exactly; propagators use lower-case ones.
type Carrier struct{ P *posting.Posting }

var _ propagation.TextMapCarrier = Carrier{}

// Get returns the value of the first header named key, or "".
func (c Carrier) Get(key string) string {
	v, _ := c.P.Header(key)
	return v
}

// Set replaces the first header named key, or appends one.
func (c Carrier) Set(key, value string) {
	for i := range c.P.Headers {
		if c.P.Headers[i].Name == key {
			c.P.Headers[i].Value = value
			return
		}
	}
	c.P.Headers = append(c.P.Headers, posting.Header{Name: key, Value: value})
}

// Keys lists the header names, in order, once each.
func (c Carrier) Keys() []string {
	var keys []string
	seen := map[string]bool{}
	for _, h := range c.P.Headers {
		if !seen[h.Name] {
			seen[h.Name] = true
			keys = append(keys, h.Name)
		}
	}
	return keys
}
