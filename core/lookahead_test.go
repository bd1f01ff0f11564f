package core

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"sequent/core/model"
)

// TestLookaheadChangesNothing applies the same entries to two machines, one with the
// request lookahead off, and requires the same outputs (replies and their bodies,
// reports, events) after every entry and the same state digest along the way. The
// entries mix what the lookahead prefetches for (clients' one-transfer requests, with and
// without balances, on accounts that exist, do not exist yet or are created by an
// earlier request of the same entry) with what it passes over (account creations that
// grow the id table, longer batches, resends, lookups, pending transfers and their
// posts and voids, expiries), so that any write or lost step it made would show. With
// sessions=8 the twelve sessions do not fit in the table, and new ones keep evicting
// others, also between the lookup ahead of a request and its apply.
func TestLookaheadChangesNothing(t *testing.T) {
	for _, sessionsMax := range []int{0, 8} {
		t.Run(fmt.Sprintf("sessions=%d", sessionsMax), func(t *testing.T) {
			testLookaheadChangesNothing(t, Config{SessionsMax: sessionsMax})
		})
	}
}

func testLookaheadChangesNothing(t *testing.T, config Config) {
	const (
		clients           = 4
		sessionsPerClient = 3
		entries           = 400
		requestsMax       = 48
	)
	on, off := New(config), New(config)
	off.lookahead.off = true
	random := rand.New(rand.NewPCG(15, 33))
	var numbers [clients * sessionsPerClient]uint64
	var last [clients * sessionsPerClient]Request // Each session's last request, to resend.
	accountNext, transferNext := uint64(1), uint64(1)
	op, timestamp := uint64(0), uint64(1_000_000_000_000)
	apply := func(body []byte, requests int) {
		t.Helper()
		timestamp += 1_000_000_000 * (1 + random.Uint64N(3)) // Pending timeouts expire.
		entry := Entry{FirstOp: op + 1, Timestamp: timestamp, Body: body}
		op += uint64(requests)
		var outOn, outOff Output
		if err := on.Apply(&entry, &outOn); err != nil {
			t.Fatal(err)
		}
		if err := off.Apply(&entry, &outOff); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(outOn, outOff) {
			t.Fatalf("entry at op %d: outputs differ with the lookahead on and off",
				entry.FirstOp)
		}
	}
	grants := make([]model.Grant, clients)
	for i := range grants {
		grants[i] = model.Grant{Client: uint64(i + 1), Scopes: model.ScopeTransfer, Ledger: 1}
	}
	apply(AppendRequest(nil, &Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, grants)}), 1)
	// anyAccount picks a created account, or now and then one not created yet.
	anyAccount := func() uint64 {
		if random.Uint64N(16) == 0 {
			return accountNext + random.Uint64N(8)
		}
		return 1 + random.Uint64N(max(accountNext-1, 1))
	}
	transfer := func() model.Transfer {
		debit, credit := anyAccount(), anyAccount()
		tr := simpleTransfer(transferNext, debit, credit, 1+random.Uint64N(100))
		transferNext++
		switch random.Uint64N(12) {
		case 0:
			tr.Flags, tr.Timeout = model.TransferPending, uint32(1+random.Uint64N(3))
		case 1: // Posts or voids an earlier transfer, pending or not, or one unknown.
			tr.Flags = model.TransferPostPending
			if random.Uint64N(2) == 0 {
				tr.Flags = model.TransferVoidPending
			}
			tr.PendingID = model.U128(1 + random.Uint64N(transferNext))
			tr.DebitAccountID, tr.CreditAccountID, tr.Amount = model.Uint128{},
				model.Uint128{}, model.Uint128{}
		case 2: // A resent transfer id.
			tr.ID = model.U128(1 + random.Uint64N(transferNext))
		}
		return tr
	}
	var body []byte
	for range entries {
		body = body[:0]
		requests := 1 + int(random.Uint64N(requestsMax))
		for range requests {
			session := random.Uint64N(clients * sessionsPerClient)
			request := Request{Client: session/sessionsPerClient + 1,
				Session: session%sessionsPerClient + 1}
			switch kind := random.Uint64N(20); {
			case kind == 0 && numbers[session] > 0: // A resend.
				request = last[session]
			case kind <= 2: // Accounts, growing the account id table.
				ids := make([]uint64, 1+random.Uint64N(64))
				for i := range ids {
					ids[i] = accountNext
					accountNext++
				}
				request.Operation, request.Body = model.OperationCreateAccounts,
					accountsBody(ids...)
			case kind == 3: // A longer batch, which the lookahead leaves alone.
				transfers := make([]model.Transfer, 2+random.Uint64N(20))
				for i := range transfers {
					transfers[i] = transfer()
				}
				request.Operation, request.Body = model.OperationCreateTransfers,
					transfersBody(transfers...)
			case kind == 4:
				request.Operation, request.Body = model.OperationLookupAccounts,
					model.U128(anyAccount()).Append(model.U128(anyAccount()).Append(nil))
			default: // One transfer, the case the lookahead is for.
				request.Operation, request.Body = model.OperationCreateTransfers,
					transfersBody(transfer())
				if random.Uint64N(2) == 0 {
					request.Flags = RequestFlagReplyBalances
				}
			}
			if request.Number == 0 {
				numbers[session]++
				request.Number = numbers[session]
				last[session] = request
			}
			body = AppendRequest(body, &request)
		}
		apply(body, requests)
		if op%16 == 0 && on.Digest() != off.Digest() {
			t.Fatalf("at op %d: digests differ with the lookahead on and off", op)
		}
	}
	if on.Digest() != off.Digest() {
		t.Fatal("digests differ with the lookahead on and off")
	}
	if on.Ledger().TransferCount() < entries {
		t.Fatalf("only %d transfers stored: the workload misses its point",
			on.Ledger().TransferCount())
	}
}

// BenchmarkLookaheadInterleaved measures the request lookahead within one process, where
// alternating test binaries leave the machine's load to change between runs: the same
// machine applies entries of one-transfer requests (as BenchmarkApplySmallRequests)
// with the lookahead on and off in turn, entry by entry, and reports the thread's CPU
// and user time per request of each half (on-cpu-ns/request, off-cpu-ns/request...).
//
//	go test ./core -run '^$' -bench LookaheadInterleaved -count 6
func BenchmarkLookaheadInterleaved(b *testing.B) {
	for _, accounts := range []uint64{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("accounts=%d/requests=128", accounts), func(b *testing.B) {
			const requests = 128
			s := newSmallRequestBench(b, accounts)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu, user [2]int64 // Index 0: lookahead on; 1: off.
			entries := 0
			for b.Loop() {
				half := entries % 2
				s.machine.lookahead.off = half == 1
				s.applyEntry(b, requests)
				cpu[half] += s.cpu
				user[half] += s.user
				entries++
			}
			perHalf := float64(entries/2) * requests
			if entries < 2 {
				return
			}
			b.ReportMetric(float64(cpu[0])/perHalf, "on-cpu-ns/request")
			b.ReportMetric(float64(cpu[1])/perHalf, "off-cpu-ns/request")
			b.ReportMetric(float64(user[0])/perHalf, "on-user-ns/request")
			b.ReportMetric(float64(user[1])/perHalf, "off-user-ns/request")
		})
	}
}
