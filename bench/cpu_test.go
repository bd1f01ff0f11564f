package bench

import "testing"

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
