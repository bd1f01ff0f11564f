package ledger

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/core/model"
)

// The fast-path golden test pins what CreateTransfersAs (and the system and saga batches)
// answered and stored before the fast-path commits of issue 15 (61f02ef..48c87e0), which
// claim to change no result, event, balance, timestamp or snapshot. It replays seeded
// random batches (the generator of TestPipelineMatchesTwoPhase, plus amounts at the edges
// of the 128-bit range so that every overflow code and the balancing clamp at large
// balances come up) on one ledger, and folds every batch's results, events, expiries,
// ledger digest and risk state (and, twice per scenario, every account's transfers and
// balance history, which walk the links appendTransfer sets) into a running SHA-256
// whose value after each batch is a line of testdata/fastpath.golden. The file was
// written on 61f02ef (the test file copied into a checkout of it) with
//
//	SEQUENT_WRITE_FASTPATH_GOLDEN=1 go test -run TestFastPathGolden ./core/ledger
//
// A change of behaviour (or of the generator, which must then be written again from the
// commit whose behaviour is the reference) names the first batch that differs.
const (
	fastPathGoldenFile  = "testdata/fastpath.golden"
	fastPathGoldenWrite = "SEQUENT_WRITE_FASTPATH_GOLDEN"
	fastPathGoldenSteps = 50
)

// fastPathEdgeAmounts are amounts at the edges of the 128-bit range (2^128-1 excepted:
// a post's "the full amount"): transfers of them between accounts without limit flags
// build balances near 2^128, so that the next ones overflow one side or one sum.
var fastPathEdgeAmounts = []model.Uint128{
	{Hi: 1 << 63},                        // 2^127
	{Hi: 1<<63 - 1, Lo: ^uint64(0)},      // 2^127-1
	{Hi: 1 << 63, Lo: 1},                 // 2^127+1
	{Hi: ^uint64(0), Lo: ^uint64(0) - 1}, // 2^128-2
	{Hi: ^uint64(0), Lo: ^uint64(0) - 300},
	{Hi: 1 << 62},    // 2^126
	{Hi: 1},          // 2^64
	{Lo: ^uint64(0)}, // 2^64-1
	{},               // Zero.
}

// fastPathStep runs one random batch (or an expiry pulse first) on d.pipe alone and
// folds what it answered and changed into digest.
func fastPathStep(t *testing.T, d *pipelineDiff, digest hash.Hash, count int) {
	d.timestamp += uint64(d.random.IntN(3)) * 700_000_000
	if d.random.IntN(4) == 0 {
		fmt.Fprintf(digest, "expired %d\n", d.pipe.Expire(d.timestamp, nil))
		d.timestamp++
	}
	kind, events := d.batch(count, func(events []model.Transfer, i int) {
		resolves := events[i].Flags&(model.TransferPostPending|model.TransferVoidPending) != 0
		if !resolves && d.random.IntN(5) == 0 {
			events[i].Amount = fastPathEdgeAmounts[d.random.IntN(len(fastPathEdgeAmounts))]
		}
		if d.random.IntN(40) == 0 {
			// A client id with bit 127 set in one of the four ids: id_reserved,
			// whatever else is wrong with it.
			field := []*model.Uint128{&events[i].ID, &events[i].DebitAccountID,
				&events[i].CreditAccountID, &events[i].PendingID}[d.random.IntN(4)]
			field.Hi |= 1 << 63
		}
		if i > 0 && d.random.IntN(30) == 0 {
			events[i] = events[d.random.IntN(i)] // An exact retry: exists, or a rerun.
		}
	})
	count = len(events)
	client, balances := d.caller()
	results := make([]model.TransferResult, count)
	d.pipeEvents.Reset()
	switch {
	case kind <= 1:
		d.pipe.CreateSystemTransfers(d.timestamp, events, results)
	case kind == 2:
		d.pipe.CreateSagaTransfersAs(client, d.timestamp, events, results)
	default:
		d.pipe.CreateTransfersAs(client, balances, d.timestamp, events, results)
	}
	d.timestamp += uint64(count)
	fmt.Fprintf(digest, "kind %d client %d balances %t count %d\n", kind, client, balances,
		count)
	for i := range results {
		d.statuses[results[i].Status]++
		fmt.Fprintf(digest, "%d %+v\n", i, results[i])
	}
	fmt.Fprintf(digest, "events %+v\n", d.pipeEvents)
	ledgerDigest := d.pipe.Digest()
	digest.Write(ledgerDigest[:])
	if _, err := d.pipe.Risk().Snapshot().WriteTo(digest); err != nil {
		t.Fatal(err)
	}
	if err := CheckInvariants(d.pipe.Accounts()); err != nil {
		t.Fatal(err)
	}
}

