package e2e

import (
	"context"
	"errors"
	"testing"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestClientOrderReadsOnSeveralShards: PROTOCOL.md section 18, "Refused by the node": on
// a node whose instruments are on several shards, lookup_orders and a get_account_orders
// of every instrument are refused whole with instrument_shard_unknown (85), since an
// order id alone names no shard. The Go client's LookupOrders and GetAccountOrders with
// instrument 0 return no orders and an error that errors.Is matches with
// client.ErrOrderReadNeedsInstrument (and errors.As finds the *client.StatusError with
// status 85), never an empty list with no error (which a caller would read as "no open
// order"); the connection stays, and GetAccountOrders naming an instrument is answered
// by that instrument's shard.
func TestClientOrderReadsOnSeveralShards(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address, "--shards", "2", "--placement", "hash",
		"--placement-instruments", "2:1")
	c := dial(t, data, 4901, address)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	check := func(what string, orders []model.OrderState, err error) {
		t.Helper()
		var refused *client.StatusError
		if !errors.Is(err, client.ErrOrderReadNeedsInstrument) || !errors.As(err, &refused) ||
			refused.Status != model.StatusInstrumentShardUnknown || len(orders) != 0 {
			t.Fatalf("%s: %d orders, error %v; want none and an error matching "+
				"ErrOrderReadNeedsInstrument with status 85", what, len(orders), err)
		}
	}
	for round := range 2 { // The connection stays: the same again.
		orders, err := c.LookupOrders(ctx, []uint64{1, 2})
		check("LookupOrders", orders, err)
		orders, err = c.GetAccountOrders(ctx, model.OrderFilter{Account: 1, Limit: 10})
		check("GetAccountOrders of every instrument", orders, err)
		// One instrument's shard answers (instrument 2 was never created).
		orders, err = c.GetAccountOrders(ctx, model.OrderFilter{Account: 1, Instrument: 2,
			Limit: 10})
		var refused *client.StatusError
		if errors.Is(err, client.ErrOrderReadNeedsInstrument) || !errors.As(err, &refused) ||
			refused.Status != model.StatusInstrumentNotFound || len(orders) != 0 {
			t.Fatalf("round %d, GetAccountOrders of instrument 2: %d orders, error %v; want "+
				"instrument_not_found", round, len(orders), err)
		}
	}
}
