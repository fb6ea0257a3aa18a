//go:build !linux

package gateway

import "net"

type sysBatch struct{}

func (s *sysBatch) init(*net.UDPConn) {}

func (s *sysBatch) send(conn *net.UDPConn, msgs []out) int { return sendEach(conn, msgs) }
