package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestHunt44aSettleBookingTwiceForOneWindow: README ("Settlement netting") says a booked
// settlement stays in flight until the partner confirms or disputes it and that booking
// again while one is in flight is refused. The check looked only at the report's own
// window, and a settlement is booked after its window's cut-off, so running the same
// booking again (the same window: a retried script, a second operator) with another
// --settlement-id booked the partner's payable a second time: two pending settlements of
// the same 7.00, both confirmable.
func TestHunt44aSettleBookingTwiceForOneWindow(t *testing.T) {
	ctx, c, book := windowBookedOnce(t)
	output, err := book("910")
	booked, lookup := c.LookupTransfers(ctx, []model.Uint128{model.U128(900), model.U128(910)})
	if lookup != nil || len(booked) != 1 {
		t.Fatalf("the same window booked twice while the first settlement is in flight "+
			"(%d settlements, err %v, %v):\n%s", len(booked), err, lookup, output)
	}
	// Since session 50 the same window booked again is not refused: the run says its
	// settlement is already booked and books the ledgers still without one (none here).
	if err != nil || !strings.Contains(output,
		"settlement 900 (ledger 1, 700 50 → 90): already booked for this cut-off (in flight)") {
		t.Fatalf("the run does not say the window is already booked (%v):\n%s", err, output)
	}
}

// TestHunt44aSettleOfAnIDOnTwoLedgersIsNotHalfCounted: with accounts placed by ledger, one
// id may name an account on each of two ledgers, on two shards (README, "Risk rules on a
// node of several shards"). The node answers an account's transfers from the first shard
// that knows the id, so `sequent settle --partner 50` reported ledger 1's position alone
// (net 40 payable) and left out ledger 3's 15 owed to the same partner, while the
// operators' endpoint refused the query: the command and the endpoint must not differ, and
// neither may report a partial position as the partner's.
func TestHunt44aSettleOfAnIDOnTwoLedgersIsNotHalfCounted(t *testing.T) {
	running, _, run, common := twoShardNode(t) // Ledgers 1, 2 on shard 0; 3, 4 on shard 1.
	run("create-accounts", "50", "--ledger", "1", "--code", "1")
	run("create-accounts", "50", "--ledger", "3", "--code", "1")
	run("transfer", "--id", "1", "--debit", "11", "--credit", "50", "--amount", "40",
		"--ledger", "1", "--code", "1")
	run("transfer", "--id", "2", "--debit", "13", "--credit", "50", "--amount", "15",
		"--ledger", "3", "--code", "1")
	// Each refuses the query, naming the shared id: a refusal for any other reason (a
	// node that did not start, a flag misread) shows nothing about this case.
	if report, err := settlementOf(t, running, []uint64{50}, "", "now"); err == nil {
		t.Errorf("the endpoint reported\n%s", positionFigures(report))
	} else if !strings.Contains(err.Error(), "account 50 is on shards 0 and 1") {
		t.Errorf("the endpoint refused the query, not for the shared id: %v", err)
	}
	output, err := runRoot(t, append([]string{"settle", "--partner", "50", "--until", "now"},
		common...)...)
	if err == nil && !strings.Contains(output, "ledger 3") {
		t.Fatalf("the command reported a position without ledger 3's 15:\n%s", output)
	}
	if err != nil && !strings.Contains(err.Error(), "account 50 is on ledgers 1 and 3") {
		t.Fatalf("the command failed, not for the shared id: %v\n%s", err, output)
	}
}

// windowBookedOnce starts a settlement node of one shard, credits partner 50 with 7.00
// from customer 10, takes a cut-off after that transfer and books the window up to it
// once, as settlement 900 via account 90. It returns a context bounded to a minute, the
// client, and book, which runs the same booking again with another --settlement-id.
func windowBookedOnce(t *testing.T) (context.Context, *client.Client,
	func(id string) (string, error)) {
	t.Helper()
	_, c, common := settleNode(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	results, err := c.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(1),
		DebitAccountID: model.U128(10), CreditAccountID: model.U128(50),
		Amount: model.U128(700), Ledger: 1, Code: 1}})
	if err != nil || results[0].Status != model.StatusOK {
		t.Fatalf("transfer: %v %+v", err, results)
	}
	time.Sleep(time.Millisecond) // The cut-off after the transfer's timestamp.
	cutoff := strconv.FormatInt(time.Now().UnixNano(), 10)
	time.Sleep(time.Millisecond) // The booking after the cut-off, as it would be.
	book := func(id string) (string, error) {
		return runRoot(t, append([]string{"settle", "--partner", "50", "--until", cutoff,
			"--book", "--via", "90", "--settlement-id", id, "--code", "9"}, common...)...)
	}
	if output, err := book("900"); err != nil || !strings.Contains(output, "settlement 900") {
		t.Fatalf("first booking: %v\n%s", err, output)
	}
	return ctx, c, book
}
