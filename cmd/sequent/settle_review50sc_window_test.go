package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestReview50SCFutureCutoffBooksOverALiveSettlement: the command's own run, no clock
// skew at all. A window whose cut-off is after the log's time (`--until` a far-future end,
// which hunt49 says operators give, or `now` on a clock ahead of the log's) holds the
// settlement booked for it, 900 (timeout an hour). Run again, the netting judges 900
// expired at the cut-off (two hours on), not at any log time, so 900 is not in flight and
// not booked after the cut-off: the run books 910, and the partner confirms 900 and 910.
// Claim: paid twice; a settlement the log may still let the partner confirm must not be
// booked over, wherever it sits relative to the cut-off.
func TestReview50SCFutureCutoffBooksOverALiveSettlement(t *testing.T) {
	ctx, c, book := futureCutoffBooked(t)
	output, _ := book("910")
	if !strings.Contains(output, "booked: ledger 1;") {
		return // Not booked again: the partner cannot be paid twice this way.
	}
	first, second := confirm(t, ctx, c, 950, 900, 50), confirm(t, ctx, c, 951, 910, 50)
	if first == model.StatusOK && second == model.StatusOK {
		t.Fatalf("the partner confirmed 900 and 910 for one window: paid twice\n%s", output)
	}
	if !strings.Contains(output, "void 911 sent first, created") {
		t.Fatalf("900 not voided first (void 911):\n%s", output)
	}
}

// TestReview50SCFutureCutoffVoidRefusedIsRefused: the same window, the void of 900 sent
// first refused (its id, 911, another transfer's): 900 may still be confirmed, so the
// ledger must be neither booked nor left out of the run's outcome. Claim: the run says
// ledger 1 refused, with the void's answer, and exits 1 (the command listed the refused
// voids' settlements only from those booked after the cut-off, and would have ended
// "refused: none", exit 0, with nothing booked).
func TestReview50SCFutureCutoffVoidRefusedIsRefused(t *testing.T) {
	ctx, c, book := futureCutoffBooked(t)
	createOK(t, ctx, c, model.Transfer{ID: model.U128(911), DebitAccountID: model.U128(10),
		CreditAccountID: model.U128(90), Amount: model.U128(1), Ledger: 1, Code: 1})
	output, err := book("910")
	if !errors.Is(err, errEventsFailed) ||
		!strings.Contains(output, "booked: none; already booked: none; refused: ledger 1") ||
		!strings.Contains(output, "void 911 sent first, ") {
		t.Fatalf("the void of 900 refused: %v\n%s", err, output)
	}
	if found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(910)}); err != nil ||
		len(found) != 0 {
		t.Fatalf("settlement 910 booked: %+v (%v)", found, err)
	}
}

// futureCutoffBooked books, on a node of one shard, partner 50's window whose cut-off is
// two hours after the log's time (its only transfer credits 50 with 700) with settlement
// 900 (timeout an hour), and returns the booking, to run again.
func futureCutoffBooked(t *testing.T) (context.Context, *client.Client,
	func(id string, flags ...string) (string, error)) {
	t.Helper()
	_, c, common := settleNode(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	createOK(t, ctx, c, model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(10),
		CreditAccountID: model.U128(50), Amount: model.U128(700), Ledger: 1, Code: 1})
	cutoff := strconv.FormatInt(time.Now().Add(2*time.Hour).UnixNano(), 10)
	book := func(id string, flags ...string) (string, error) {
		return runRoot(t, append(append([]string{"settle", "--partner", "50", "--until",
			cutoff, "--book", "--via", "90", "--settlement-id", id, "--code", "9",
			"--timeout-seconds", "3600"}, flags...), common...)...)
	}
	if output, err := book("900"); err != nil || !strings.Contains(output, "booked: ledger 1;") {
		t.Fatalf("first booking: %v\n%s", err, output)
	}
	return ctx, c, book
}
