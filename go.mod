module github.com/rwanda-go/rwanda

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/klauspost/compress v1.20.3
	github.com/klauspost/reedsolomon v1.14.2
	github.com/vmihailenco/msgpack/v5 v5.4.1
	golang.org/x/crypto v0.59.0
	golang.org/x/net v0.63.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/coder/websocket v1.8.15
	github.com/vmihailenco/tagparser/v2 v2.0.0
)

require github.com/klauspost/cpuid/v2 v2.3.0 // indirect
