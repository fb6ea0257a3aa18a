package sign

import (
	"fmt"
	"time"

	"github.com/rwanda-go/rwanda/keys"
)

// Config is the sign layer's configuration. Its zero value is not valid;
// start from [DefaultConfig] and set the keys.
type Config struct {
	// Identity is the key a sender's stack signs with (registry.Env's
	// Identity, from channel.WithIdentity). A sender's stack without one
	// refuses to bind.
	Identity *keys.Identity
	// Trusted are the keys a receiver's stack accepts signatures from
	// (registry.Env's Trusted, from channel.WithTrusted). A receiver's
	// stack without a set refuses to bind. Keys added to or removed from
	// the set take effect at once.
	Trusted *keys.Trust
	// Channel is the channel's identity (registry.Env's Channel, the same
	// on every member). Every signature binds its SHA-256, so a signed
	// packet does not verify on another channel. "" is allowed, for stacks
	// outside a channel; signer and verifier must agree on it.
	Channel string
	// MemberSalt is the salt this member's id was derived with from
	// Identity (registry.Env's MemberSalt: keys.MemberID(Identity's public
	// key, MemberSalt) is the member id). A sender's stack puts it in
	// every signature, and a receiver's stack checks that the signer's
	// key and the salt give the sending member's id, so that no signer
	// speaks for another member. A sender's stack on a channel (Channel
	// set) without one refuses to bind. 0 is allowed only outside a
	// channel: such a stack's signatures are unbound, and only receivers
	// outside a channel accept them.
	MemberSalt uint64
	// Batch is how many packets one signature covers. 1 signs every
	// packet on its own (kind SIGNED); more sends packets at once with a
	// short header and signs their digests in a SIG packet after Batch
	// packets or Delay, whichever comes first. At most [MaxBatch], and the
	// SIG packet must fit under the MTU (checked when the stack is built).
	Batch int
	// Delay is the longest a packet of a batch waits for its signature to
	// be sent (Batch > 1).
	Delay time.Duration
	// Hold bounds the bytes a receiver holds in packets waiting for their
	// signature (a packet costs its whole buffer, not only its bytes);
	// the oldest is evicted first.
	Hold int64
	// Packets bounds the packets a receiver holds waiting for their
	// signature, and the digests it keeps of signed packets that have not
	// arrived yet; the oldest go first.
	Packets int
	// Timeout is how long a receiver holds a packet waiting for its
	// signature, and keeps a digest waiting for its packet. It must be
	// longer than Delay.
	Timeout time.Duration
}

// Limits on the configuration.
const (
	MaxDelay   = time.Second // the longest Delay
	MaxTimeout = time.Minute // the longest Timeout
	MaxHold    = 1 << 30     // the largest Hold, bytes
	MaxPackets = 1 << 16     // the largest Packets
)

// DefaultConfig returns the defaults: batches of 16 packets or 2 ms,
// receivers holding up to 4 MiB and 1024 unverified packets for up to
// 200 ms.
func DefaultConfig() Config {
	return Config{Batch: 16, Delay: 2 * time.Millisecond, Hold: 4 << 20, Packets: 1024, Timeout: 200 * time.Millisecond}
}

// Validate checks the configuration on its own; which keys a stack needs
// depends on its role and is checked when it is bound.
func (c Config) Validate() error {
	switch {
	case c.Batch < 1 || c.Batch > MaxBatch:
		return fmt.Errorf("sign: batch %d out of range 1..%d", c.Batch, MaxBatch)
	case c.Batch > 1 && (c.Delay <= 0 || c.Delay > MaxDelay):
		return fmt.Errorf("sign: delay %v out of range (0, %v]", c.Delay, MaxDelay)
	case c.Hold < 64<<10 || c.Hold > MaxHold:
		return fmt.Errorf("sign: hold %d out of range 64KiB..1GiB", c.Hold)
	case c.Packets < 1 || c.Packets > MaxPackets:
		return fmt.Errorf("sign: packets %d out of range 1..%d", c.Packets, MaxPackets)
	case c.Timeout <= 0 || c.Timeout > MaxTimeout:
		return fmt.Errorf("sign: timeout %v out of range (0, %v]", c.Timeout, MaxTimeout)
	case c.Batch > 1 && c.Timeout <= c.Delay:
		return fmt.Errorf("sign: timeout %v must be longer than delay %v, or every batch would expire before its signature", c.Timeout, c.Delay)
	}
	return nil
}
