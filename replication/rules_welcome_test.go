package replication

import (
	"errors"
	"testing"

	"sequent/core"
	"sequent/wal"
)

// TestWelcomeNamesTheRulesVersion holds that a primary's welcome names the newest rules
// version its build writes (byte 1, core "Rules version"), so that a standby of a build
// that knows no rules versions refuses it (its check of the welcome's reserved bytes)
// instead of following a log whose upgrade_rules it would skip and diverging silently;
// and that a standby takes a welcome at its own version or below (0: a primary of a build
// before versions, for the standby-first upgrade) and refuses one above it.
func TestWelcomeNamesTheRulesVersion(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := &Primary{config: PrimaryConfig{Log: log, Shard: newTestShard(t),
		SnapshotDir: t.TempDir()}}
	w, err := p.plan(&hello{})
	if err != nil {
		t.Fatal(err)
	}
	body := w.encode()
	if body[1] != byte(core.RulesVersionCurrent) {
		t.Fatalf("the welcome names rules version %d, want %d", body[1],
			core.RulesVersionCurrent)
	}
	for version := range byte(core.RulesVersionCurrent) + 1 {
		edited := append([]byte(nil), body...)
		edited[1] = version
		if _, err := decodeWelcome(edited); err != nil {
			t.Fatalf("welcome at rules version %d: %v", version, err)
		}
	}
	newer := append([]byte(nil), body...)
	newer[1] = byte(core.RulesVersionCurrent) + 1
	if _, err := decodeWelcome(newer); !errors.Is(err, ErrFrame) {
		t.Fatalf("welcome of a primary at a newer rules version: %v, want ErrFrame", err)
	}
}
