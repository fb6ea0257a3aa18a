//go:build solaris

package udpio

// setReusePort does nothing: Solaris and illumos have no SO_REUSEPORT;
// SO_REUSEADDR lets several sockets share a port.
func setReusePort(int) error { return nil }
