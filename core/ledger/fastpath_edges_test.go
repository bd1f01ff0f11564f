package ledger

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/internal/rapidseed"
	"sequent/core/model"
)

// fastPathEdgeValues are 128-bit values at the edges where a sum carries into the high
// word or overflows.
var fastPathEdgeValues = []model.Uint128{
	{}, {Lo: 1}, {Lo: ^uint64(0)}, {Hi: 1},
	{Hi: 1<<63 - 1, Lo: ^uint64(0)}, {Hi: 1 << 63}, {Hi: 1 << 63, Lo: 1},
	{Hi: ^uint64(0), Lo: ^uint64(0) - 1}, {Hi: ^uint64(0), Lo: ^uint64(0)},
}

// checkAmountReference is checkAmount as it was before its fast path (61f02ef): every
// balance checked in turn, in precedence order.
func checkAmountReference(amount model.Uint128, pending bool, debit,
	credit *model.Account) model.Status {
	if pending {
		if amount.AddOverflows(debit.DebitsPending) {
			return model.StatusOverflowsDebitsPending
		}
		if amount.AddOverflows(credit.CreditsPending) {
			return model.StatusOverflowsCreditsPending
		}
	}
	switch {
	case amount.AddOverflows(debit.DebitsPosted):
		return model.StatusOverflowsDebitsPosted
	case amount.AddOverflows(credit.CreditsPosted):
		return model.StatusOverflowsCreditsPosted
	case amount.AddOverflows(debit.DebitsPending.MustAdd(debit.DebitsPosted)):
		return model.StatusOverflowsDebits
	case amount.AddOverflows(credit.CreditsPending.MustAdd(credit.CreditsPosted)):
		return model.StatusOverflowsCredits
	}
	return model.StatusOK
}

// TestCheckAmountMatchesReference runs checkAmount and the checks it replaced on every
// combination of edge values of the amount and the four balances it reads (those whose
// pending + posted fits on each side: the ledger's invariant, which restore enforces),
// pending and single-phase.
func TestCheckAmountMatchesReference(t *testing.T) {
	values := fastPathEdgeValues
	compared := 0
	for _, amount := range values {
		for _, debitsPending := range values {
			for _, debitsPosted := range values {
				if debitsPending.AddOverflows(debitsPosted) {
					continue
				}
				for _, creditsPending := range values {
					for _, creditsPosted := range values {
						if creditsPending.AddOverflows(creditsPosted) {
							continue
						}
						debit := model.Account{DebitsPending: debitsPending,
							DebitsPosted: debitsPosted}
						credit := model.Account{CreditsPending: creditsPending,
							CreditsPosted: creditsPosted}
						for _, pending := range []bool{false, true} {
							debitRecord := newAccountRecord(&debit)
							creditRecord := newAccountRecord(&credit)
							got := checkAmount(amount, pending, &debitRecord, &creditRecord)
							want := checkAmountReference(amount, pending, &debit, &credit)
							if got != want {
								t.Fatalf("amount %s pending %t, debit %s+%s, credit %s+%s: "+
									"%s, want %s", amount, pending, debitsPending,
									debitsPosted, creditsPending, creditsPosted, got, want)
							}
							compared++
						}
					}
				}
			}
		}
	}
	if compared < 10_000 {
		t.Fatalf("only %d combinations compared", compared)
	}
}

// transferHeaderStatusReference is transferHeaderStatus's system-id case as it was
// before the bit-127 test (61f02ef): the four ids checked one by one.
func transferHeaderStatusReference(t *model.Transfer, system bool) model.Status {
	if status := transferHeaderStatus(t, true); status != model.StatusOK || system {
		return status // The checks before the system ids', which did not change.
	}
	if model.IsSystemID(t.ID) || model.IsSystemID(t.DebitAccountID) ||
		model.IsSystemID(t.CreditAccountID) || model.IsSystemID(t.PendingID) {
		return model.StatusIDReserved
	}
	return model.StatusOK
}

