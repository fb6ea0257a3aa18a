package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "-url is required") {
		t.Fatalf("exit %d, %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"-url", "x://10.0.0.1:5"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not a multicast") {
		t.Fatalf("exit %d, %q", code, errb.String())
	}
}

func TestRunsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"-url", "x://239.255.9.9:23456?iface=lo", "-listen", "127.0.0.1:0", "-stats", "0"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "relaying") || !strings.Contains(out.String(), "FromGroup") {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errb.String())
	}
}
