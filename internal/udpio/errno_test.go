//go:build !plan9

package udpio

import (
	"errors"
	"syscall"
)

// isRefusal reports whether err is how kernels refuse multicast on a
// loopback interface (or IPv6 there).
func isRefusal(err error) bool {
	for _, e := range []syscall.Errno{syscall.EADDRNOTAVAIL, syscall.EINVAL, syscall.ENODEV,
		syscall.EAFNOSUPPORT, syscall.ENOPROTOOPT, syscall.ENETUNREACH, syscall.EHOSTUNREACH} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
