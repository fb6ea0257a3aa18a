//go:build !unix

package testnet

// reservePort has no file locks to share with other processes here, so
// it takes a port the kernel chose.
func reservePort() (int, func(), error) { return kernelFreePort() }
