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
	"sequent/netio/client"
)

// TestSettleClock50VoidedFirstWhenTheClockRunsAhead: settlement 900 (timeout an hour) is
// in flight on the log; the command's clock runs two hours ahead of the log's, so it
// judges 900 expired. Booking the window again with 910 used to book it at once, and the
// partner could then confirm both 900 and 910: paid twice. Now the command voids 900 first
// (void 911, the id after the settlements') and books 910 because that void took: the
// partner's confirmation of 900 is refused, 910's goes through. On a node of two shards
// the void reaches the partner's shard (1, not the first).
func TestSettleClock50VoidedFirstWhenTheClockRunsAhead(t *testing.T) {
	for _, shards := range []int{1, 2} {
		t.Run(strconv.Itoa(shards)+" shards", func(t *testing.T) {
			customer, partner, via := uint64(10), uint64(50), uint64(90)
			if shards == 2 {
				customer, partner, via = 1010, 1050, 1090 // Shard 1.
			}
			ctx, c, book := settlementWithTimeout(t, shards, customer, partner, via)
			aheadOfTheLog(t)
			output, err := book("910")
			if err != nil {
				t.Fatalf("%d shards: booking again: %v\n%s", shards, err, output)
			}
			if status := confirm(t, ctx, c, 950, 900, partner); status != model.StatusPendingTransferAlreadyVoided {
				t.Fatalf("%d shards: the partner confirms 900 after 910 is booked: %s\n%s", shards,
					status, output)
			}
			want := []string{"void 911 sent first, created",
				"settlement 910 (ledger 1, 700 " + strconv.FormatUint(partner, 10) + " → " +
					strconv.FormatUint(via, 10) + "): created",
				"booked: ledger 1; already booked: none; refused: none"}
			for _, text := range want {
				if !strings.Contains(output, text) {
					t.Fatalf("%d shards: booking again does not say %q:\n%s", shards, text, output)
				}
			}
			if status := confirm(t, ctx, c, 951, 910, partner); status != model.StatusOK {
				t.Fatalf("%d shards: the partner confirms 910: %s", shards, status)
			}
		})
	}
}

// TestSettleClock50VoidRefusedBooksNothing: when the void sent first is refused for any
// other reason than voided, expired or posted (here its id, 911, is another transfer's:
// exists_with_different_…), settlement 900 may still be confirmed, so the ledger is not
// booked: the run says so (--json: the ledger refused, with the void's answer) and exits
// 1, and the partner is paid once, by 900.
func TestSettleClock50VoidRefusedBooksNothing(t *testing.T) {
	ctx, c, book := settlementWithTimeout(t, 1, 10, 50, 90)
	createOK(t, ctx, c, model.Transfer{ID: model.U128(911), DebitAccountID: model.U128(10),
		CreditAccountID: model.U128(90), Amount: model.U128(1), Ledger: 1, Code: 1})
	aheadOfTheLog(t)
	output, err := book("910", "--json")
	if !errors.Is(err, errEventsFailed) {
		t.Fatalf("a ledger not booked exits %v:\n%s", err, output)
	}
	var report struct { // What settle --json prints of the booking.
		Booked      []json.RawMessage    `json:"booked"`
		Voided      []json.RawMessage    `json:"voided"`
		Settlements []settlementLineJSON `json:"settlements"`
	}
	if err := json.Unmarshal([]byte(output), &report); err != nil {
		t.Fatalf("%v:\n%s", err, output)
	}
	if len(report.Settlements) != 1 || len(report.Booked) != 0 || len(report.Voided) != 1 {
		t.Fatalf("settlements %+v, booked %+v, voided %+v", report.Settlements,
			report.Booked, report.Voided)
	}
	line := report.Settlements[0]
	if line.ID != "900" || line.Outcome != outcomeRefused || len(line.VoidedFirst) != 1 ||
		line.VoidedFirst[0].ID != "911" || line.VoidedFirst[0].PendingID != "900" ||
		!strings.HasPrefix(line.Status, "exists_with_different") ||
		line.VoidedFirst[0].Status != line.Status {
		t.Fatalf("ledger 1's line %+v", line)
	}
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(910)})
	if err != nil || len(found) != 0 {
		t.Fatalf("settlement 910 booked: %+v (%v)", found, err)
	}
	if status := confirm(t, ctx, c, 950, 900, 50); status != model.StatusOK {
		t.Fatalf("the partner confirms 900: %s", status)
	}
}

// settlementWithTimeout starts a settlement node of shards where the customer's transfer
// credits the partner 7.00 on ledger 1, takes a cut-off after it, books its window as
// settlement 900 with a timeout of an hour, and returns a context bounded to a minute,
// the client, and book, which books that window again with a --settlement-id and more
// flags.
func settlementWithTimeout(t *testing.T, shards int, customer, partner, via uint64) (
	context.Context, *client.Client, func(id string, flags ...string) (string, error)) {
	t.Helper()
	_, c, common := settleNode(t, shards)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	createOK(t, ctx, c, model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(customer),
		CreditAccountID: model.U128(partner), Amount: model.U128(700), Ledger: 1, Code: 1})
	time.Sleep(time.Millisecond) // The cut-off after the transfer's timestamp.
	cutoff := strconv.FormatInt(time.Now().UnixNano(), 10)
	time.Sleep(time.Millisecond) // The booking after the cut-off, as it would be.
	book := func(id string, flags ...string) (string, error) {
		args := []string{"settle", "--partner", strconv.FormatUint(partner, 10), "--until",
			cutoff, "--book", "--via", strconv.FormatUint(via, 10), "--settlement-id", id,
			"--code", "9", "--timeout-seconds", "3600"}
		return runRoot(t, append(append(args, flags...), common...)...)
	}
	if output, err := book("900"); err != nil || !strings.Contains(output, "booked: ledger 1;") {
		t.Fatalf("first booking: %v\n%s", err, output)
	}
	return ctx, c, book
}

// aheadOfTheLog sets the command's clock two hours ahead of the log's (the node's clock)
// for the rest of the test: a settlement of a timeout of an hour booked now has expired by
// it, and not on the log.
func aheadOfTheLog(t *testing.T) {
	settleClock = func() time.Time { return time.Now().Add(2 * time.Hour) }
	t.Cleanup(func() { settleClock = time.Now })
}

// confirm posts the whole of a pending settlement of the partner (its debit account, which
// places the post on a node's shard), as the partner would, and returns the ledger's
// answer.
func confirm(t *testing.T, ctx context.Context, c *client.Client, id, settlement,
	partner uint64) model.Status {
	t.Helper()
	results, err := c.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(id),
		PendingID: model.U128(settlement), Amount: model.Uint128Max,
		DebitAccountID: model.U128(partner), Flags: model.TransferPostPending}})
	if err != nil {
		t.Fatal(err)
	}
	return results[0].Status
}
