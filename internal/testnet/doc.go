// Package testnet holds what the project's tests share for running real
// sockets and goroutines: free loopback ports and goroutine-leak checks.
// Only tests import it.
package testnet