// fastPathQueries folds into digest every account's transfers, oldest and newest first,
// and its balance history: they walk the per-account links appendTransfer sets, which
// the ledger digest (the snapshot's content) leaves out.
func fastPathQueries(d *pipelineDiff, l *Ledger, digest hash.Hash) {
	accounts := append(append([]model.Uint128(nil), d.accounts...), d.escrow[:]...)
	var transfers []model.Transfer
	var history []model.AccountBalance
	var record []byte
	for _, id := range accounts {
		for _, flags := range []uint32{model.FilterDebits | model.FilterCredits,
			model.FilterCredits | model.FilterReversed} {
			filter := model.AccountFilter{AccountID: id, Limit: model.EventsPerRequestMax,
				Flags: flags}
			var status model.Status
			transfers, status = l.GetAccountTransfers(&filter, transfers[:0])
			record = binary.LittleEndian.AppendUint64(record[:0], uint64(status))
			for i := range transfers {
				record = binary.LittleEndian.AppendUint64(record, transfers[i].ID.Lo)
				record = binary.LittleEndian.AppendUint64(record, transfers[i].ID.Hi)
			}
			history, status = l.GetAccountBalances(&filter, history[:0])
			record = binary.LittleEndian.AppendUint64(record, uint64(status))
			for i := range history {
				h := &history[i]
				for _, value := range []model.Uint128{h.DebitsPending, h.DebitsPosted,
					h.CreditsPending, h.CreditsPosted} {
					record = binary.LittleEndian.AppendUint64(record, value.Lo)
					record = binary.LittleEndian.AppendUint64(record, value.Hi)
				}
				record = binary.LittleEndian.AppendUint64(record, h.Timestamp)
			}
			digest.Write(record)
		}
	}
}

// TestFastPathGolden compares the running digests with testdata/fastpath.golden, or
// writes the file when SEQUENT_WRITE_FASTPATH_GOLDEN is set.
func TestFastPathGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a few hundred batches")
	}
	scenarios := []struct {
		accounts      int
		rules, events bool
	}{
		{accounts: 12, rules: false, events: true},
		{accounts: 40, rules: true, events: true},
		{accounts: 520, rules: true, events: true}, // The account table is migrating.
		{accounts: 90, rules: false, events: false},
		{accounts: 2_000, rules: false, events: true},
	}
	var lines []string
	statuses := map[model.Status]int{}
	for n, scenario := range scenarios {
		d := newPipelineDiff(t, uint64(n)+101, scenario.accounts, scenario.rules,
			scenario.events)
		digest := sha256.New()
		for step := range fastPathGoldenSteps {
			count := 0
			if step == fastPathGoldenSteps/2 {
				count = model.EventsPerRequestMax
			}
			fastPathStep(t, d, digest, count)
			if step%25 == 24 {
				fastPathQueries(d, d.pipe, digest)
			}
			lines = append(lines, fmt.Sprintf("scenario %d step %d %s", n, step,
				hex.EncodeToString(digest.Sum(nil)[:12])))
		}
		// A snapshot restored: restoreTransfers rebuilds the links with appendTransfer.
		view := d.pipe.Snapshot()
		var snapshot bytes.Buffer
		if _, err := view.WriteTo(&snapshot); err != nil {
			t.Fatal(err)
		}
		view.Release()
		restored, err := Restore(Config{HashSeed: uint64(n) + 101}, &snapshot)
		if err != nil {
			t.Fatal(err)
		}
		if restored.Digest() != d.pipe.Digest() {
			t.Fatalf("scenario %d: the restored snapshot has another digest", n)
		}
		fastPathQueries(d, restored, digest)
		lines = append(lines, fmt.Sprintf("scenario %d restored %s", n,
			hex.EncodeToString(digest.Sum(nil)[:12])))
		for status, count := range d.statuses {
			statuses[status] += count
		}
	}
	t.Logf("statuses: %v", statuses)
	// The generator must reach the codes the fast paths skip checks for.
	for _, status := range []model.Status{model.StatusOK, model.StatusExists,
		model.StatusOverflowsDebitsPending, model.StatusOverflowsCreditsPending,
		model.StatusOverflowsDebitsPosted, model.StatusOverflowsCreditsPosted,
		model.StatusOverflowsDebits, model.StatusOverflowsCredits,
		model.StatusExceedsCredits, model.StatusExceedsDebits, model.StatusIDReserved,
		model.StatusIDAlreadyFailed, model.StatusLinkedEventFailed,
		model.StatusDebitAccountNotOwned, model.StatusCreditAccountNotFound} {
		if statuses[status] == 0 {
			t.Errorf("no event answered %s: the replay misses a case", status)
		}
	}
	path := filepath.FromSlash(fastPathGoldenFile)
	if os.Getenv(fastPathGoldenWrite) != "" {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d batches)", path, len(lines))
		return
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	i := 0
	for ; scanner.Scan(); i++ {
		if i >= len(lines) {
			t.Fatalf("%s has more batches (%d) than the replay", path, i+1)
		}
		if scanner.Text() != lines[i] {
			t.Fatalf("first difference: want %q, got %q", scanner.Text(), lines[i])
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(lines) {
		t.Fatalf("%s has %d batches, the replay %d", path, i, len(lines))
	}
}
