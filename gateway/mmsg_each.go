package gateway

import "net"

// sendEach sends msgs one system call each; it returns how many failed.
func sendEach(conn *net.UDPConn, msgs []out) (failed int) {
	for _, m := range msgs {
		if _, err := conn.WriteToUDPAddrPort(m.b, m.dst); err != nil {
			failed++
		}
	}
	return failed
}
