package ratelimit

import (
	"fmt"
	"time"
)

// MaxRate bounds Rate and Peak: 1 TB/s, far above any link, and small
// enough that token arithmetic in float64 stays exact to the byte.
const MaxRate = 1 << 40

// Config is the ratelimit layer's configuration. Rate is required; the
// other fields may be left 0 for their defaults.
type Config struct {
	// Rate is the long-run rate in bytes per second (the token bucket's
	// fill rate); required, at most MaxRate.
	Rate int64
	// Bucket is the bucket size in bytes: the most that passes at once
	// after an idle period. 0 means a tenth of a second at Rate, and at
	// least two packets of the stack's MTU.
	Bucket int64
	// Peak is the peak rate in bytes per second: consecutive packets leave
	// at least len/Peak apart, len being the earlier packet's length. 0
	// means no peak rate (a full bucket goes out at once); otherwise at
	// least Rate.
	Peak int64
	// Queue is how many bytes the layer holds back for later before it
	// reports no room (stack.Roomer): the channel's Push then waits or
	// reports backpressure. 0 means half a second at Rate, and at least
	// 64 KiB and the bucket.
	Queue int64
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Rate < 1 || c.Rate > MaxRate:
		return fmt.Errorf("ratelimit: rate %d B/s out of range 1..%d", c.Rate, int64(MaxRate))
	case c.Bucket < 0 || c.Bucket > 1<<40:
		return fmt.Errorf("ratelimit: bucket %d out of range 0..%d", c.Bucket, int64(1<<40))
	case c.Peak < 0 || c.Peak > MaxRate:
		return fmt.Errorf("ratelimit: peak %d B/s out of range 0..%d", c.Peak, int64(MaxRate))
	case c.Peak != 0 && c.Peak < c.Rate:
		return fmt.Errorf("ratelimit: peak %d B/s is below rate %d B/s", c.Peak, c.Rate)
	case c.Queue < 0 || c.Queue > 1<<40:
		return fmt.Errorf("ratelimit: queue %d out of range 0..%d", c.Queue, int64(1<<40))
	}
	return nil
}

// resolved returns the configuration with the defaults filled in for a
// stack of the given MTU.
func (c Config) resolved(mtu int) Config {
	if c.Bucket == 0 {
		c.Bucket = max(c.Rate/10, 2*int64(mtu))
	}
	if c.Queue == 0 {
		c.Queue = max(c.Rate/2, 64<<10, c.Bucket)
	}
	return c
}

// duration is how long n bytes take at rate bytes per second, rounded up
// to the nanosecond.
func duration(n float64, rate int64) time.Duration {
	if n <= 0 {
		return 0
	}
	d := n * 1e9 / float64(rate)
	t := time.Duration(d)
	if float64(t) < d {
		t++
	}
	return t
}
