package replication

import (
	"net"
	"testing"
	"time"

	"sequent/wal"
)

// TestStandbyNeverHeardStaysQuietSinceTheStart: a sync primary that has not heard a
// standby since it started (StartPrimary: gone since the start, lastContactNs 0) attaches
// one (current set by the CompareAndSwap), which then spends the welcome and a snapshot
// transfer (minutes for a large state) before it is first heard. Meanwhile nothing
// acknowledges: the standby is quiet since the start, and the DegradeAfter clock keeps
// running. It used to count as acknowledging (the never-set last contact, 0, read as "not
// quiet"), so the primary held writes for the whole transfer whatever DegradeAfter; and
// when such a session ended before it was heard, detach restarted the clock at the drop
// (a standby that keeps failing its catch-up kept the primary from ever degrading).
func TestStandbyNeverHeardStaysQuietSinceTheStart(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := StartPrimary(PrimaryConfig{Shard: newTestShard(t), Log: log, Mode: ModeAsync,
		Logger: testLogger}) // Async: its watchDegradation does nothing here.
	defer p.Close()
	started := time.Now().Add(-time.Minute).UnixNano() // Started a minute ago, alone.
	p.goneSince.Store(started)
	conn, peer := net.Pipe()
	defer peer.Close()
	s := &primarySession{conn: conn}
	if !p.current.CompareAndSwap(nil, s) { // handleHello's attach, before its handshake.
		t.Fatal("attach refused")
	}
	if quiet := p.standbyQuietSince(time.Now().UnixNano()); quiet != started {
		t.Errorf("attached, never heard: quiet since %d, want since the start (%d): "+
			"0 counts it as acknowledging", quiet, started)
	}
	if p.Stats().Attached {
		t.Error("a standby never heard counts as attached (acknowledging)")
	}
	p.detach(s) // Its catch-up failed before it was heard.
	if quiet := p.standbyQuietSince(time.Now().UnixNano()); quiet != started {
		t.Fatalf("detached before it was heard: quiet since %v after the start, want since "+
			"the start: the DegradeAfter clock restarted at the drop",
			time.Duration(quiet-started))
	}
}

// TestSyncPrimaryDegradesWhileItsFirstStandbyIsNotHeardYet: the same, seen from
// watchDegradation: a sync primary alone for longer than DegradeAfter, whose first
// standby is attached but not heard yet (welcome, snapshot), degrades instead of holding
// writes until the standby is first heard.
func TestSyncPrimaryDegradesWhileItsFirstStandbyIsNotHeardYet(t *testing.T) {
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	p := StartPrimary(PrimaryConfig{Shard: newTestShard(t), Log: log, Mode: ModeSync,
		DegradeAfter: 10 * time.Second, Logger: testLogger})
	defer p.Close()
	conn, peer := net.Pipe()
	defer peer.Close()
	s := &primarySession{conn: conn}
	// Alone since a minute ago (past DegradeAfter), then a standby attaches; both stores
	// happen before the first degradation check can see a quiet standby, so it degrades
	// only through the attached, never heard, standby.
	p.current.Store(s)
	p.goneSince.Store(time.Now().Add(-time.Minute).UnixNano())
	deadline := time.Now().Add(time.Minute) // A hang guard, not a timing assertion.
	for !p.Degraded() {
		if time.Now().After(deadline) {
			t.Fatalf("a sync primary alone for a minute, its standby attached but never "+
				"heard, never degraded (DegradeAfter 10s): stats %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}
