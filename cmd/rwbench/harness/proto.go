package harness

import (
	"encoding/json"
	"fmt"
	"time"
)

// ProtocolVersion changes whenever the types of this file change in a way
// the other side must know; rwbench refuses a peers binary of another
// version (it rebuilds it, or skips the peers).
const ProtocolVersion = 2

// Sample is one measurement: one repetition of one system in one
// configuration.
type Sample struct {
	Sent      int64    `json:"sent"`                       // postings the sender sent (to all receivers together)
	Delivered int64    `json:"delivered"`                  // postings the receivers counted (all together)
	Bytes     int64    `json:"bytes"`                      // payload bytes the receivers counted
	Receivers int      `json:"receivers"`                  // receiving processes
	Seconds   float64  `json:"seconds"`                    // first send to last delivery
	CPU       float64  `json:"cpu_seconds"`                // CPU time of the sending process over the measurement
	CPUUser   float64  `json:"cpu_user_seconds,omitempty"` // the user part of CPU, where measured
	Lat       *Latency `json:"latency,omitempty"`          // round trips, for latency measurements
	Note      string   `json:"note,omitempty"`             // what the figure includes (e.g. "sender CPU includes the broker")
	Lost      int64    `json:"lost_probes,omitempty"`      // latency probes that never came back
	// Settings says how the system was configured for the measurement
	// (for example kcp-go's no-delay mode and windows), printed beside
	// its figures.
	Settings string `json:"settings,omitempty"`
	// Packets and Repairs count the data packets the sender sent and how
	// many of them were repairs (retransmissions), for systems that
	// report them; Repairs is included in Packets.
	Packets int64 `json:"packets,omitempty"`
	Repairs int64 `json:"repairs,omitempty"`
}

// Rate is the delivered postings per second.
func (s Sample) Rate() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Delivered) / s.Seconds
}

// MBps is the delivered payload in MB (10^6 bytes) per second.
func (s Sample) MBps() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.Seconds / 1e6
}

// Latency summarises round-trip times, in microseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	// CDF holds the round trip at quantiles CDFQuantiles, for charts.
	CDF []float64 `json:"cdf_us,omitempty"`
}

// Request asks the peers program for one measurement.
type Request struct {
	ID     int    `json:"id"`
	Op     string `json:"op"`     // "throughput", "latency", "fanout"
	System string `json:"system"` // "nats", "grpc", "grpc-unary", "kcp"
	Size   int    `json:"size"`   // payload bytes per posting
	N      int    `json:"n"`      // receivers (fanout)
	// Rate is the offered rate, postings per second sent to each
	// receiver (fanout); 0 sends as fast as the system takes them.
	Rate float64 `json:"rate,omitempty"`
	// Duration is how long the sender sends (or the probes run).
	Duration Duration `json:"duration"`
}

// Response answers a Request: a Sample, or the reason there is none.
type Response struct {
	ID     int     `json:"id"`
	Sample *Sample `json:"sample,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Hello is the first line the peers program prints: its protocol version
// and the systems it measures, by operation.
type Hello struct {
	Protocol int                 `json:"protocol"`
	Systems  map[string][]string `json:"systems"` // op → systems
	Versions map[string]string   `json:"versions,omitempty"`
}

// Duration is a time.Duration that travels in JSON as a string ("250ms").
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "250ms".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "250ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"250ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
