package udpio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// portableConn is the portable implementation: a net.UDPConn opened with
// net.ListenConfig, with golang.org/x/net/ipv4 and ipv6 for multicast
// options, control messages and batch I/O.
type portableConn struct {
	uc    *net.UDPConn
	x     xsock
	v6    bool
	local netip.AddrPort
	// group is the group of a multicast Conn. The socket is bound to the
	// wildcard address (net.ListenConfig binds no multicast address), so
	// datagrams whose reported destination is not the group are dropped.
	group netip.Addr
	batch bool // x/net ReadBatch/WriteBatch (one system call for many)
	cm    bool // control messages (destination, interface) enabled
	// oobLen is the control-message space per slot (0 without cm).
	oobLen int

	wmu   sync.Mutex
	wmsgs []ipv4.Message // ipv4.Message and ipv6.Message are the same type
	wbufs [][]byte

	rmu   sync.Mutex
	rmsgs []ipv4.Message
	rbufs [][]byte
	roob  []byte
	cm4   ipv4.ControlMessage
	cm6   ipv6.ControlMessage
	dst   [16]byte // reused destination buffer for cm4/cm6
}

// listenPortableUnicast opens a portable socket bound to bind (unmapped
// address).
func listenPortableUnicast(bind netip.AddrPort, batch bool) (*portableConn, error) {
	uc, err := listenUDP(bind, false)
	if err != nil {
		return nil, err
	}
	c := newPortable(uc, bind.Addr().Is6(), batch)
	if la, ok := uc.LocalAddr().(*net.UDPAddr); ok {
		ap := la.AddrPort()
		c.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return c, nil
}

// listenPortableMulticast opens a portable socket bound to the wildcard
// address and the group's port, joins the group and sets the sending
// options.
func listenPortableMulticast(spec mcastSpec, batch bool) (*portableConn, error) {
	wild := netip.IPv4Unspecified()
	if spec.v6() {
		wild = netip.IPv6Unspecified()
	}
	uc, err := listenUDP(netip.AddrPortFrom(wild, spec.port), true)
	if err != nil {
		return nil, err
	}
	if err := setupMulticast(uc, spec); err != nil {
		uc.Close()
		return nil, err
	}
	c := newPortable(uc, spec.v6(), batch)
	c.group = spec.group
	local := spec.group
	if spec.v6() && spec.ifi != nil && (local.IsLinkLocalMulticast() || local.IsInterfaceLocalMulticast()) {
		local = local.WithZone(spec.ifi.Name)
	}
	c.local = netip.AddrPortFrom(local, spec.port)
	return c, nil
}

// listenUDP opens a UDP socket with net.ListenConfig (IPv6 sockets are
// IPv6-only), with the options socketControl sets for sharing a port
// when reuse.
func listenUDP(bind netip.AddrPort, reuse bool) (*net.UDPConn, error) {
	network := "udp4"
	if bind.Addr().Is6() {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: socketControl(reuse)}
	pc, err := lc.ListenPacket(context.Background(), network, bind.String())
	if err != nil {
		return nil, err
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, errors.New("unexpected socket type")
	}
	return uc, nil
}

func newPortable(uc *net.UDPConn, v6, batch bool) *portableConn {
	c := &portableConn{uc: uc, x: newXsock(uc, v6), v6: v6, batch: batch}
	// Arrival interface and destination address where the OS reports them
	// and x/net implements them (not on Windows).
	if v6 {
		const flags = ipv6.FlagDst | ipv6.FlagInterface
		if c.x.p6.SetControlMessage(flags, true) == nil {
			c.cm, c.oobLen = true, len(ipv6.NewControlMessage(flags))
		}
	} else {
		const flags = ipv4.FlagDst | ipv4.FlagInterface
		if c.x.p4.SetControlMessage(flags, true) == nil {
			c.cm, c.oobLen = true, len(ipv4.NewControlMessage(flags))
		}
	}
	return c
}

func (c *portableConn) localAddr() netip.AddrPort { return c.local }
func (c *portableConn) gso() bool                 { return false }
func (c *portableConn) gro() bool                 { return false }
func (c *portableConn) setGSO(bool)               {}
func (c *portableConn) close() error              { return c.uc.Close() }

func (c *portableConn) setMulticastOptions(ifi *net.Interface, ttl int, loopback bool) error {
	return c.x.setSend(ifi, ttl, loopback)
}

func (c *portableConn) setReadBuffer(bytes int) error {
	return setSocketBuffer(c.uc, true, bytes)
}

func (c *portableConn) readBufferSize() int { return socketReadBufferSize(c.uc) }

func (c *portableConn) setWriteBuffer(bytes int) error {
	return setSocketBuffer(c.uc, false, bytes)
}

// The refusals of destinations a socket cannot address.
var (
	errInvalidDst = errors.New("invalid destination address")
	errFamily6on4 = errors.New("IPv6 destination on an IPv4 socket")
	errFamily4on6 = errors.New("IPv4 destination on an IPv6-only socket")
)

// checkDst unmaps dst and checks its family against the socket's.
func (c *portableConn) checkDst(dst netip.AddrPort) (netip.AddrPort, error) {
	a := dst.Addr().Unmap()
	switch {
	case !a.IsValid():
		return dst, errInvalidDst
	case !c.v6 && !a.Is4():
		return dst, errFamily6on4
	case c.v6 && a.Is4():
		return dst, errFamily4on6
	}
	return netip.AddrPortFrom(a, dst.Port()), nil
}

// writeErr wraps a send error.
func writeErr(dst netip.AddrPort, err error) error {
	if errors.Is(err, net.ErrClosed) {
		return wrapErr("write", err)
	}
	return fmt.Errorf("udpio: write to %v: %w", dst, err)
}

// writeTo sends the datagrams of a train with x/net WriteBatch (when batch)
// or one system call each, allowing IP fragmentation for the call when
// frag; see Conn.WriteTo and Conn.WriteToFragmented.
func (c *portableConn) writeTo(buf []byte, segSize int, dst netip.AddrPort, frag bool) error {
	if segSize <= 0 || segSize >= len(buf) {
		segSize = len(buf)
	}
	dst, err := c.checkDst(dst)
	if err != nil {
		return fmt.Errorf("udpio: write to %v: %w", dst, err)
	}
	count := 1
	if len(buf) > 0 {
		count = (len(buf) + segSize - 1) / segSize
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if frag {
		if err := setFragment(c.uc, c.v6, true); err != nil {
			return fmt.Errorf("udpio: write to %v: allowing fragmentation: %w", dst, err)
		}
		defer setFragment(c.uc, c.v6, false)
	}
	if c.batch && count > 1 {
		return c.writeTrain(buf, segSize, count, dst)
	}
	var bo backoff
	for i := 0; i < count; {
		off := i * segSize
		end := min(off+segSize, len(buf))
		if _, err := c.uc.WriteToUDPAddrPort(buf[off:end], dst); err != nil {
			if isNoBufs(err) && bo.wait() {
				continue
			}
			if isMsgSize(err) {
				return &SizeError{Dst: dst, Size: end - off, Sent: off, Err: err}
			}
			return writeErr(dst, err)
		}
		bo.reset()
		i++
	}
	return nil
}

// writeTrain sends count datagrams (count > 1) with x/net WriteBatch.
func (c *portableConn) writeTrain(buf []byte, segSize, count int, dst netip.AddrPort) error {
	addr := net.UDPAddrFromAddrPort(dst)
	n := min(count, maxBatch)
	if len(c.wmsgs) < n {
		c.wmsgs = make([]ipv4.Message, max(n, 2*len(c.wmsgs), initialBatch))
		c.wbufs = make([][]byte, len(c.wmsgs))
	}
	used := 0
	defer func() { // do not retain the caller's buffer
		for j := range used {
			c.wbufs[j] = nil
			c.wmsgs[j] = ipv4.Message{}
		}
	}()
	var bo backoff
	for i := 0; i < count; {
		k := min(count-i, maxBatch)
		for j := range k {
			off := (i + j) * segSize
			c.wbufs[j] = buf[off:min(off+segSize, len(buf))]
			c.wmsgs[j] = ipv4.Message{Buffers: c.wbufs[j : j+1 : j+1], Addr: addr}
		}
		used = max(used, k)
		var sent int
		var err error
		if c.v6 {
			sent, err = c.x.p6.WriteBatch(c.wmsgs[:k], 0)
		} else {
			sent, err = c.x.p4.WriteBatch(c.wmsgs[:k], 0)
		}
		i += max(sent, 0) // x/net says -1 when the first message fails
		if err != nil {
			if isNoBufs(err) && bo.wait() {
				continue
			}
			if isMsgSize(err) {
				off := i * segSize
				return &SizeError{Dst: dst, Size: min(segSize, len(buf)-off), Sent: off, Err: err}
			}
			return writeErr(dst, err)
		}
		if sent > 0 {
			bo.reset()
		}
	}
	return nil
}

// writeBatch sends each message to its destination with x/net WriteBatch
// (when batch) or one system call each, skipping and counting the ones
// that fail; see Conn.WriteBatch.
func (c *portableConn) writeBatch(msgs []Outgoing, frag bool) (failed int, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if frag {
		if err := setFragment(c.uc, c.v6, true); err != nil {
			return len(msgs), fmt.Errorf("udpio: write batch: allowing fragmentation: %w", err)
		}
		defer setFragment(c.uc, c.v6, false)
	}
	fail := func(dst netip.AddrPort, e error) {
		failed++
		if err == nil {
			err = writeErr(dst, e)
		}
	}
	if !c.batch {
		for i := range msgs {
			o := &msgs[i]
			dst, derr := c.checkDst(o.Dst)
			if derr != nil {
				fail(o.Dst, derr)
				continue
			}
			if _, werr := c.uc.WriteToUDPAddrPort(o.B, dst); werr != nil {
				if errors.Is(werr, net.ErrClosed) {
					return failed + len(msgs) - i, wrapErr("write", werr)
				}
				fail(dst, werr)
			}
		}
		return failed, err
	}
	used := 0
	defer func() { // do not retain the caller's buffers
		for j := range used {
			c.wbufs[j] = nil
			c.wmsgs[j] = ipv4.Message{}
		}
	}()
	for len(msgs) > 0 {
		chunk := msgs[:min(len(msgs), maxBatch)]
		msgs = msgs[len(chunk):]
		if len(c.wmsgs) < len(chunk) {
			c.wmsgs = make([]ipv4.Message, max(len(chunk), 2*len(c.wmsgs), initialBatch))
			c.wbufs = make([][]byte, len(c.wmsgs))
		}
		k := 0 // messages the socket can address
		for i := range chunk {
			o := &chunk[i]
			dst, derr := c.checkDst(o.Dst)
			if derr != nil {
				fail(o.Dst, derr)
				continue
			}
			c.wbufs[k] = o.B
			c.wmsgs[k] = ipv4.Message{Buffers: c.wbufs[k : k+1 : k+1], Addr: net.UDPAddrFromAddrPort(dst)}
			k++
		}
		used = max(used, k)
		for i := 0; i < k; {
			var sent int
			var werr error
			if c.v6 {
				sent, werr = c.x.p6.WriteBatch(c.wmsgs[i:k], 0)
			} else {
				sent, werr = c.x.p4.WriteBatch(c.wmsgs[i:k], 0)
			}
			i += max(sent, 0) // x/net says -1 when the first message fails
			if werr == nil {
				continue
			}
			if errors.Is(werr, net.ErrClosed) {
				return failed + k - i + len(msgs), wrapErr("write", werr)
			}
			// sendmmsg fails only when the first message does: skip it.
			if i < k {
				fail(c.wmsgs[i].Addr.(*net.UDPAddr).AddrPort(), werr)
				i++
			}
		}
	}
	return failed, err
}

// waitRead cannot wait without a buffer here; see Conn.WaitRead.
func (c *portableConn) waitRead() (bool, error) { return false, nil }

// readBatch reads with x/net ReadBatch (when batch) or one datagram per call;
// see Conn.ReadBatch.
func (c *portableConn) readBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if need := min(len(msgs), maxBatch) * c.oobLen; len(c.roob) < need {
		c.roob = make([]byte, max(need, initialBatch*c.oobLen))
	}
	for {
		var n int
		var err error
		if c.batch {
			n, err = c.readMany(msgs)
		} else {
			n, err = c.readOne(msgs)
		}
		if err != nil {
			return 0, wrapErr("read", err)
		}
		if n > 0 {
			return n, nil
		}
		// Only datagrams for other destinations arrived: wait for more.
	}
}

// readOne reads one datagram into msgs[0] and returns 1, or 0 if it was
// dropped.
func (c *portableConn) readOne(msgs []Message) (int, error) {
	m := &msgs[0]
	n, oobn, trunc, from, err := readMsg(c.uc, m.Buf, c.roob[:c.oobLen])
	if err != nil {
		return 0, err
	}
	if !c.fill(m, n, trunc, from, c.roob[:oobn]) {
		return 0, nil
	}
	return 1, nil
}

// readMany reads up to len(msgs) datagrams with one x/net ReadBatch and
// returns how many it kept.
func (c *portableConn) readMany(msgs []Message) (int, error) {
	count := min(len(msgs), maxBatch)
	if len(c.rmsgs) < count {
		c.rmsgs = make([]ipv4.Message, max(count, 2*len(c.rmsgs), initialBatch))
		c.rbufs = make([][]byte, len(c.rmsgs))
	}
	for i := range count {
		c.rbufs[i] = msgs[i].Buf
		c.rmsgs[i] = ipv4.Message{Buffers: c.rbufs[i : i+1 : i+1]}
		if c.cm {
			c.rmsgs[i].OOB = c.roob[i*c.oobLen : (i+1)*c.oobLen]
		}
	}
	var n int
	var err error
	if c.v6 {
		n, err = c.x.p6.ReadBatch(c.rmsgs[:count], 0)
	} else {
		n, err = c.x.p4.ReadBatch(c.rmsgs[:count], 0)
	}
	kept := 0
	for i := range n {
		rm := &c.rmsgs[i]
		var from netip.AddrPort
		if ua, ok := rm.Addr.(*net.UDPAddr); ok {
			from = ua.AddrPort()
		}
		m := &msgs[i]
		if !c.fill(m, rm.N, rm.Flags&msgTrunc != 0, from, rm.OOB[:rm.NN]) {
			continue
		}
		if kept != i { // an earlier datagram was dropped: close the gap
			d := &msgs[kept]
			d.N = copy(d.Buf, m.Buf[:m.N])
			d.Truncated = m.Truncated || d.N < m.N
			d.Seg, d.From, d.IfIndex = 0, m.From, m.IfIndex
		}
		kept++
	}
	for i := range count {
		c.rbufs[i] = nil
		c.rmsgs[i] = ipv4.Message{}
	}
	if err != nil {
		return 0, err
	}
	return kept, nil
}

// fill sets m from one received datagram and reports whether to keep it
// (false: a multicast Conn received a datagram for another destination).
func (c *portableConn) fill(m *Message, n int, trunc bool, from netip.AddrPort, oob []byte) bool {
	m.N = min(n, len(m.Buf))
	m.Seg = 0
	m.Truncated = trunc
	m.From = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	m.IfIndex = 0
	if !c.cm || len(oob) == 0 {
		return true
	}
	var dst netip.Addr
	c.dst = [16]byte{}
	if c.v6 {
		c.cm6 = ipv6.ControlMessage{Dst: c.dst[:16]}
		if c.cm6.Parse(oob) == nil {
			m.IfIndex = c.cm6.IfIndex
			dst, _ = netip.AddrFromSlice(c.cm6.Dst)
		}
	} else {
		c.cm4 = ipv4.ControlMessage{Dst: c.dst[:4]}
		if c.cm4.Parse(oob) == nil {
			m.IfIndex = c.cm4.IfIndex
			dst, _ = netip.AddrFromSlice(c.cm4.Dst)
		}
	}
	dst = dst.Unmap()
	if c.group.IsValid() && dst.IsValid() && !dst.IsUnspecified() && dst != c.group {
		return false
	}
	return true
}
