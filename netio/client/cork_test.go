package client

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"sequent/core/model"
	"sequent/netio"
)

// TestCorkHoldsABurstForOneWrite checks Cork: the requests of Go calls made while corked
// stay in the outbox (nothing is written, so none can be answered), and Uncork hands the
// whole burst to one writer pass, which writes it with one WriteTo (one writev on a TCP
// connection); every call then completes with its own result.
func TestCorkHoldsABurstForOneWrite(t *testing.T) {
	// No heartbeat within the guard: one would write the held burst early on a machine
	// that stalls the test for longer than the default interval.
	s := startTestServerWith(t, func(config *netio.Config) {
		config.HeartbeatInterval, config.SilenceTimeout = 2*waitLimit, 3*waitLimit
	})
	c := s.dial(t, func(config *Config) {
		config.HeartbeatInterval, config.SilenceTimeout = 2*waitLimit, 3*waitLimit
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const burst = 5
	done := make(chan *Call, burst)
	c.Cork()
	calls := make([]*Call, burst)
	for i := range calls {
		body := encodeTransfers([]model.Transfer{transfer(uint64(100+i), 1, 2, 1, 0)})
		calls[i] = c.Go(ctx, model.OperationCreateTransfers, 0, body, done)
	}
	c.mu.Lock()
	held, pending := len(c.outbox), len(c.pending)
	c.mu.Unlock()
	if held != burst || pending != burst {
		t.Fatalf("corked: %d frames in the outbox and %d pending, want %d and %d", held,
			pending, burst, burst)
	}
	c.Uncork()
	c.mu.Lock()
	held = len(c.outbox)
	c.mu.Unlock()
	if held != 0 {
		t.Fatalf("uncorked: %d frames still in the outbox", held)
	}
	for i, call := range calls {
		reply, err := call.Wait(ctx)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		var result model.EventResult
		result.Decode(reply.Body)
		if result.Status != model.StatusOK {
			t.Fatalf("call %d: %s", i, result.Status)
		}
	}
}

// TestCorkedCallerNeverWaitsForItself checks that a goroutine holding a cork can make
// any call: whenever it would wait inside the client (for a reply, for room in the
// window, for a merged request's reply), the requests the cork holds back are written
// first, so it never waits for a reply to a request that was never sent. Each case runs
// with the cork held throughout; a wait that deadlocks ends with the context (the
// minute's guard) and fails the case.
func TestCorkedCallerNeverWaitsForItself(t *testing.T) {
	oneTransfer := func(id uint64) []byte {
		return encodeTransfers([]model.Transfer{transfer(id, 1, 2, 1, 0)})
	}
	cases := []struct {
		name      string
		configure func(*Config)
		run       func(ctx context.Context, c *Client) error
	}{
		{"wait for a corked request", nil, func(ctx context.Context, c *Client) error {
			_, err := c.Go(ctx, model.OperationCreateTransfers, 0, oneTransfer(200), nil).
				Wait(ctx)
			return err
		}},
		{"synchronous call after corked requests", nil,
			func(ctx context.Context, c *Client) error {
				first := c.Go(ctx, model.OperationCreateTransfers, 0, oneTransfer(300), nil)
				if _, err := c.CreateTransfers(ctx,
					[]model.Transfer{transfer(301, 1, 2, 1, 0)}); err != nil {
					return err
				}
				_, err := first.Wait(ctx)
				return err
			}},
		{"window of one full of a corked request",
			func(config *Config) { config.InflightMax = 1 },
			func(ctx context.Context, c *Client) error {
				first := c.Go(ctx, model.OperationCreateTransfers, 0, oneTransfer(400), nil)
				second := c.Go(ctx, model.OperationCreateTransfers, 0, oneTransfer(401), nil)
				for _, call := range []*Call{first, second} {
					if _, err := call.Wait(ctx); err != nil {
						return err
					}
				}
				return nil
			}},
		{"reply bytes of a corked request fill the window",
			func(config *Config) { config.InflightBytesMax = 64 },
			func(ctx context.Context, c *Client) error {
				first := c.Go(ctx, model.OperationCreateTransfers, 0, oneTransfer(500), nil)
				second := c.Go(ctx, model.OperationCreateTransfers, 0, oneTransfer(501), nil)
				for _, call := range []*Call{first, second} {
					if _, err := call.Wait(ctx); err != nil {
						return err
					}
				}
				return nil
			}},
		{"a corked burst past the server's exactly-once window",
			func(config *Config) { config.InflightMax = 2 * model.SessionWindow },
			func(ctx context.Context, c *Client) error {
				// The request after SessionWindow unanswered ones waits for the oldest
				// to be answered (window.go), which needs them written.
				calls := make([]*Call, model.SessionWindow+1)
				for i := range calls {
					calls[i] = c.Go(ctx, model.OperationCreateTransfers, 0,
						oneTransfer(uint64(700+i)), nil)
				}
				for _, call := range calls {
					if _, err := call.Wait(ctx); err != nil {
						return err
					}
				}
				return nil
			}},
		{"merged call behind a corked request",
			func(config *Config) { config.InflightMax = 1 },
			func(ctx context.Context, c *Client) error {
				first := c.Go(ctx, model.OperationCreateTransfers, 0, oneTransfer(600), nil)
				if _, err := c.CreateTransfers(ctx,
					[]model.Transfer{transfer(601, 1, 2, 1, 0)}); err != nil {
					return err
				}
				_, err := first.Wait(ctx)
				return err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// No heartbeat or silence timeout within the guard: either would write what
			// the cork holds back (a heartbeat, or the resend after the server closed
			// the silent connection) and hide a caller waiting for itself.
			s := startTestServerWith(t, func(config *netio.Config) {
				config.HeartbeatInterval, config.SilenceTimeout = 2*waitLimit, 3*waitLimit
			})
			c := s.dial(t, func(config *Config) {
				config.HeartbeatInterval, config.SilenceTimeout = 2*waitLimit, 3*waitLimit
				if tc.configure != nil {
					tc.configure(config)
				}
			})
			createTestAccounts(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			c.Cork()
			err := tc.run(ctx, c)
			c.Uncork()
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUncorkWithoutCorkPanics: Uncork with no Cork held is a misuse, reported at once by
// a panic (as sync.WaitGroup reports a negative counter) rather than leaving the count
// below zero, which corks the client for good: every later Go would stay in the outbox
// until something else wrote (a Wait, a heartbeat), and a Cork/Uncork pair would only
// bring the count back to -1 with nothing written. After the panic the client is
// uncorked: a Go writes its frame at once, and a later Cork holds as usual.
func TestUncorkWithoutCorkPanics(t *testing.T) {
	conn := &recordingConn{}
	c := newConnClient(conn)
	ctx := context.Background()
	body := make([]byte, model.TransferSize)
	recovered := func() (recovered any) {
		defer func() { recovered = recover() }()
		c.Uncork()
		return nil
	}()
	if recovered == nil {
		t.Error("Uncork without Cork returned without a panic")
	}
	call := c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
	if !bytes.Equal(conn.written.Bytes(), expectedFrame(call.Number, body)) {
		t.Fatalf("after a stray Uncork, Go wrote %d bytes, want its frame of %d at once",
			conn.written.Len(), len(expectedFrame(call.Number, body)))
	}
	conn.written.Reset()
	c.Cork()
	call = c.Go(ctx, model.OperationCreateTransfers, 0, body, nil)
	if conn.written.Len() != 0 {
		t.Fatalf("corked: Go wrote %d bytes", conn.written.Len())
	}
	c.Uncork()
	if !bytes.Equal(conn.written.Bytes(), expectedFrame(call.Number, body)) {
		t.Fatalf("after Uncork: %d bytes written, want the held frame", conn.written.Len())
	}
}

// TestConcurrentCorksLeaveNothingBehind: goroutines sharing a client each issue bursts
// of Go calls under their own Cork and wait for the replies on their done channels only
// (outside the client, as the bench's workers do), never through Wait. Whatever the
// interleaving of their Corks, Uncorks and the writes of Go calls blocked on a window of
// eight (which write what is held back), the last Uncork writes every frame still held,
// so each burst's replies all arrive; a frame left in the outbox with no cork held would
// hang its burst until the guard (heartbeats are off: they would write it).
func TestConcurrentCorksLeaveNothingBehind(t *testing.T) {
	bursts := 150
	if testing.Short() {
		bursts = 30
	}
	s := startTestServerWith(t, func(config *netio.Config) {
		config.HeartbeatInterval, config.SilenceTimeout = 2*waitLimit, 3*waitLimit
	})
	c := s.dial(t, func(config *Config) {
		config.HeartbeatInterval, config.SilenceTimeout = 2*waitLimit, 3*waitLimit
		config.InflightMax = 8
	})
	createTestAccounts(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	const goroutines, burstMax = 4, 4
	failures := make(chan error, goroutines)
	var group sync.WaitGroup
	for goroutine := range goroutines {
		group.Go(func() {
			done := make(chan *Call, burstMax)
			for burst := range bursts {
				size := 1 + (goroutine+burst)%burstMax
				c.Cork()
				for i := range size {
					id := uint64(1_000_000*(goroutine+1) + burstMax*burst + i)
					c.Go(ctx, model.OperationCreateTransfers, 0,
						encodeTransfers([]model.Transfer{transfer(id, 2, 1, 1, 0)}), done)
				}
				c.Uncork()
				for range size {
					select {
					case call := <-done:
						if call.Err != nil {
							failures <- call.Err
							return
						}
					case <-ctx.Done():
						failures <- fmt.Errorf("goroutine %d, burst %d: a reply never came",
							goroutine, burst)
						return
					}
				}
			}
		})
	}
	group.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
}
