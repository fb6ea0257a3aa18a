package window

import (
	"fmt"
	"time"
)

// Mode is the window's reliability.
type Mode uint8

const (
	// Reliable retransmits until acknowledged, or, for a packet with a
	// deadline (the posting's TTL or Config.TTL), until it can no longer
	// arrive in time: then it is abandoned and receivers are told to skip
	// it (semi-reliable).
	Reliable Mode = iota
	// BestEffort numbers packets (for ordering, duplicate suppression and
	// loss counting) but never retransmits and sends no feedback.
	BestEffort
)

func (m Mode) String() string {
	if m == BestEffort {
		return "besteffort"
	}
	return "reliable"
}

// Feedback is how receivers tell the sender what they have.
type Feedback uint8

const (
	// Auto picks Ack for point-to-point flows and Nak otherwise (and for
	// point-to-point flows over a transport that controls flow and
	// congestion itself: stack.Flow.CarrierControlled).
	Auto Feedback = iota
	// Ack: the one receiver acknowledges cumulatively and selectively; the
	// sender estimates the round trip, runs retransmission timeouts and a
	// congestion window (slow start, one packet more a round trip, and on
	// loss an eighth less, or half when the round trip shows queues: see
	// the package doc) (unicast).
	Ack
	// Nak: receivers report gaps after a random delay (one NAK serves
	// many), and their status lets the sender free its buffer (multicast).
	Nak
)

func (f Feedback) String() string {
	switch f {
	case Ack:
		return "ack"
	case Nak:
		return "nak"
	}
	return "auto"
}

// Config is the window layer's configuration; start from [DefaultConfig].
type Config struct {
	Mode     Mode
	Feedback Feedback
	// Size is the window in packets: the most a sender has outstanding and
	// a receiver accepts ahead of its first missing packet.
	Size int
	// Queue bounds the bytes waiting for room in the window; past it the
	// stack reports no Room (the channel's Push waits or refuses).
	Queue int
	// TTL is the time to obsolescence given to packets that have no
	// deadline of their own; 0 leaves them fully reliable.
	TTL time.Duration
	// ISN is the first sequence number (both ends take it from the same
	// QoS string).
	ISN uint32

	// Ack mode.
	AckDelay   time.Duration // longest a receiver waits to acknowledge in order data
	AckEvery   int           // acknowledge every this many in-order packets (more when many are in flight: see the package doc)
	InitialRTO time.Duration
	MinRTO     time.Duration
	MaxRTO     time.Duration
	InitialWnd int  // initial congestion window, packets
	Anticipate bool // slow down when the RTT rises well above its minimum

	// Nak mode.
	NakDelay   time.Duration // NAKs wait a random time up to this before going out
	NakRetry   time.Duration // wait before asking again (doubles each time)
	NakLimit   int           // NAKs for one gap before giving it up as unrecoverable (and no sooner than RcvTimeout after the first)
	Status     time.Duration // how often receivers report their status
	Heartbeat  time.Duration // first heartbeat after the sender goes idle (doubles up to 1 s)
	RcvTimeout time.Duration // a receiver not heard from this long is forgotten
	Holdoff    time.Duration // a packet is repaired at most once per holdoff
	Seed       int64         // seeds the NAK delays (mixed with the member id)

	// Nak mode: what receivers' feedback may make the sender do (see
	// "Hostile feedback" in the package doc).

	// RepairRatio is how many answers to NAKs (repairs, and the SKIP and
	// SYNC a NAK may call for) all receivers together earn for each new
	// packet the sender sends, and how many windows' worth they may have
	// in hand; one receiver earns, and may have, a quarter of it. 1 to
	// 1024.
	RepairRatio float64
	// RepairFloor is how many answers to NAKs per second all receivers
	// together earn however slow the stream, so a slow or paused stream can
	// still be repaired; one receiver earns a quarter of it. At least 1.
	RepairFloor float64
	// MaxReceivers bounds the receivers the sender tracks; beyond it the
	// least recently heard is forgotten. 1 to 1<<20.
	MaxReceivers int
}

// DefaultConfig returns the defaults: reliable, automatic feedback, a
// window of 1024 packets and a 4 MiB queue; in nak mode 4 answers to NAKs
// per new packet and 128 per second for all receivers together, and at most
// 4096 receivers tracked.
func DefaultConfig() Config {
	return Config{
		Mode: Reliable, Feedback: Auto, Size: 1024, Queue: 4 << 20, ISN: 1,
		AckDelay: 2 * time.Millisecond, AckEvery: 16,
		InitialRTO: 200 * time.Millisecond, MinRTO: 20 * time.Millisecond, MaxRTO: 10 * time.Second,
		InitialWnd: 10, Anticipate: true,
		NakDelay: 2 * time.Millisecond, NakRetry: 20 * time.Millisecond, NakLimit: 16,
		Status: 50 * time.Millisecond, Heartbeat: 20 * time.Millisecond, RcvTimeout: 2 * time.Second,
		Holdoff: 2 * time.Millisecond, RepairRatio: 4, RepairFloor: 128, MaxReceivers: 4096,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	pos := func(name string, d time.Duration) error {
		if d <= 0 || d > time.Hour {
			return fmt.Errorf("window: %s %v out of range (0, 1h]", name, d)
		}
		return nil
	}
	switch {
	case c.Mode > BestEffort:
		return fmt.Errorf("window: unknown mode %d", c.Mode)
	case c.Feedback > Nak:
		return fmt.Errorf("window: unknown feedback %d", c.Feedback)
	case c.Size < 4 || c.Size > 1<<16:
		return fmt.Errorf("window: size %d out of range 4..65536", c.Size)
	case c.Queue < 1<<10:
		return fmt.Errorf("window: queue %d is too small (at least 1KiB)", c.Queue)
	case c.TTL < 0:
		return fmt.Errorf("window: negative ttl")
	case c.AckEvery < 1:
		return fmt.Errorf("window: ackevery %d must be positive", c.AckEvery)
	case c.InitialWnd < 1 || c.InitialWnd > c.Size:
		return fmt.Errorf("window: initial window %d out of range 1..size", c.InitialWnd)
	case c.MinRTO > c.MaxRTO:
		return fmt.Errorf("window: minrto %v above maxrto %v", c.MinRTO, c.MaxRTO)
	case c.NakLimit < 1:
		return fmt.Errorf("window: naklimit %d must be positive", c.NakLimit)
	case !(c.RepairRatio >= 1 && c.RepairRatio <= 1024):
		return fmt.Errorf("window: repair ratio %v out of range 1..1024", c.RepairRatio)
	case !(c.RepairFloor >= 1 && c.RepairFloor <= 1<<30):
		return fmt.Errorf("window: repair floor %v out of range 1..%d per second", c.RepairFloor, 1<<30)
	case c.MaxReceivers < 1 || c.MaxReceivers > 1<<20:
		return fmt.Errorf("window: max receivers %d out of range 1..%d", c.MaxReceivers, 1<<20)
	}
	for _, d := range []struct {
		n string
		d time.Duration
	}{{"ackdelay", c.AckDelay}, {"rto", c.InitialRTO}, {"minrto", c.MinRTO}, {"maxrto", c.MaxRTO},
		{"nakdelay", c.NakDelay}, {"nakretry", c.NakRetry}, {"status", c.Status}, {"heartbeat", c.Heartbeat},
		{"rcvtimeout", c.RcvTimeout}, {"holdoff", c.Holdoff}} {
		if err := pos(d.n, d.d); err != nil {
			return err
		}
	}
	return nil
}
