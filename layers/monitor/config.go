package monitor

import (
	"fmt"
	"time"
)

// Limits of the configuration.
const (
	MaxK         = 4096    // the longest window of packets the rate and recent loss are measured over
	MaxReorder   = 1024    // the largest reorder allowance, in packets
	MaxReceivers = 1 << 16 // the most receivers a sender keeps figures for
)

// Config is the monitor layer's configuration; start from [DefaultConfig].
type Config struct {
	// K is the window, in packets, over which the rate, the packet rate
	// and the recent loss are measured: the last K packets (or sequence
	// numbers); 2..MaxK.
	K int
	// Report is the period of receiver reports and of "monitor-report"
	// events; 0 turns both off (the figures are still kept, and read
	// through Counters, Report and Measure). At most an hour.
	Report time.Duration
	// Reorder is the reorder allowance: a missing sequence number is
	// counted lost once Reorder later ones have arrived (and counted back
	// if it arrives after all). 0..MaxReorder.
	Reorder int
	// Receivers bounds the receivers a sender keeps figures for; past it
	// the one heard from least recently is forgotten. 1..MaxReceivers.
	Receivers int
}

// DefaultConfig returns the defaults: a window of 64 packets, a report a
// second, a reorder allowance of 3 packets, and 256 receivers.
func DefaultConfig() Config {
	return Config{K: 64, Report: time.Second, Reorder: 3, Receivers: 256}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.K < 2 || c.K > MaxK:
		return fmt.Errorf("monitor: k %d out of range 2..%d", c.K, MaxK)
	case c.Report < 0 || c.Report > time.Hour:
		return fmt.Errorf("monitor: report %v out of range 0..1h", c.Report)
	case c.Report > 0 && c.Report < time.Millisecond:
		return fmt.Errorf("monitor: report %v is shorter than 1ms", c.Report)
	case c.Reorder < 0 || c.Reorder > MaxReorder:
		return fmt.Errorf("monitor: reorder %d out of range 0..%d", c.Reorder, MaxReorder)
	case c.Receivers < 1 || c.Receivers > MaxReceivers:
		return fmt.Errorf("monitor: receivers %d out of range 1..%d", c.Receivers, MaxReceivers)
	}
	return nil
}
