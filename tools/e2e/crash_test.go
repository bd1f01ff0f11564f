package e2e

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

var crashCycles = flag.Int("e2e.crashcycles", 20, "SIGKILL/restart cycles of TestCrashLoop")

// TestCrashLoop drives transfer load at a real server, SIGKILLs it at random moments and
// restarts it, for -e2e.crashcycles cycles (20 by default). The workers send until the
// server is back, so the kills land under load, with requests in flight (the test fails
// when most do not: crashLoopUnderLoad). One client session lives through every crash
// and resends its unanswered requests with their original numbers.
// Afterwards: every transfer whose reply was received is present; no transfer was
// applied twice (each account's posted balances equal the sum of its stored transfers);
// and `sequent wal verify` replays the log to the same state as every snapshot.
func TestCrashLoop(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	s := startServer(t, data, address, "--snapshot-every", "3000", "--accounts-capacity", "64",
		"--transfers-capacity", "65536")
	c := dial(t, data, 0, address)
	const accountCount = 8
	createNumberedAccounts(t, c, accountCount)
	load := newLoad(c, accountCount)
	crashLoopUnderLoad(t, s, *crashCycles, rand.New(rand.NewPCG(7, 7)), load)
	ctx, cancel := context30s()
	defer cancel()
	checkExactlyOnce(t, ctx, c, load, accountCount)
	s.stop()
	if output, err := run(t, "wal", "verify", data); err != nil {
		t.Fatalf("wal verify after %d crashes: %v\n%s", *crashCycles, err, output)
	}
}

// crashLoop runs cycles of: start the load (run(2): two workers), let it go on for a
// random 20-220 ms, SIGKILL the server and restart it, wait for the load (its error fails
// the test); then one last round with the server up.
func crashLoop(t *testing.T, s *server, cycles int, random *rand.Rand, run func(workers int),
	wait func() error) {
	t.Helper()
	for cycle := 0; cycle < cycles; cycle++ {
		run(2)
		time.Sleep(time.Duration(20+random.IntN(200)) * time.Millisecond)
		s.kill()
		s.restart()
		if err := wait(); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
	}
	run(1)
	if err := wait(); err != nil {
		t.Fatalf("after the crashes: %v", err)
	}
}

// load sends batches of transfers with unique ids and records which were acknowledged.
type load struct {
	client       *client.Client
	accountCount uint64
	mutex        sync.Mutex
	nextID       uint64
	sent         map[uint64]model.Transfer // Every transfer sent.
	acknowledged map[uint64]bool           // Ids answered created or exists.
	group        sync.WaitGroup
	err          error
	batches      int          // Most batches per worker and run.
	halting      atomic.Bool  // Workers stop after their current batch.
	answered     atomic.Int64 // Batches answered since the load was made.
}

func newLoad(c *client.Client, accountCount uint64) *load {
	return &load{client: c, accountCount: accountCount, nextID: 1000,
		sent: map[uint64]model.Transfer{}, acknowledged: map[uint64]bool{}, batches: 50}
}

// run starts workers that each send batches until their batch fails to complete in time
// (the server was killed: the client resends after it reconnects, which the next batch
// waits for).
func (l *load) run(workers int) {
	for w := 0; w < workers; w++ {
		l.group.Add(1)
		go func() {
			defer l.group.Done()
			for i := 0; i < l.batches && !l.halting.Load(); i++ {
				if !l.batch() {
					return
				}
			}
		}()
	}
}

// transfersPerBatch is how many transfers one request of the load carries.
const transfersPerBatch = 100

func (l *load) batch() bool {
	l.mutex.Lock()
	transfers := make([]model.Transfer, transfersPerBatch)
	for i := range transfers {
		l.nextID++
		debit := l.nextID%l.accountCount + 1
		transfers[i] = transfer(l.nextID, debit, debit%l.accountCount+1, l.nextID%97+1)
		l.sent[l.nextID] = transfers[i]
	}
	l.mutex.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results, err := l.client.CreateTransfers(ctx, transfers)
	if err != nil {
		l.mutex.Lock()
		if l.err == nil && errors.Is(err, context.DeadlineExceeded) {
			l.err = err // Not even a reconnect within a minute: a real failure.
		}
		l.mutex.Unlock()
		return false
	}
	l.answered.Add(1)
	l.mutex.Lock()
	defer l.mutex.Unlock()
	for i, result := range results {
		if result.Status == model.StatusOK || result.Status == model.StatusExists {
			l.acknowledged[transfers[i].ID.Lo] = true
		} else if l.err == nil {
			l.err = errors.New("transfer refused: " + result.Status.String())
		}
	}
	return true
}

func (l *load) wait() { l.group.Wait() }

// halt makes the workers stop after their current batch, waits for them, and readies
// the load for its next run.
func (l *load) halt() {
	l.halting.Store(true)
	l.group.Wait()
	l.halting.Store(false)
}

// checkExactlyOnce looks up every transfer sent: acknowledged ones must exist, and each
// account's posted balances must equal the sum of the transfers that exist.
func checkExactlyOnce(t *testing.T, ctx context.Context, c *client.Client, l *load,
	accountCount uint64) {
	ids := make([]model.Uint128, 0, len(l.sent))
	for id := range l.sent {
		ids = append(ids, model.U128(id))
	}
	found := map[uint64]model.Transfer{}
	for start := 0; start < len(ids); start += model.EventsPerRequestMax {
		batch, err := c.LookupTransfers(ctx, ids[start:min(start+model.EventsPerRequestMax, len(ids))])
		if err != nil {
			t.Fatal(err)
		}
		for _, stored := range batch {
			found[stored.ID.Lo] = stored
		}
	}
	for id := range l.acknowledged {
		if _, ok := found[id]; !ok {
			t.Fatalf("acknowledged transfer %d is missing", id)
		}
	}
	debits, credits := map[uint64]uint64{}, map[uint64]uint64{}
	for _, stored := range found {
		debits[stored.DebitAccountID.Lo] += stored.Amount.Lo
		credits[stored.CreditAccountID.Lo] += stored.Amount.Lo
	}
	var accountIDs []model.Uint128
	for id := uint64(1); id <= accountCount; id++ {
		accountIDs = append(accountIDs, model.U128(id))
	}
	accounts, err := c.LookupAccounts(ctx, accountIDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		if a.DebitsPosted.Lo != debits[a.ID.Lo] || a.CreditsPosted.Lo != credits[a.ID.Lo] {
			t.Fatalf("account %s: debits %s credits %s, stored transfers sum to %d and %d",
				a.ID, a.DebitsPosted, a.CreditsPosted, debits[a.ID.Lo], credits[a.ID.Lo])
		}
	}
	t.Logf("%d transfers sent, %d acknowledged, %d stored", len(l.sent), len(l.acknowledged),
		len(found))
}
