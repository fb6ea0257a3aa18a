// Command traceparent carries W3C trace context (a traceparent header,
// https://www.w3.org/TR/trace-context/) through a request and its reply,
// between two processes: the client starts a trace and sets traceparent
// on its request; the server reads it, opens a child span of the
// client's, and puts that span's traceparent in the reply; the client
// checks that the trace id came back and that the reply's parent is the
// server's span.
//
//	go run ./examples/traceparent                 # starts the server as a second process, asks it, exits
//	go run ./examples/traceparent -serve -url U   # a server
//	go run ./examples/traceparent -url U          # a client
//
// Postings carry ordered name/value headers (wire v2); traceparent and
// tracestate travel in them as they would in HTTP. Any OpenTelemetry
// propagator can read and write them through a carrier over
// posting.Headers; this example parses them itself to stay free of
// dependencies.
package main
