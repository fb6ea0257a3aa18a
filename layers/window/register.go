package window

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	d := DefaultConfig()
	return registry.Info{
		Summary: "sliding window: numbers packets and retransmits them (selective acks and congestion control point to point, NAKs on multicast), with timed obsolescence",
		Params: []registry.ParamInfo{
			{Name: "mode", Kind: registry.IdentParam, Default: "reliable", Choices: []string{"reliable", "besteffort"}, Doc: "reliable retransmits (until a packet's deadline, if it has one); besteffort never does"},
			{Name: "feedback", Kind: registry.IdentParam, Default: "auto", Choices: []string{"auto", "ack", "nak"}, Doc: "ack for one receiver, nak for many; auto picks by the flow"},
			{Name: "size", Kind: registry.IntParam, Max: "16384", Default: "1024", Doc: "window in packets"},
			{Name: "queue", Kind: registry.SizeParam, Max: "256MiB", Default: "4MiB", Doc: "bytes waiting for the window before the sender reports no room"},
			{Name: "ttl", Kind: registry.DurationParam, Doc: "time to obsolescence for postings without one; unset: fully reliable"},
			{Name: "isn", Kind: registry.IntParam, Default: "1", Doc: "first sequence number"},
			{Name: "ackdelay", Kind: registry.DurationParam, Max: "1s", Default: d.AckDelay.String(), Doc: "longest wait before acknowledging in-order data"},
			{Name: "ackevery", Kind: registry.IntParam, Max: "1024", Default: "16", Doc: "acknowledge every this many in-order packets (an eighth of the sender's flight when that is more, up to 8×)"},
			{Name: "rto", Kind: registry.DurationParam, Default: d.InitialRTO.String(), Doc: "initial retransmission timeout"},
			{Name: "minrto", Kind: registry.DurationParam, Default: d.MinRTO.String(), Doc: "smallest retransmission timeout"},
			{Name: "maxrto", Kind: registry.DurationParam, Default: d.MaxRTO.String(), Doc: "largest retransmission timeout, backoff included"},
			{Name: "iw", Kind: registry.IntParam, Max: "16384", Default: "10", Doc: "initial congestion window, packets"},
			{Name: "anticipate", Kind: registry.BoolParam, Default: "true", Doc: "hold or cut the window when the RTT rises well above its minimum"},
			{Name: "nakdelay", Kind: registry.DurationParam, Min: "100us", Max: "1s", Default: d.NakDelay.String(), Doc: "NAKs wait a random time up to this"},
			{Name: "nakretry", Kind: registry.DurationParam, Min: "1ms", Default: d.NakRetry.String(), Doc: "wait before repeating a NAK (doubles)"},
			{Name: "naklimit", Kind: registry.IntParam, Max: "1024", Default: "16", Doc: "NAKs for one gap before it is declared unrecoverable"},
			{Name: "status", Kind: registry.DurationParam, Min: "1ms", Default: d.Status.String(), Doc: "how often receivers report status"},
			{Name: "heartbeat", Kind: registry.DurationParam, Min: "1ms", Default: d.Heartbeat.String(), Doc: "first heartbeat after the sender goes idle"},
			{Name: "rcvtimeout", Kind: registry.DurationParam, Min: "100ms", Default: d.RcvTimeout.String(), Doc: "a silent receiver is forgotten after this"},
			{Name: "holdoff", Kind: registry.DurationParam, Min: "100us", Default: d.Holdoff.String(), Doc: "a packet is repaired at most once per holdoff"},
			{Name: "seed", Kind: registry.IntParam, Doc: "seeds the random NAK delays (mixed with the member id)"},
			{Name: "repairratio", Kind: registry.FloatParam, Max: "64", Default: "4", Doc: "NAK-triggered repairs earned per new packet sent, all receivers together (a quarter of it per receiver)"},
			{Name: "repairfloor", Kind: registry.FloatParam, Max: "100000", Default: "128", Doc: "repairs per second allowed however slowly the stream sends"},
			{Name: "maxreceivers", Kind: registry.IntParam, Max: "65536", Default: "4096", Doc: "receivers a nak-mode sender tracks; the least recently heard is evicted beyond"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapSequenced, stack.CapReliable}},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	c := DefaultConfig()
	if p.Ident("mode") == "besteffort" {
		c.Mode = BestEffort
	}
	switch p.Ident("feedback") {
	case "ack":
		c.Feedback = Ack
	case "nak":
		c.Feedback = Nak
	}
	size, isn, every, iw, limit := p.Int("size"), p.Int("isn"), p.Int("ackevery"), p.Int("iw"), p.Int("naklimit")
	switch {
	case size < 4 || size > 1<<16:
		return nil, p.Errorf("size", "size %d out of range 4..65536", size)
	case isn < 0 || isn > 1<<32-1:
		return nil, p.Errorf("isn", "isn %d out of range 0..%d", isn, uint32(1<<32-1))
	case every < 1 || every > 1<<16:
		return nil, p.Errorf("ackevery", "ackevery %d out of range 1..65536", every)
	case iw < 1 || iw > size:
		return nil, p.Errorf("iw", "iw %d out of range 1..size", iw)
	case limit < 1 || limit > 1000:
		return nil, p.Errorf("naklimit", "naklimit %d out of range 1..1000", limit)
	case p.Size("queue") > 1<<30:
		return nil, p.Errorf("queue", "queue %d is larger than 1GiB", p.Size("queue"))
	}
	c.Size, c.ISN, c.AckEvery, c.InitialWnd, c.NakLimit = int(size), uint32(isn), int(every), int(iw), int(limit)
	c.Queue = int(p.Size("queue"))
	c.TTL = p.Duration("ttl")
	c.AckDelay, c.InitialRTO, c.MinRTO, c.MaxRTO = p.Duration("ackdelay"), p.Duration("rto"), p.Duration("minrto"), p.Duration("maxrto")
	c.Anticipate = p.Bool("anticipate")
	c.NakDelay, c.NakRetry, c.Status = p.Duration("nakdelay"), p.Duration("nakretry"), p.Duration("status")
	c.Heartbeat, c.RcvTimeout, c.Holdoff = p.Duration("heartbeat"), p.Duration("rcvtimeout"), p.Duration("holdoff")
	c.Seed = p.Int("seed")
	c.RepairRatio, c.RepairFloor, c.MaxReceivers = p.Float("repairratio"), p.Float("repairfloor"), int(p.Int("maxreceivers"))
	if err := c.Validate(); err != nil {
		return nil, p.Errorf("", "%v", err)
	}
	return New(c)
}

// Builder returns the layer's builder.
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }

func init() { registry.Register("window", Builder()) }
