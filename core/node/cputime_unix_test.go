//go:build unix

package node

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used (user + system): a cost measure
// that other work on a shared machine does not inflate, unlike wall time.
func processCPU() (time.Duration, bool) {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0, false
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()), true
}
