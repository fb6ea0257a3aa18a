// Package rwcli is the rw command (cmd/rw; see its documentation for
// the commands), as a package, so that a program with more transports
// registered can be rw too: natsx/cmd/rw is rw with natsx's +nats URLs.
package rwcli
