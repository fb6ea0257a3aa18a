//go:build !linux

package fec

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