// TestTransferHeaderSystemIDsMatchReference puts ids with and without bit 127 (2^128-1,
// which has it but is no system id, included) in each of a transfer's four ids and
// compares transferHeaderStatus with the four IsSystemID tests it replaced.
func TestTransferHeaderSystemIDsMatchReference(t *testing.T) {
	ids := []model.Uint128{{}, {Lo: 1}, {Hi: 1 << 62}, {Hi: 1<<63 - 1, Lo: ^uint64(0)},
		{Hi: 1 << 63}, {Hi: 1 << 63, Lo: 5}, {Hi: ^uint64(0), Lo: ^uint64(0) - 1},
		{Hi: ^uint64(0), Lo: ^uint64(0)}}
	reserved := 0
	for _, id := range ids {
		for _, debit := range ids {
			for _, credit := range ids {
				for _, pending := range ids {
					transfer := model.Transfer{ID: id, DebitAccountID: debit,
						CreditAccountID: credit, PendingID: pending}
					for _, system := range []bool{false, true} {
						got := transferHeaderStatus(&transfer, system)
						want := transferHeaderStatusReference(&transfer, system)
						if got != want {
							t.Fatalf("%+v system %t: %s, want %s", transfer, system, got, want)
						}
						if got == model.StatusIDReserved {
							reserved++
						}
					}
				}
			}
		}
	}
	if reserved == 0 {
		t.Fatal("no combination answered id_reserved")
	}
}

// TestPlainTransferPassesTheChecks sets every field plainTransfer reads to values at its
// edges (ids of each kind in each id, every flag alone and the plain ones together) and
// checks that a transfer it calls plain is one that transferHeaderStatus, for the system
// and for a client, and validateTransfer all answer StatusOK to: createTransfer skips
// those calls for it.
func TestPlainTransferPassesTheChecks(t *testing.T) {
	ids := []model.Uint128{{}, {Lo: 1}, {Lo: 2}, {Hi: 1}, {Hi: 1<<63 - 1, Lo: ^uint64(0)},
		{Hi: 1 << 63}, {Hi: ^uint64(0), Lo: ^uint64(0)}}
	flagSets := []uint16{0, model.TransferLinked | model.TransferPending}
	for bit := range 16 {
		flagSets = append(flagSets, 1<<bit)
	}
	plain, checked := 0, 0
	for _, id := range ids {
		for _, debit := range ids {
			for _, credit := range ids {
				for _, pending := range ids {
					for _, flags := range flagSets {
						for small := range 16 { // Timestamp, timeout, ledger, code: 0 or 1.
							transfer := model.Transfer{ID: id, DebitAccountID: debit,
								CreditAccountID: credit, PendingID: pending, Flags: flags,
								Timestamp: uint64(small & 1), Timeout: uint32(small >> 1 & 1),
								Ledger: uint32(small >> 2 & 1), Code: uint16(small >> 3 & 1)}
							checked++
							if !plainTransfer(&transfer) {
								continue
							}
							plain++
							for _, system := range []bool{false, true} {
								if status := transferHeaderStatus(&transfer, system); status != model.StatusOK {
									t.Fatalf("%+v is plain, header (system %t) %s", transfer, system, status)
								}
							}
							if status := validateTransfer(&transfer); status != model.StatusOK {
								t.Fatalf("%+v is plain, validation %s", transfer, status)
							}
						}
					}
				}
			}
		}
	}
	if plain == 0 || plain == checked {
		t.Fatalf("%d of %d transfers plain", plain, checked)
	}
}

// plainTransferRefusal returns what refuses a transfer plainTransfer calls plain, or ""
// when transferHeaderStatus (for the system and for a client) and validateTransfer all
// answer StatusOK to it, or when it is not plain.
func plainTransferRefusal(transfer *model.Transfer) string {
	if !plainTransfer(transfer) {
		return ""
	}
	for _, system := range []bool{false, true} {
		if status := transferHeaderStatus(transfer, system); status != model.StatusOK {
			return fmt.Sprintf("header (system %t) %s", system, status)
		}
	}
	if status := validateTransfer(transfer); status != model.StatusOK {
		return fmt.Sprintf("validation %s", status)
	}
	return ""
}

