package testlog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestBufferKeepsEveryWrite: lines written from many goroutines at once all arrive
// whole (run with -race, it also shows the lock covers Write and String).
func TestBufferKeepsEveryWrite(t *testing.T) {
	var buffer Buffer
	var writers sync.WaitGroup
	for i := range 8 {
		writers.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&buffer, "writer %d line %d\n", i, j)
				_ = buffer.String()
			}
		})
	}
	writers.Wait()
	lines := strings.Split(strings.TrimSuffix(buffer.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, line := range lines {
		var i, j int
		if n, err := fmt.Sscanf(line, "writer %d line %d", &i, &j); n != 2 || err != nil {
			t.Fatalf("torn line %q", line)
		}
	}
}
