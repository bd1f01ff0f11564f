//go:build unix

package bench

import "syscall"

// processCPUNanoseconds is the user and system CPU time of the whole process so far, or
// -1 when it cannot be read.
func processCPUNanoseconds() int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return -1
	}
	return usage.Utime.Nano() + usage.Stime.Nano()
}
