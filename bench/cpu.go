package bench

import (
	"os"
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
}

// cpuMark is the CPU counters at one moment: the process's CPU time (-1: unknown) and
// the machine's idle and total ticks (both 0: unknown).
type cpuMark struct {
	processNs  int64
	idleTicks  uint64
	totalTicks uint64
}

func readCPUMark() cpuMark {
	mark := cpuMark{processNs: processCPUNanoseconds()}
	mark.idleTicks, mark.totalTicks = machineTicks()
	return mark
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
