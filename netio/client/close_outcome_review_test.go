package client

import (
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"sequent/core/model"
	"sequent/netio"
)

// TestCloseDuringWritesNeverReportsAnAppliedWriteAsFailed: Close while many writes are
// in flight, from several goroutines, on a real server. Every call must complete (the
// waits are bounded: a hang fails the test), and a call completed with a plain error
// (ErrClosed, not wrapped in an *OutcomeUnknownError) or a *StatusError must not have
// been applied: its account must not exist, as a second client looks it up afterwards.
// A call completed with an *OutcomeUnknownError may go either way. Run under -race it
// also exercises Close against the writers, the reader and the callers. With drops, the
// client goes through a proxy that drops its connection twice before the Close (copies
// lost with a connection, resent after the reconnect, or Close while reconnecting).
func TestCloseDuringWritesNeverReportsAnAppliedWriteAsFailed(t *testing.T) {
	for _, ending := range []string{"close", "drops_then_close", "key_revoked"} {
		t.Run(ending, func(t *testing.T) { testCloseDuringWrites(t, ending) })
	}
}

// closeKeys is the server's keys for testCloseDuringWrites: client 1 (the writers'), if
// withWriter, and client 2 (the checker's), both with testSecret.
func closeKeys(withWriter bool) netio.KeysFile {
	file := netio.KeysFile{Version: netio.KeysFileVersion}
	for id := uint64(1); id <= 2; id++ {
		if id == 1 && !withWriter {
			continue
		}
		file.Clients = append(file.Clients, netio.KeysFileClient{ID: id,
			Name: "client", Permissions: []string{"read", "transfer"},
			Keys: []netio.KeysFileKey{{ID: 1, Secret: hex.EncodeToString(testSecret)}}})
	}
	return file
}

// The rounds of TestCloseDuringWritesNeverReportsAnAppliedWriteAsFailed, each with its
// own client: writers goroutines issue callsPerWriter one-account writes each.
const (
	closeRounds         = 8
	closeWriters        = 4
	closeCallsPerWriter = 64
)

// testCloseDuringWrites ends each round's client by ending: Close ("close"), Close after
// its connection was dropped twice ("drops_then_close"), or its key revoked, a fatal
// error ("key_revoked"; Close too, once every call completed).
func testCloseDuringWrites(t *testing.T, ending string) {
	drops := ending == "drops_then_close"
	const rounds, writers, callsPerWriter = closeRounds, closeWriters, closeCallsPerWriter
	s := startTestServer(t)
	if err := s.server.Keys().Replace(closeKeys(true)); err != nil {
		t.Fatal(err)
	}
	checker := s.dial(t, func(config *Config) { config.Client = 2 })
	address := s.server.Address()
	var proxy *wireProxy
	if drops {
		proxy = startWireProxy(t, newResendLog())
		proxy.setTarget(address)
		address = proxy.address()
	}
	random := rand.New(rand.NewPCG(1, 2))
	var plain, unknown, applied int
	for round := range rounds {
		if err := s.server.Keys().Replace(closeKeys(true)); err != nil {
			t.Fatal(err)
		}
		c := dialTestClient(t, address, nil)
		base := uint64(round+1) << 32
		calls := make([][]*Call, writers)
		var group sync.WaitGroup
		var issued atomic.Int64
		for writer := range writers {
			group.Add(1)
			go func() {
				defer group.Done()
				for i := range callsPerWriter {
					id := base + uint64(writer*callsPerWriter+i+1)
					body := make([]byte, model.AccountSize)
					(&model.Account{ID: model.U128(id), Ledger: 1, Code: 1}).Encode(body)
					calls[writer] = append(calls[writer], c.Go(context.Background(),
						model.OperationCreateAccounts, 0, body, nil))
					issued.Add(1)
				}
			}()
		}
		// Close after a part of the writes, different in each round.
		closeAt := int64(round * callsPerWriter / 2)
		for drop := range 2 {
			if !drops {
				break
			}
			for issued.Load() < closeAt*int64(drop+1)/3 {
				runtime.Gosched()
			}
			proxy.dropOne(random)
		}
		for issued.Load() < closeAt {
			runtime.Gosched()
		}
		if ending == "key_revoked" {
			if err := s.server.Keys().Replace(closeKeys(false)); err != nil {
				t.Fatal(err)
			}
		} else {
			_ = c.Close()
		}
		group.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // A hang guard.
		var mayNotExist []model.Uint128
		for writer := range writers {
			for i, call := range calls[writer] {
				id := model.U128(base + uint64(writer*callsPerWriter+i+1))
				_, err := call.Wait(ctx)
				var outcomeUnknown *OutcomeUnknownError
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					t.Fatalf("round %d: call %d never completed after Close", round,
						call.Number)
				case err == nil:
					applied++
				case errors.As(err, &outcomeUnknown):
					unknown++
				default:
					plain++
					mayNotExist = append(mayNotExist, id)
				}
			}
		}
		found, err := checker.LookupAccounts(ctx, mayNotExist)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(found) > 0 {
			t.Fatalf("round %d: %d writes reported failed (not as outcome unknown) were "+
				"applied, the first account %v", round, len(found), found[0].ID)
		}
	}
	if proxy != nil {
		proxy.mutex.Lock()
		problems := proxy.problems
		proxy.mutex.Unlock()
		if len(problems) > 0 {
			t.Fatalf("the proxy saw %d problems, the first: %s", len(problems), problems[0])
		}
	}
	t.Logf("%d applied, %d outcome unknown, %d failed plainly (none applied)", applied,
		unknown, plain)
}