// TestPlainTransferEveryFlagCombination: TestPlainTransferPassesTheChecks tries each
// flag bit alone; here every one of the 2^16 flag words (reserved bits, reservation and
// server-set bits, post with void, closing with pending...) goes on a transfer that is
// plain but for its flags, with and without a timeout and a pending id.
func TestPlainTransferEveryFlagCombination(t *testing.T) {
	plain := 0
	for flags := range 1 << 16 {
		for variant := range 4 {
			transfer := model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(2),
				CreditAccountID: model.U128(3), Amount: model.U128(5), Ledger: 1, Code: 1,
				Flags: uint16(flags), Timeout: uint32(variant & 1),
				PendingID: model.U128(uint64(variant >> 1))}
			if refusal := plainTransferRefusal(&transfer); refusal != "" {
				t.Fatalf("%+v is plain, %s", transfer, refusal)
			}
			if plainTransfer(&transfer) {
				plain++
			}
		}
	}
	if plain == 0 {
		t.Fatal("no flag word made a plain transfer: the test misses its point")
	}
}

// TestPlainTransferArbitraryFields draws each field plainTransfer reads as a plain value
// (zero, or a small id, ledger or code) three times in four, and otherwise from its edge
// values (fastPathEdgeValues, the largest, a single high bit) or at random, so that
// transfers plain but for one or two fields, with values the grid of
// TestPlainTransferPassesTheChecks leaves out (a timeout or timestamp above 16 bits, an
// id with bit 127 and other high bits, ledger or code at their largest, several flag
// bits), are tried often. From a fixed seed: the run must draw plain transfers.
func TestPlainTransferArbitraryFields(t *testing.T) {
	rapidseed.Fix(t, plainTransferSeed, plainTransferChecks)
	odd := func(t *rapid.T, label string) bool {
		return rapid.IntRange(0, 3).Draw(t, label+".odd") == 0
	}
	id := func(t *rapid.T, label string, plain uint64) model.Uint128 {
		switch {
		case !odd(t, label):
			return model.U128(plain)
		case rapid.Bool().Draw(t, label+".edge"):
			return rapid.SampledFrom(fastPathEdgeValues).Draw(t, label)
		}
		return model.Uint128{Hi: rapid.Uint64().Draw(t, label+".hi"),
			Lo: rapid.Uint64().Draw(t, label+".lo")}
	}
	word := func(t *rapid.T, label string, plain uint64, bits int) uint64 {
		if !odd(t, label) {
			return plain
		}
		edges := []uint64{0, 1, 1 << 16, 1 << (bits - 1), 1<<bits - 1}
		if rapid.Bool().Draw(t, label+".edge") {
			return rapid.SampledFrom(edges).Draw(t, label)
		}
		return rapid.Uint64Range(0, 1<<bits-1).Draw(t, label+".value")
	}
	plain := 0
	rapid.Check(t, func(t *rapid.T) {
		transfer := model.Transfer{ID: id(t, "id", 1), DebitAccountID: id(t, "debit", 2),
			CreditAccountID: id(t, "credit", 3), PendingID: id(t, "pending", 0),
			Amount:    id(t, "amount", 5),
			Timestamp: word(t, "timestamp", 0, 64),
			Timeout:   uint32(word(t, "timeout", 0, 32)),
			Ledger:    uint32(word(t, "ledger", 1, 32)),
			Code:      uint16(word(t, "code", 1, 16)),
			Flags: uint16(word(t, "flags",
				uint64(rapid.Uint16Range(0, 3).Draw(t, "plain_flags")), 16))}
		if refusal := plainTransferRefusal(&transfer); refusal != "" {
			t.Fatalf("%+v is plain, %s", transfer, refusal)
		}
		if plainTransfer(&transfer) {
			plain++
		}
	})
	if plain == 0 {
		t.Fatal("no plain transfer drawn: the test misses its point")
	}
}

// The fixed run of TestPlainTransferArbitraryFields.
const (
	plainTransferSeed   = 34
	plainTransferChecks = 20_000
)
