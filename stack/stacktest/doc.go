// Package stacktest helps test protocol layers, in the spirit of
// net/http/httptest and testing/fstest.
//
// [TestLayer] is the conformance suite a layer author runs against a layer
// factory: round trip of many sizes, headroom honoured, garbage input never
// panicking, no leaked packets, Close safe to repeat.
//
//	func TestConformance(t *testing.T) {
//		stacktest.TestLayer(t, func() (stack.Layer, error) { return mylayer.New(mylayer.DefaultConfig()) }, stacktest.Options{})
//	}
//
// [Link] and [Pair] are the harness for stack-to-stack tests: two stacks on
// a [stack.ManualClock] joined by an in-memory link where nothing moves
// until the test says so. A test reads as a script: send, drop (a [Filter],
// [Link.DropAt]), deliver out of order ([Link.DeliverAt]), advance the clock,
// expect what reached the top ([Collector]).
package stacktest
