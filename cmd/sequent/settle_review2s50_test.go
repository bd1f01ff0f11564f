package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
)

// TestReview2S50JSONPrintedWhenTheRunFailsAfterItsVoids: a window whose cut-off is two
// hours ahead of the log holds its settlement 900 (timeout an hour), which the cut-off
// alone judges expired, so the rerun voids it first; here the partner confirms 900 after
// the window was read and before the void arrives (the command's clock is read in
// between, which is where the test confirms it). The void answers already posted, the
// window's net is stale and nothing is booked: exit 1, rightly. Claim: `--json` printed
// nothing to stdout, though the run had sent a void (the answers only in the error text),
// and --help lists "voided", the ledger's answers to the voids; the document must be
// printed, with the void and its answer, and the ledger refused.
func TestReview2S50JSONPrintedWhenTheRunFailsAfterItsVoids(t *testing.T) {
	ctx, c, book := futureCutoffBooked(t)
	confirmed := model.Status(0)
	settleClock = func() time.Time {
		if confirmed == 0 { // The partner confirms 900 once the window is read.
			confirmed = confirm(t, ctx, c, 950, 900, 50)
		}
		return time.Now()
	}
	t.Cleanup(func() { settleClock = time.Now })
	output, err := book("910", "--json")
	if confirmed != model.StatusOK || err == nil || errors.As(err, new(usageError)) {
		t.Fatalf("the partner's confirmation %s; the run: %v (want exit 1)\n%s", confirmed,
			err, output)
	}
	var report struct {
		Positions   []json.RawMessage `json:"positions"`
		Booked      []json.RawMessage `json:"booked"`
		Voided      []struct{ Status string }
		Settlements []settlementLineJSON `json:"settlements"`
	}
	if err := json.Unmarshal([]byte(output), &report); err != nil {
		t.Fatalf("settle --json after sending a void printed no document (%v):\n%s", err,
			output)
	}
	if len(report.Positions) != 1 || len(report.Booked) != 0 || len(report.Voided) != 1 ||
		report.Voided[0].Status != model.StatusPendingTransferAlreadyPosted.String() ||
		!slicesContainOutcome(report.Settlements, 1, outcomeRefused) {
		t.Fatalf("positions %d, booked %d, voided %+v, settlements %+v:\n%s",
			len(report.Positions), len(report.Booked), report.Voided, report.Settlements,
			output)
	}
}

func slicesContainOutcome(lines []settlementLineJSON, ledger uint32, outcome string) bool {
	for _, line := range lines {
		if line.Ledger == ledger && line.Outcome == outcome {
			return true
		}
	}
	return false
}

// TestReview2S50RefusedLedgerNamedOnce: ledger 1 holds two settlements of the cut-off in
// flight, 900 (booked by the command) and 901 (booked by hand with the settlement's kind),
// both judged expired by the command's clock only (two hours ahead of the log), so the
// rerun voids both first; both voids are refused (their ids, 911 and 912, are other
// transfers'). Claim: the summary said "refused: ledgers 1, 1" (a ledger per refused
// void), and each settlement's line listed the other's void as its own; a ledger is named
// once, and a settlement's line lists its own void only.
func TestReview2S50RefusedLedgerNamedOnce(t *testing.T) {
	ctx, c, book := settlementWithTimeout(t, 1, 10, 50, 90)
	booked, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(900)})
	if err != nil || len(booked) != 1 {
		t.Fatalf("settlement 900: %+v (%v)", booked, err)
	}
	other := booked[0]
	other.ID, other.Timestamp = model.U128(901), 0
	createOK(t, ctx, c, other)
	for _, id := range []uint64{911, 912} {
		createOK(t, ctx, c, model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(10),
			CreditAccountID: model.U128(90), Amount: model.U128(1), Ledger: 1, Code: 1})
	}
	aheadOfTheLog(t)
	output, err := book("910")
	if !errors.Is(err, errEventsFailed) ||
		!strings.Contains(output, "booked: none; already booked: none; refused: ledger 1\n") {
		t.Fatalf("two voids of ledger 1 refused: %v\n%s", err, output)
	}
	output, _ = book("910", "--json")
	var report struct {
		Settlements []settlementLineJSON `json:"settlements"`
	}
	if err := json.Unmarshal([]byte(output), &report); err != nil {
		t.Fatalf("%v:\n%s", err, output)
	}
	for _, line := range report.Settlements {
		if len(line.VoidedFirst) != 1 || line.VoidedFirst[0].PendingID != line.ID {
			t.Fatalf("settlement %s's line lists the voids %+v:\n%s", line.ID,
				line.VoidedFirst, output)
		}
	}
}

// TestReview2S50ShardCheckBeforeTheVoids: on a node of two shards, partner 1050 (shard 1)
// has settlement 900 in flight (via 1090, shard 1), judged expired by the command's clock
// only (two hours ahead). The rerun names --via 90, ledger 1's account on shard 0 only:
// the settlement would span shards, which the command refuses with exit 2, "a booking
// refused before anything was sent", "nothing was booked". Claim: it checked that after
// sending the void of 900 first: 900 was voided (the partner can no longer confirm it)
// and the run said nothing of it (no void in its output, exit 2); the shards must be
// checked before anything is sent.
func TestReview2S50ShardCheckBeforeTheVoids(t *testing.T) {
	_, c, common := settleNode(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createOK(t, ctx, c, model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(1010),
		CreditAccountID: model.U128(1050), Amount: model.U128(700), Ledger: 1, Code: 1})
	time.Sleep(time.Millisecond) // The cut-off after the transfer's timestamp.
	cutoff := strconv.FormatInt(time.Now().UnixNano(), 10)
	time.Sleep(time.Millisecond) // The booking after the cut-off, as it would be.
	book := func(id, via string) (string, error) {
		return runRoot(t, append([]string{"settle", "--partner", "1050", "--until", cutoff,
			"--book", "--via", via, "--settlement-id", id, "--code", "9",
			"--timeout-seconds", "3600"}, common...)...)
	}
	if output, err := book("900", "1090"); err != nil ||
		!strings.Contains(output, "booked: ledger 1;") {
		t.Fatalf("first booking: %v\n%s", err, output)
	}
	aheadOfTheLog(t)
	output, err := book("910", "90")
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "across shards") {
		t.Fatalf("--via on the other shard: %v\n%s", err, output)
	}
	if status := confirm(t, ctx, c, 950, 900, 1050); status != model.StatusOK {
		t.Fatalf("a booking refused before anything was sent (exit 2, %q) had voided "+
			"settlement 900: the partner's confirmation answers %s", err, status)
	}
}
