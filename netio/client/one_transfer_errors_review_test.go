package client

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"sequent/core/model"
)

// TestOneTransferCallFailsAsTheGeneralPath: a merged call of one transfer takes its own
// path (createTransfer) and must fail exactly as the general one (createTransfers, with
// its batch) fails for the same transfer in the same situation: the same kind of error
// (bare, or an *OutcomeUnknownError, numbered or not), wrapping the same cause. Each
// situation is set up afresh for each path, for CreateTransfersInto's flags and for
// CreateTransfersWithBalances' (whose failed one-transfer call returns no results).
func TestOneTransferCallFailsAsTheGeneralPath(t *testing.T) {
	type path struct {
		name string
		call func(ctx context.Context, c *Client, one model.Transfer, flags uint8) error
	}
	paths := []path{
		{"createTransfer", func(ctx context.Context, c *Client, one model.Transfer,
			flags uint8) error {
			if flags == 0 {
				var results [1]model.EventResult
				return c.CreateTransfersInto(ctx, []model.Transfer{one}, results[:])
			}
			results, err := c.CreateTransfersWithBalances(ctx, []model.Transfer{one})
			if err != nil && results != nil {
				return fmt.Errorf("results %v beside the error %w", results, err)
			}
			return err
		}},
		{"createTransfers", func(ctx context.Context, c *Client, one model.Transfer,
			flags uint8) error {
			size := model.EventResultSize
			if flags != 0 {
				size = model.EventResultBalancesSize
			}
			return c.createTransfers(ctx, []model.Transfer{one}, flags, size,
				func(int, []byte) {})
		}},
	}
	// Each situation returns the error of one call of the transfer through call.
	situations := []struct {
		name string
		run  func(t *testing.T, flags uint8, call func(context.Context, *Client,
			model.Transfer, uint8) error) error
	}{
		{"client closed", func(t *testing.T, flags uint8, call func(context.Context,
			*Client, model.Transfer, uint8) error) error {
			c := startTestServer(t).dial(t, nil)
			createTestAccounts(t, c)
			_ = c.Close()
			return call(context.Background(), c, transfer(700, 1, 2, 1, 0), flags)
		}},
		{"context ended alone, not sent", func(t *testing.T, flags uint8,
			call func(context.Context, *Client, model.Transfer, uint8) error) error {
			s, c, ctx, _ := heldWindow(t, 700)
			t.Cleanup(s.backend.Resume) // Before the server's shutdown (LIFO).
			ended, end := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- call(ended, c, transfer(701, 1, 2, 1, 0), flags) }()
			waitFor(t, c, "the caller's request forming", func() bool {
				return len(c.forming) == 1
			})
			end()
			return <-done
		}},
		{"context ended, left to another caller", func(t *testing.T, flags uint8,
			call func(context.Context, *Client, model.Transfer, uint8) error) error {
			s, c, ctx, _ := heldWindow(t, 700)
			t.Cleanup(s.backend.Resume) // Before the server's shutdown (LIFO).
			go func() { _ = call(ctx, c, transfer(701, 1, 2, 1, 0), flags) }()
			waitFor(t, c, "the other caller's request forming", func() bool {
				return len(c.forming) == 1
			})
			ended, end := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- call(ended, c, transfer(702, 1, 2, 1, 0), flags) }()
			waitFor(t, c, "the caller joining it", func() bool {
				for _, forming := range c.forming {
					return forming.waiters == 2
				}
				return false
			})
			end()
			return <-done
		}},
		{"context ended in flight", func(t *testing.T, flags uint8, call func(context.Context,
			*Client, model.Transfer, uint8) error) error {
			s := startTestServer(t)
			c := s.dial(t, nil)
			createTestAccounts(t, c)
			s.backend.Pause()
			t.Cleanup(s.backend.Resume)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			ended, end := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- call(ended, c, transfer(701, 1, 2, 1, 0), flags) }()
			waitFor(t, c, "the request in flight", func() bool {
				for _, pending := range c.pending {
					return pending.frame != nil
				}
				return false
			})
			end()
			return <-done
		}},
	}
	for _, situation := range situations {
		for _, flags := range []uint8{0, requestFlagReplyBalances} {
			t.Run(fmt.Sprintf("%s/flags=%d", situation.name, flags), func(t *testing.T) {
				var kinds [2]string
				for i, path := range paths {
					kinds[i] = errorKind(situation.run(t, flags, path.call))
				}
				t.Logf("%s", kinds[0])
				if kinds[0] != kinds[1] {
					t.Errorf("%s: %s; %s: %s", paths[0].name, kinds[0], paths[1].name,
						kinds[1])
				}
				if kinds[0] == "nil" {
					t.Errorf("no error: the situation did not happen")
				}
			})
		}
	}
}

// errorKind describes err as a caller tells errors apart: nil, an *OutcomeUnknownError
// (numbered or not, with its status) or a bare error, and the cause either wraps.
func errorKind(err error) string {
	if err == nil {
		return "nil"
	}
	cause := "other: " + err.Error()
	switch {
	case errors.Is(err, ErrClosed):
		cause = "ErrClosed"
	case errors.Is(err, context.Canceled):
		cause = "context.Canceled"
	}
	var unknown *OutcomeUnknownError
	if errors.As(err, &unknown) {
		return fmt.Sprintf("*OutcomeUnknownError{numbered %t, %s} wrapping %s",
			unknown.Number != 0, unknown.Status, cause)
	}
	return "bare " + cause
}
