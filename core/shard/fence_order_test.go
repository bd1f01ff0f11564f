package shard

import (
	"io"
	"log/slog"
	"testing"
)

// TestFencedShardAlreadyNamesThePrimary: whoever sees the shard fenced also sees where
// the new primary is. A request refused as not_primary in between used to get an empty
// redirect (Fence stored the role before the address), which the Go client hands to its
// caller as an error instead of following it. A reader spins on the role while Fence
// runs; with the old order it reads the address between the two stores in most rounds
// on two cores.
func TestFencedShardAlreadyNamesThePrimary(t *testing.T) {
	const rounds = 2000
	for round := range rounds {
		s := &Shard{config: Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}}
		s.roles.word.Store(packRole(RolePrimary, 1))
		seen, spinning := make(chan string), make(chan struct{})
		go func() {
			close(spinning)
			for s.Role() != RoleFenced {
				// Spin: a preempted spinner still lets the fencer run.
			}
			seen <- s.PrimaryAddress()
		}()
		<-spinning
		s.Fence(2, "127.0.0.1:9999")
		if address := <-seen; address != "127.0.0.1:9999" {
			t.Fatalf("round %d: fenced with primary address %q, want the new primary's", round,
				address)
		}
	}
}
