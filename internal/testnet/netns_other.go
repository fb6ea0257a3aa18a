//go:build !linux

package testnet

import "os/exec"

// Namespaces exist only on Linux: Require skips before these are used.

func setPdeathsig(*exec.Cmd) {}

func processAlive(int) bool { return true }
