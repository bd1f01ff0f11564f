package threadcpu

import (
	"runtime"
	"testing"
)

// TestNowAdvancesWithWork checks that the clock moves forward while the thread computes
// (an untimed assertion: only that it advances, not by how much).
func TestNowAdvancesWithWork(t *testing.T) {
	if !Supported {
		t.Skip("no thread clock on this platform")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := Now()
	if start <= 0 {
		t.Fatalf("thread CPU time %d", start)
	}
	sum := uint64(1)
	for Now() == start {
		for i := 0; i < 1_000_000; i++ {
			sum = sum*6364136223846793005 + 1442695040888963407
		}
	}
	if Now() < start {
		t.Fatal("thread CPU time went backwards")
	}
	runtime.KeepAlive(sum)
}
