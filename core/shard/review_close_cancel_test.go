package shard

import (
	"log/slog"
	"testing"
	"time"
)

// TestCancelDroppedAtCloseIsLogged: a cancel-on-disconnect still waiting for room in the
// ring when the shard closes is dropped (PROTOCOL.md section 5: not applied when the
// server stops), and the operators are told which, as when the log fails or when the
// bound's retry meets the close: the client's orders stay open and nothing else records
// it. Before, the drop at Close was silent.
func TestCancelDroppedAtCloseIsLogged(t *testing.T) {
	errors := make(errorLines, 8)
	ts := startTradingShard(t, slog.New(errors))
	ts.disconnectWithTheRingFull()
	if waiting := ts.shard.ring.cancelsWaiting(); waiting != 1 {
		t.Fatalf("%d cancels waiting, want 1", waiting)
	}
	ts.shard.config.CloseTimeout = time.Millisecond // Durability stays held: abandon.
	ts.shard.Close()
	if !errors.saw("cancel-on-disconnect") {
		t.Fatal("the cancel dropped at Close was not logged")
	}
}
