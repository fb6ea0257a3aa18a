package harness

import (
	"os/exec"
	"syscall"
	"time"
)

// setProcAttr puts a child in a process group of its own (so the group can
// be killed whole) and has the kernel kill it if its parent dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the child's process group.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// CPUTime is the CPU time (user and system) this process has used.
func CPUTime() time.Duration {
	u, s := CPUTimes()
	return u + s
}

// CPUTimes is the user and the system CPU time this process has used.
// System time includes what the kernel does inside the process's system
// calls, such as handing a loopback datagram to every receiving socket.
func CPUTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
