package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// TestGateway: the gateway subcommand runs its processes and reports
// every figure (their values are benchmark results, not judged here).
func TestGateway(t *testing.T) {
	var out, errb bytes.Buffer
	if code := gatewayMain(context.Background(), []string{"-clients", "4", "-procs", "2", "-duration", "300ms", "-json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r GatewayResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if r.Clients != 4 || r.Offered == 0 || r.DeliveredPerS <= 0 || r.GatewayCPUns <= 0 || r.RawSent == 0 || r.Ratio <= 0 {
		t.Fatalf("%+v", r)
	}
}
