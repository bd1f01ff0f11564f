// Package threadcpu reads the CPU time of the calling OS thread, for benchmarks on a
// shared machine: wall time there counts whatever else the cores ran, while the
// thread's own CPU time counts only the work measured (still slowed by shared caches,
// but not by waiting for a core). A benchmark locks its goroutine to its thread
// (runtime.LockOSThread), reads Now before and after the timed loop, and reports the
// difference per operation with b.ReportMetric beside the wall-time figures.
//
// It is for benchmarks only: nothing in core may read a clock.
package threadcpu
