package bench

import (
	"math"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// LoadCPU is the CPU time spent during the load (warm-up and measured): this process's
// (getrusage: the load generator and the client library, and with --embedded the server
// too) and the machine's idle share from /proc/stat. On a machine shared with other work,
// the throughput of one run says little on its own; the CPU per event does not depend on
// the other work as much, and the idle share says whether the run was short of CPU (near
// 0) or waited on something else (the log's fdatasync, a round trip) with cores free.
type LoadCPU struct {
	// ProcessS is the process's user and system CPU time over the load, in seconds.
	ProcessS float64 `json:"process_s"`
	// ProcessNsPerEvent is ProcessS over the events sent during the load (warm-up ones
	// included, as the CPU time includes them), in nanoseconds.
	ProcessNsPerEvent float64 `json:"process_ns_per_event"`
	// MachineIdleShare is the share of every CPU's time spent idle (or waiting for I/O)
	// over the load, 0 to 1; absent without /proc/stat.
	MachineIdleShare *float64 `json:"machine_idle_share,omitempty"`
	// RunnableWaitUs is how long this process's goroutines waited, runnable, for a
	// processor over the load (runtime/metrics /sched/latencies:seconds, which the runtime
	// samples: one of every few transitions), in microseconds: with many callers, what a
	// caller woken by its answer waits before it runs (a short CPU shows here first).
	RunnableWaitUs *WaitQuantiles `json:"runnable_wait_us,omitempty"`
	// MutexWaitNsPerEvent is the time goroutines spent blocked on sync.Mutex and
	// sync.RWMutex, and threads on the runtime's internal locks (channels', the
	// scheduler's; since Go 1.22), over the load (/sync/mutex/wait/total:seconds, which
	// the runtime samples), per event sent, in nanoseconds of wall time summed over
	// goroutines.
	MutexWaitNsPerEvent *float64 `json:"mutex_wait_ns_per_event,omitempty"`
}

// WaitQuantiles are quantiles of a wait, in microseconds (each a bucket's upper bound:
// the runtime's time histogram has four buckets per power of two, so up to 25% above).
type WaitQuantiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// cpuMark is the CPU counters at one moment: the process's CPU time (-1: unknown) and
// the machine's idle and total ticks (both 0: unknown).
type cpuMark struct {
	processNs  int64
	idleTicks  uint64
	totalTicks uint64
	// The scheduler's figures (runtime/metrics): the runnable-wait histogram (nil where
	// the runtime does not give it) and the mutex wait total, in seconds (-1: unknown).
	runnableWait *metrics.Float64Histogram
	mutexWaitS   float64
}

// schedulerMetrics are the runtime/metrics a cpuMark reads.
var schedulerMetrics = [...]string{"/sched/latencies:seconds", "/sync/mutex/wait/total:seconds"}

func readCPUMark() cpuMark {
	mark := cpuMark{processNs: processCPUNanoseconds()}
	mark.idleTicks, mark.totalTicks = machineTicks()
	samples := make([]metrics.Sample, len(schedulerMetrics))
	for i, name := range schedulerMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	mark.mutexWaitS = -1
	if samples[0].Value.Kind() == metrics.KindFloat64Histogram {
		mark.runnableWait = samples[0].Value.Float64Histogram()
	}
	if samples[1].Value.Kind() == metrics.KindFloat64 {
		mark.mutexWaitS = samples[1].Value.Float64()
	}
	return mark
}

// waitQuantiles are the quantiles of what a cumulative histogram counted between start
// and end (the same buckets), in microseconds; nil when it counted nothing or the two
// cannot be compared. A quantile is its bucket's upper bound (the last finite bound for
// the open last bucket).
func waitQuantiles(start, end *metrics.Float64Histogram) *WaitQuantiles {
	if start == nil || end == nil || len(start.Counts) != len(end.Counts) ||
		len(end.Buckets) != len(end.Counts)+1 {
		return nil
	}
	total := uint64(0)
	for i := range end.Counts {
		if end.Counts[i] < start.Counts[i] {
			return nil
		}
		total += end.Counts[i] - start.Counts[i]
	}
	if total == 0 {
		return nil
	}
	quantile := func(q float64) float64 {
		rank := uint64(math.Ceil(q * float64(total)))
		seen := uint64(0)
		for i := range end.Counts {
			seen += end.Counts[i] - start.Counts[i]
			if seen >= rank {
				upper := end.Buckets[i+1]
				if math.IsInf(upper, 1) {
					upper = end.Buckets[i]
				}
				return upper * 1e6
			}
		}
		return end.Buckets[len(end.Counts)-1] * 1e6
	}
	return &WaitQuantiles{P50: quantile(0.50), P90: quantile(0.90), P99: quantile(0.99)}
}

// loadCPU is the CPU used between start and end, for events sent in between; nil when
// the process's CPU time is unknown or nothing was sent.
func loadCPU(start, end cpuMark, events uint64) *LoadCPU {
	if start.processNs < 0 || end.processNs < start.processNs || events == 0 {
		return nil
	}
	processNs := end.processNs - start.processNs
	cpu := &LoadCPU{ProcessS: float64(processNs) / 1e9,
		ProcessNsPerEvent: float64(processNs) / float64(events)}
	if total := end.totalTicks - start.totalTicks; start.totalTicks > 0 &&
		end.totalTicks > start.totalTicks && end.idleTicks >= start.idleTicks {
		share := float64(end.idleTicks-start.idleTicks) / float64(total)
		cpu.MachineIdleShare = &share
	}
	cpu.RunnableWaitUs = waitQuantiles(start.runnableWait, end.runnableWait)
	if start.mutexWaitS >= 0 && end.mutexWaitS >= start.mutexWaitS {
		perEvent := (end.mutexWaitS - start.mutexWaitS) * 1e9 / float64(events)
		cpu.MutexWaitNsPerEvent = &perEvent
	}
	return cpu
}

// machineTicks reads the first line of /proc/stat (every CPU's time in clock ticks:
// user nice system idle iowait irq softirq steal ...) and returns idle + iowait and the
// sum of the fields up to steal (time the host gave to other machines); 0, 0 where it does not exist.
func machineTicks() (idle, total uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	return parseMachineTicks(string(data))
}

// parseMachineTicks is machineTicks on the text of /proc/stat.
func parseMachineTicks(stat string) (idle, total uint64) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, field := range fields[1:] {
		ticks, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return 0, 0
		}
		if i >= 8 {
			break // guest and guest_nice are counted in user and nice already.
		}
		total += ticks
		if i == 3 || i == 4 {
			idle += ticks
		}
	}
	return idle, total
}
