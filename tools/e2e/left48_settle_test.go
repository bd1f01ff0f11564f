package e2e

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
)

// TestSettleExpiredPendingTransfer: README "Settlement netting", end to end on a real
// server through the binary: a pending transfer to the partner is in flight at a cut-off
// before its timeout's deadline and not at one after it (the ledger refuses to post it
// then); and a booked settlement that expired unconfirmed does not count as one in
// flight, so the same window can be booked again.
func TestSettleExpiredPendingTransfer(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data, freePort(t))
	c := dial(t, data, 1, s.address)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(50), Ledger: 1, Code: 2}, {ID: model.U128(90), Ledger: 1, Code: 1}}); err != nil {
		t.Fatal(err)
	}
	expiring := model.Transfer{ID: model.U128(500), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(50), Amount: model.U128(700), Ledger: 1, Code: 1,
		Flags: model.TransferPending, Timeout: 1}
	open := model.Transfer{ID: model.U128(501), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(50), Amount: model.U128(300), Ledger: 1, Code: 1,
		Flags: model.TransferPending}
	posted := model.Transfer{ID: model.U128(502), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(50), Amount: model.U128(400), Ledger: 1, Code: 1}
	results, err := c.CreateTransfers(ctx, []model.Transfer{expiring, open, posted})
	if err != nil {
		t.Fatal(err)
	}
	for _, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("transfers: %+v", results)
		}
	}
	found, err := c.LookupTransfers(ctx, []model.Uint128{expiring.ID, open.ID, posted.ID})
	if err != nil || len(found) != 3 {
		t.Fatalf("lookup of 500 to 502: %v %v", found, err)
	}
	created := found[2].Timestamp // The three are in the window from the last one's on.
	deadline := found[0].Timestamp + uint64(time.Second)
	on := []string{"--addr", s.address, "--keys", filepath.Join(data, "keys.json")}
	settle := func(until uint64, extra ...string) (string, int) {
		return exitCode(t, append(append([]string{"settle", "--partner", "50", "--until",
			strconv.FormatUint(until, 10)}, on...), extra...)...)
	}
	for _, cut := range []struct {
		until    uint64
		inFlight string
	}{{created, "1000"}, {deadline - 1, "1000"}, {deadline, "300"}} {
		output, code := settle(cut.until, "--json")
		if code != 0 || !strings.Contains(output, `"net": "400"`) ||
			!strings.Contains(output, `"in_flight_credits": "`+cut.inFlight+`"`) {
			t.Fatalf("cut-off %d ns before the deadline: exit %d, want net 400 and %s "+
				"in flight\n%s", int64(deadline-cut.until), code, cut.inFlight, output)
		}
	}

	// A settlement of the window up to the deadline, booked once the deadline has passed
	// (stamped after the cut-off) to expire after a second, left unconfirmed, then booked
	// again once it expired.
	waitPast := func(timestamp uint64) {
		for time.Now().UnixNano() <= int64(timestamp) {
			time.Sleep(50 * time.Millisecond) // Bounded: the timestamps are a second ahead.
		}
	}
	waitPast(deadline)
	output, code := settle(deadline, "--book", "--via", "90", "--settlement-id", "5000",
		"--code", "7", "--timeout-seconds", "1")
	if code != 0 || !strings.Contains(output, "settlement 5000") {
		t.Fatalf("settle --book: exit %d\n%s", code, output)
	}
	found, err = c.LookupTransfers(ctx, []model.Uint128{model.U128(5000)})
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup of the settlement: %v %v", found, err)
	}
	booked := found[0].Timestamp
	// Whether a booking while 5000 is still in flight is refused is not asked here: on a
	// loaded machine its second may pass before the command runs.
	waitPast(booked + uint64(time.Second))
	output, code = settle(deadline, "--book", "--via", "90", "--settlement-id", "5001",
		"--code", "7")
	if code != 0 || !strings.Contains(output, "settlement 5001") {
		t.Fatalf("settle --book after the first booking expired: exit %d\n%s", code, output)
	}
}
