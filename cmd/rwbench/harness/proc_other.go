//go:build !linux

package harness

import (
	"os/exec"
	"time"
)

func setProcAttr(*exec.Cmd) {}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

// CPUTime is the CPU time this process has used; 0 where it is not
// measured (only Linux is).
func CPUTime() time.Duration { return 0 }

// CPUTimes is the user and the system CPU time this process has used; 0
// where it is not measured (only Linux is).
func CPUTimes() (user, sys time.Duration) { return 0, 0 }
