package fec

import (
	"fmt"
	"time"
)

// Parity says how a sender decides the parity it sends with each block.
type Parity uint8

const (
	// Auto sends, with each block, the fewest parity shards that leave at
	// most Config.Residual of blocks unrepaired at the loss the receivers
	// report (the worst receiver's); none while they report no loss.
	Auto Parity = iota
	// Off sends no parity with the data: parity only answers NAKs.
	Off
)

func (p Parity) String() string {
	if p == Off {
		return "off"
	}
	return "auto"
}

// Limits of the configuration and of the wire.
const (
	// MaxShards is the most shards (data and parity) a block may have:
	// Reed-Solomon over GF(2^8).
	MaxShards = 256
	// MaxK is the most data packets a block may hold.
	MaxK = 128
)

// Config is the fec layer's configuration; start from [DefaultConfig].
type Config struct {
	// Parity is how proactive parity is chosen (Auto or Off).
	Parity Parity
	// Fixed, when positive, is the parity sent with every block whatever
	// the loss (it overrides Parity).
	Fixed int
	// Residual is the share of blocks Auto lets parity alone leave
	// unrepaired at the measured loss (the window repairs those).
	Residual float64
	// K is the most data packets in one block; a block also closes at the
	// end of the burst that filled it (see Wait).
	K int
	// Wait is how long a block stays open after its first packet for more
	// (blocks of small packets); 0 closes it when the call into the stack
	// that sent its packets is over (a posting's fragments).
	Wait time.Duration
	// Hold is the longest a receiver holds the packets that follow a loss
	// in a block that has parity coming, so the window above sees them
	// only once the block is repaired (and asks for nothing).
	Hold time.Duration
	// Round is how long a NAK-triggered answer stands: NAKs for a block
	// within Round of the first get only the parity the first did not
	// already send. About one round trip.
	Round time.Duration
	// Keep is how long either end keeps a block for repair.
	Keep time.Duration
	// Buffer bounds the bytes of blocks either end keeps (the oldest go
	// first).
	Buffer int
	// Report is how often a receiver reports the loss it sees.
	Report time.Duration
	// Repair answers NAKs (nak mode of the window above) with parity.
	Repair bool
}

// DefaultConfig returns the defaults: parity from the measured loss for a
// residual of 2%, blocks of at most 32 packets closed at the end of each
// burst, 20 ms hold, NAKs answered with parity in rounds of 100 ms,
// blocks kept 1 s within 4 MiB, loss reported every 250 ms.
func DefaultConfig() Config {
	return Config{Parity: Auto, Residual: 0.02, K: 32, Hold: 20 * time.Millisecond, Round: 100 * time.Millisecond,
		Keep: time.Second, Buffer: 4 << 20, Report: 250 * time.Millisecond, Repair: true}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Parity > Off:
		return fmt.Errorf("fec: unknown parity mode %d", c.Parity)
	case c.Fixed < 0 || c.Fixed > 64:
		return fmt.Errorf("fec: fixed parity %d out of range 0..64", c.Fixed)
	case !(c.Residual > 0 && c.Residual < 1):
		return fmt.Errorf("fec: residual %v out of range (0, 1)", c.Residual)
	case c.K < 1 || c.K > MaxK:
		return fmt.Errorf("fec: k %d out of range 1..%d", c.K, MaxK)
	case c.Wait < 0 || c.Wait > time.Second:
		return fmt.Errorf("fec: wait %v out of range [0, 1s]", c.Wait)
	case c.Hold < 0 || c.Hold > time.Second:
		return fmt.Errorf("fec: hold %v out of range [0, 1s]", c.Hold)
	case c.Round <= 0 || c.Round > 10*time.Second:
		return fmt.Errorf("fec: round %v out of range (0, 10s]", c.Round)
	case c.Keep <= 0 || c.Keep > time.Minute:
		return fmt.Errorf("fec: keep %v out of range (0, 1m]", c.Keep)
	case c.Buffer < 64<<10 || c.Buffer > 1<<30:
		return fmt.Errorf("fec: buffer %d out of range 64KiB..1GiB", c.Buffer)
	case c.Report < time.Millisecond || c.Report > time.Minute:
		return fmt.Errorf("fec: report %v out of range [1ms, 1m]", c.Report)
	}
	return nil
}
