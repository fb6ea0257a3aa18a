package frag

import (
	"fmt"
	"time"
)

// Config is the frag layer's configuration. Its zero value is not valid;
// start from [DefaultConfig].
type Config struct {
	// MTU is the largest packet the layer lets leave the bottom of the
	// stack, headers of the layers below included; 0 means the stack's MTU.
	// It may not exceed the stack's MTU.
	MTU int
	// Max bounds the payload the application sees, in bytes: a posting's
	// body. The layer accepts parcels of up to Max + [HeaderAllowance]
	// bytes (see [Config.Largest]), so that the headers of what it carries
	// (the posting's own, those of the layers above) do not eat into Max;
	// larger parcels are refused on send (an error to the pusher) and
	// dropped on receipt.
	Max int64
	// Buffer bounds the memory one flow may hold in incomplete parcels:
	// the fragments held, the parcels' buffers and their bookkeeping (see
	// the package documentation); at least Max. To reassemble a parcel of
	// the largest size it must be a little more than [Config.Largest].
	Buffer int64
	// Parcels bounds the incomplete parcels one flow holds at once; the
	// oldest is evicted first.
	Parcels int
	// Timeout is how long an incomplete parcel waits for its missing
	// fragments from its first fragment's arrival.
	Timeout time.Duration
}

// DefaultConfig returns the defaults: the stack's MTU, parcels of up to
// 16 MiB, 32 MiB of reassembly per flow, 256 incomplete parcels, 2 s
// timeout.
func DefaultConfig() Config {
	return Config{MTU: 0, Max: 16 << 20, Buffer: 32 << 20, Parcels: 256, Timeout: 2 * time.Second}
}

// HeaderAllowance is how many bytes a parcel may exceed Config.Max by: room
// for the headers of what frag carries, so that Max bounds the body the
// application sees. A posting's header is at most about 5 KiB (32
// application headers of 4 KiB in all, a 255-byte stream and type name, a
// 64-byte key and a few numbers; see package posting), and the layers
// that may sit above frag (compress, refresh, sign) add tens of bytes.
const HeaderAllowance = 8 << 10

// Largest is the largest parcel the layer sends or reassembles: Max plus
// [HeaderAllowance].
func (c Config) Largest() int64 { return c.Max + HeaderAllowance }

// Validate checks the configuration on its own (the MTU is checked against
// the stack when the layer is bound).
func (c Config) Validate() error {
	switch {
	case c.MTU < 0:
		return fmt.Errorf("frag: mtu %d is negative", c.MTU)
	case c.Max < 1:
		return fmt.Errorf("frag: max %d must be at least 1 byte", c.Max)
	case c.Buffer < c.Max:
		return fmt.Errorf("frag: buffer %d is smaller than max %d: the largest parcel could never be reassembled", c.Buffer, c.Max)
	case c.Parcels < 1:
		return fmt.Errorf("frag: parcels %d must be at least 1", c.Parcels)
	case c.Timeout <= 0:
		return fmt.Errorf("frag: timeout %v must be positive", c.Timeout)
	}
	return nil
}

// MinFragment is the smallest fragment payload the layer accepts to work
// with: an MTU that leaves less room after the headers is an error.
const MinFragment = 64
