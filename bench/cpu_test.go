package bench

import (
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
)

// TestLoadCPU checks the CPU figures of a load from two marks: the process's CPU time
// per event sent, the machine's idle share counting iowait as idle and steal in the
// total (and guest time not twice), and no figure from marks that cannot give one.
func TestLoadCPU(t *testing.T) {
	const start = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	const end = "cpu  400 0 150 1000 100 0 0 100 300 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	idle0, total0 := parseMachineTicks(start)
	idle1, total1 := parseMachineTicks(end)
	if idle0 != 850 || total0 != 1000 || idle1 != 1100 || total1 != 1750 {
		t.Fatalf("ticks %d/%d and %d/%d, want 850/1000 and 1100/1750",
			idle0, total0, idle1, total1)
	}
	cpu := loadCPU(cpuMark{processNs: 1e9, idleTicks: idle0, totalTicks: total0},
		cpuMark{processNs: 3e9, idleTicks: idle1, totalTicks: total1}, 1000)
	if cpu == nil || cpu.ProcessS != 2 || cpu.ProcessNsPerEvent != 2e6 {
		t.Fatalf("cpu %+v, want 2 s and 2e6 ns per event", cpu)
	}
	if cpu.MachineIdleShare == nil || *cpu.MachineIdleShare != 250.0/750 {
		t.Fatalf("idle share %v, want 1/3", cpu.MachineIdleShare)
	}
	for _, text := range []string{"", "intr 1 2 3\n", "cpu 1 2 x 4 5 6\n"} {
		if idle, total := parseMachineTicks(text); idle != 0 || total != 0 {
			t.Errorf("%q: ticks %d/%d, want none", text, idle, total)
		}
	}
	if cpu := loadCPU(cpuMark{processNs: -1}, cpuMark{processNs: 5}, 10); cpu != nil {
		t.Errorf("unknown process CPU: %+v, want nil", cpu)
	}
	if cpu := loadCPU(cpuMark{}, cpuMark{processNs: 5}, 0); cpu != nil {
		t.Errorf("no events: %+v, want nil", cpu)
	}
	cpu = loadCPU(cpuMark{processNs: 0}, cpuMark{processNs: 5}, 5)
	if cpu == nil || cpu.MachineIdleShare != nil {
		t.Errorf("no /proc/stat: %+v, want a CPU figure without an idle share", cpu)
	}
}

// TestSchedulerFigures checks the scheduler's figures of a load: the quantiles of what
// the runnable-wait histogram counted between two marks (not before the first), the
// open last bucket read as its lower bound, the mutex wait per event, none from marks
// that cannot give them; and that this runtime gives both (a real mark, goroutines run
// in between).
func TestSchedulerFigures(t *testing.T) {
	buckets := []float64{0, 1e-6, 10e-6, 100e-6, 1e-3, math.Inf(1)}
	start := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{5, 0, 7, 0, 0}}
	end := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{5, 50, 47, 2, 1}}
	// Counted in between: 50 waits of 1-10 µs, 40 of 10-100 µs, 2 of 0.1-1 ms, 1 longer.
	got := waitQuantiles(start, end)
	if got == nil || *got != (WaitQuantiles{P50: 10, P90: 100, P99: 1000}) {
		t.Fatalf("quantiles %+v, want p50 10, p90 100, p99 1000 µs", got)
	}
	last := &metrics.Float64Histogram{Buckets: buckets, Counts: []uint64{5, 0, 7, 0, 10}}
	// All ten in the open last bucket (1 ms and more).
	if got := waitQuantiles(start, last); got == nil || got.P50 != 1000 || got.P99 != 1000 {
		t.Fatalf("open last bucket: %+v, want its lower bound, 1000 µs", got)
	}
	for _, pair := range [][2]*metrics.Float64Histogram{{nil, end}, {start, nil}, {start, start},
		{end, start}, {start, {Buckets: buckets, Counts: []uint64{1}}}} {
		if got := waitQuantiles(pair[0], pair[1]); got != nil {
			t.Errorf("quantiles %+v from %v to %v, want none", got, pair[0], pair[1])
		}
	}
	cpu := loadCPU(cpuMark{processNs: 0, mutexWaitS: 1}, cpuMark{processNs: 10, mutexWaitS: 1.5}, 1000)
	if cpu == nil || cpu.MutexWaitNsPerEvent == nil || *cpu.MutexWaitNsPerEvent != 0.5e6 {
		t.Fatalf("mutex wait %+v, want 0.5e6 ns per event", cpu)
	}
	cpu = loadCPU(cpuMark{processNs: 0, mutexWaitS: -1}, cpuMark{processNs: 10, mutexWaitS: 1.5}, 1000)
	if cpu == nil || cpu.MutexWaitNsPerEvent != nil {
		t.Fatalf("unknown mutex wait: %+v, want none", cpu)
	}

	first := readCPUMark()
	var group sync.WaitGroup
	var mu sync.Mutex
	for range 64 {
		group.Go(func() {
			for range 100 {
				mu.Lock()
				runtime.Gosched()
				mu.Unlock()
			}
		})
	}
	group.Wait()
	cpu = loadCPU(first, readCPUMark(), 1)
	if cpu == nil || cpu.RunnableWaitUs == nil || cpu.MutexWaitNsPerEvent == nil {
		t.Fatalf("real marks: %+v, want the runnable wait and the mutex wait", cpu)
	}
}
