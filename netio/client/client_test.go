package client

import (
	"errors"
	"testing"

	"sequent/core/model"
)

// TestChunks checks the batching split: runs of at most EventsPerRequestMax events, a
// linked chain never cut (it moves whole into the next run), and a chain longer than a
// request refused.
func TestChunks(t *testing.T) {
	const max = model.EventsPerRequestMax
	none := func(int) bool { return false }
	runs, err := chunks(nil, 2*max+1, none)
	if err != nil || len(runs) != 3 || runs[0] != [2]int{0, max} ||
		runs[2] != [2]int{2 * max, 2*max + 1} {
		t.Fatalf("plain split: %v %v", runs, err)
	}
	chain := func(i int) bool { return i >= max-5 && i < max+5 } // Events max-5..max+5.
	runs, err = chunks(nil, 2*max, chain)
	if err != nil || runs[0] != [2]int{0, max - 5} || runs[1][0] != max-5 {
		t.Fatalf("chain split: %v %v", runs, err)
	}
	if runs, err := chunks(nil, 0, none); err != nil || len(runs) != 0 {
		t.Fatalf("empty: %v %v", runs, err)
	}
	if _, err := chunks(nil, max+1, func(int) bool { return true }); !errors.Is(err, ErrChainTooLong) {
		t.Fatalf("chain too long: %v", err)
	}
}

// TestExpectedReplyBytes checks the window estimate per operation shape.
func TestExpectedReplyBytes(t *testing.T) {
	cases := []struct {
		operation model.Operation
		flags     uint8
		body      int
		want      int64
	}{
		{model.OperationCreateTransfers, 0, 10 * model.TransferSize, 48 + 10*16},
		{model.OperationCreateTransfers, requestFlagReplyBalances, model.TransferSize, 48 + 144},
		{model.OperationLookupAccounts, 0, 3 * model.IDSize, 48 + 3*128},
		{model.OperationGetAccountTransfers, 0, model.AccountFilterSize, 48 + 8189*128},
	}
	for _, c := range cases {
		if got := expectedReplyBytes(c.operation, c.flags, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.operation, got, c.want)
		}
	}
}
