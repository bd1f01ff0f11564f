package e2e

import (
	"testing"
	"time"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/node"
	"sequent/wal"
)

// clockAheadOfTheServer is how far the log's last timestamp is put ahead of the wall
// clock in TestHunt53cServerStartsWithItsClockBehindTheLog: an NTP step back or a VM
// restored from an image an hour old.
const clockAheadOfTheServer = time.Hour

// TestHunt53cServerStartsWithItsClockBehindTheLog: a real server restarts with its wall
// clock behind the log's last timestamp, and that entry took no timestamp of its own (a
// pulse, which the server writes while idle with a pending transfer). The log is stamped
// an hour ahead by appending that pulse with the wal package while the server is stopped:
// the server's clock is then an hour behind its log, as after an NTP step back across a
// restart. Before the fix the first write after the restart repeated the log's last
// timestamp and the log's chain check panicked (the process died, at every restart, until
// the clock caught up). The server must take the write, stamp it above the log, and keep
// every acknowledged transfer across a SIGKILL; `sequent wal verify` checks the chain.
func TestHunt53cServerStartsWithItsClockBehindTheLog(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t), "--snapshot-every", "0")
	c := dial(t, data, 1, s.address)
	createNumberedAccounts(t, c, 2)
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateTransfers(ctx, []model.Transfer{transfer(1, 1, 2, 5)}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.stop()

	future := appendPulseAhead(t, node.Layout{Dir: data}.LogDir(0), clockAheadOfTheServer)
	s.restart()
	c = dial(t, data, 2, s.address)
	ctx, cancel = context30s()
	defer cancel()
	results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(2, 1, 2, 7)})
	if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
		t.Fatalf("write with the clock behind the log: %v %+v\nserver output:\n%s", err,
			results, s.output.String())
	}
	s.kill()
	s.restart()
	c = dial(t, data, 3, s.address)
	ctx, cancel = context30s()
	defer cancel()
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(1), model.U128(2)})
	if err != nil || len(found) != 2 {
		t.Fatalf("after a SIGKILL: %v, %d of 2 transfers", err, len(found))
	}
	if found[1].Timestamp <= future {
		t.Fatalf("transfer 2 stamped %d, not after the log's last entry at %d", found[1].Timestamp, future)
	}
	accounts, err := c.LookupAccounts(ctx, []model.Uint128{model.U128(1)})
	if err != nil || len(accounts) != 1 || accounts[0].DebitsPosted.Lo != 12 {
		t.Fatalf("account 1 after a SIGKILL: %v %+v, want 12 debited", err, accounts)
	}
	s.stop()
	if output, err := run(t, "wal", "verify", data); err != nil {
		t.Fatalf("wal verify: %v\n%s", err, output)
	}
}

// appendPulseAhead appends to the stopped server's log a pulse (an internal request that
// takes no timestamp) stamped ahead of the wall clock, and returns its timestamp.
func appendPulseAhead(t *testing.T, dir string, ahead time.Duration) uint64 {
	t.Helper()
	log, err := wal.Open(wal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var last wal.Entry
	if err := log.Read(0, func(e *wal.Entry) error { last = *e; return nil }); err != nil {
		t.Fatal(err)
	}
	future := max(last.Timestamp+1, uint64(time.Now().Add(ahead).UnixNano()))
	body := core.AppendRequest(nil, &core.Request{Operation: model.OperationPulse})
	if err := log.Append(wal.Entry{Epoch: last.Epoch, FirstOp: log.LastOp() + 1, Count: 1,
		Timestamp: future, Body: body}); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	return future
}
