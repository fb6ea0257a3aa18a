package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/internal/gwire"
)

// probed answers a client's PROBE (issue 25): a PROBED naming the group,
// no larger than the PROBE, so it may go to an address not yet validated;
// and, when the PROBE asks for the capability test and the budget allows
// (Config.CapTests a second, in all), a CAPTEST with the probe's nonce to
// the group: a client that hears it there receives the group and joins it
// directly (channel's gateway= URLs).
func (g *Gateway) probed(ctl gwire.Control, from netip.AddrPort, now time.Time, sends []out) []out {
	g.st.Probes++
	sends = append(sends, out{B: gwire.AppendProbed(nil, ctl.Cookie, g.group), Dst: from})
	if ctl.Flags&gwire.ProbeCapability == 0 {
		return sends
	}
	rate := float64(g.cfg.CapTests)
	if !g.capAt.IsZero() {
		g.capTok = min(rate, g.capTok+now.Sub(g.capAt).Seconds()*rate)
	}
	g.capAt = now
	if g.capTok < 1 {
		g.drop("captest-limit")
		return sends
	}
	g.capTok--
	b := gwire.Append(nil, gwire.CapTest, ctl.Cookie)
	if err := g.mc.WriteTo(b, len(b), g.group); err != nil {
		g.drop("send-error")
		return sends
	}
	g.st.CapTests++
	return sends
}

// A DirEntry is one channel a gateway serves: the channel's URL (the
// multicast group relayed) and the address its clients send to.
type DirEntry struct {
	URL  string
	Addr string
}

// A Directory lists the channels that gateways serve: each [Gateway]
// registers in its Config.Directory while it runs and answers DIRQUERY
// datagrams from it (see [QueryDirectory]); gateways of one process that
// share a Directory list each other. The zero value is empty and ready.
type Directory struct {
	mu      sync.Mutex
	entries []DirEntry
}

// maxEntry is the most bytes of URL and address together an entry may
// have to be listed: a DIRECTORY datagram holds at most gwire.DirQueryLen
// bytes, and every entry must fit in one.
const maxEntry = gwire.DirQueryLen - 16

// Add lists e (once, however often added). An entry whose URL and
// address exceed 1184 bytes together is not listed.
func (d *Directory) Add(e DirEntry) {
	if len(e.URL)+len(e.Addr) > maxEntry {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.entries, e) {
		d.entries = append(d.entries, e)
	}
}

// Remove unlists e.
func (d *Directory) Remove(e DirEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries = slices.DeleteFunc(d.entries, func(x DirEntry) bool { return x == e })
}

// Entries returns the entries, in the order they were added.
func (d *Directory) Entries() []DirEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.entries)
}

func (d *Directory) wire() []gwire.Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]gwire.Entry, len(d.entries))
	for i, e := range d.entries {
		out[i] = gwire.Entry{URL: e.URL, Addr: e.Addr}
	}
	return out
}

// QueryDirectory asks the gateway at addr ("host:port", the address its
// clients send to) for the channels it lists, paging through its answers;
// each query is sent again every 250 ms until answered or ctx ends.
func QueryDirectory(ctx context.Context, addr string) ([]DirEntry, error) {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: directory of %q: %w", addr, err)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		return nil, fmt.Errorf("gateway: directory of %q: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var out []DirEntry
	buf := make([]byte, 2*gwire.DirQueryLen)
	for idx := 0; ; {
		if _, err := c.Write(gwire.AppendDirQuery(nil, uint16(idx))); err != nil {
			return nil, fmt.Errorf("gateway: directory of %q: %w", addr, err)
		}
		c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		n, err := c.Read(buf)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gateway: directory of %q: %w", addr, ctx.Err())
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			// An ICMP error (nothing listening) surfaces here: ask again.
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		ctl, err := gwire.Parse(buf[:n])
		if err != nil || ctl.Type != gwire.Directory || int(ctl.Index) != idx {
			continue
		}
		for _, e := range ctl.Entries {
			out = append(out, DirEntry{URL: e.URL, Addr: e.Addr})
		}
		idx += len(ctl.Entries)
		if idx >= int(ctl.Total) || len(ctl.Entries) == 0 {
			return out, nil
		}
	}
}
