// Command rw is the rw command (github.com/rwanda-go/rwanda/cmd/rw: pub,
// sub, req, serve, stat, record, replay, layers, bench) built with the
// NATS transport, so that its URLs may name NATS subjects:
//
//	go install github.com/rwanda-go/rwanda/natsx/cmd/rw@latest
//
//	rw sub 'app+nats://127.0.0.1:4222/lesson?channel=lesson'
//	rw pub 'app+nats://127.0.0.1:4222/lesson?channel=lesson' 'hello {n}' --count 3
//
// It lives in natsx's module so that the core module's rw does not
// depend on nats.go; every other URL works as with that rw.
package main
