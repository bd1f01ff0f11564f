package client

import (
	"context"
	"math"
	"testing"

	"sequent/core/model"
)

// TestDialWithReplyBytesUnbounded: Validate accepts any InflightBytesMax that is not
// negative, and math.MaxInt is how a caller says "no bound on reply bytes" (x/sync's
// semaphore took any int64). Dial must then connect, and a merged one-transfer call and
// a plain request must go through, not panic in the window's constructor (its packed
// word holds sizes below 1<<weightedWaiterShift).
func TestDialWithReplyBytesUnbounded(t *testing.T) {
	s := startTestServer(t)
	c := s.dial(t, func(config *Config) { config.InflightBytesMax = math.MaxInt })
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(1, 1, 2, 1, 0)})
	if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
		t.Fatalf("one transfer: %v %v", results, err)
	}
	found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(1)})
	if err != nil || len(found) != 1 {
		t.Fatalf("lookup: %v %v", found, err)
	}
}
