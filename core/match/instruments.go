package match

import (
	"fmt"

	"sequent/core/model"
)

// CreateInstruments applies a batch of instrument creations. Event i takes one timestamp
// (the instrument's), then its two escrow accounts take one each. Re-creating an existing
// instrument with the same fields answers exists with the original timestamp.
func (e *Engine) CreateInstruments(clock *uint64, events []model.Instrument,
	results []model.EventResult) {
	checkBatch(len(events), len(results))
	for i := range events {
		now := takeTimestamp(clock)
		status, timestamp := e.createInstrument(clock, &events[i], now)
		results[i] = model.EventResult{Timestamp: timestamp, Status: status}
	}
}

func (e *Engine) createInstrument(clock *uint64, x *model.Instrument, now uint64) (
	model.Status, uint64) {
	switch {
	case x.Timestamp != 0:
		return model.StatusTimestampMustBeZero, now
	case x.Reserved != [30]byte{}:
		return model.StatusReservedField, now
	case x.Flags != 0:
		return model.StatusReservedFlagInstrument, now
	case x.ID == 0:
		return model.StatusInstrumentIDMustNotBeZero, now
	}
	if index, found := e.findInstrument(x.ID); found {
		existing := e.instruments[index].record
		existing.Timestamp = 0
		if existing != *x {
			return model.StatusInstrumentExistsWithDifferences, e.instruments[index].record.Timestamp
		}
		return model.StatusExists, e.instruments[index].record.Timestamp
	}
	if uint32(len(e.instruments)) >= e.config.InstrumentsMax {
		return model.StatusInstrumentsLimitReached, now
	}
	if status := validateInstrument(x); status != model.StatusOK {
		return status, now
	}
	if status := e.validateFeeAccounts(x); status != model.StatusOK {
		return status, now
	}
	if status := e.createEscrows(clock, x); status != model.StatusOK {
		return status, now
	}
	record := *x
	record.Timestamp = now
	e.instrumentIndex[x.ID] = uint32(len(e.instruments))
	e.instruments = append(e.instruments, instrument{record: record,
		escrowBase:  escrowID(systemKindEscrowBase, x.ID),
		escrowQuote: escrowID(systemKindEscrowQuote, x.ID),
		bids:        newBookSide(model.SideBuy, x.TickSize),
		asks:        newBookSide(model.SideSell, x.TickSize)})
	return model.StatusOK, now
}

// validateInstrument holds the static checks of a new instrument.
func validateInstrument(x *model.Instrument) model.Status {
	feeSet := x.MakerFeeBasisPoints != 0 || x.TakerFeeBasisPoints != 0
	switch {
	case x.BaseLedger == 0 || x.QuoteLedger == 0:
		return model.StatusLedgerMustNotBeZero
	case x.BaseLedger == x.QuoteLedger:
		return model.StatusLedgersMustBeDifferent
	case x.TickSize == 0:
		return model.StatusTickSizeMustNotBeZero
	case x.LotSize == 0:
		return model.StatusLotSizeMustNotBeZero
	case x.QuantityMin == 0 || x.QuantityMin > x.QuantityMax ||
		x.QuantityMin%x.LotSize != 0 || x.QuantityMax%x.LotSize != 0:
		return model.StatusQuantityLimitsInvalid
	case x.MakerFeeBasisPoints > FeeBasisPointsMax || x.TakerFeeBasisPoints > FeeBasisPointsMax:
		return model.StatusFeeInvalid
	case !feeSet && (!x.FeeBaseAccountID.IsZero() || !x.FeeQuoteAccountID.IsZero()):
		return model.StatusFeeAccountInvalid
	}
	return model.StatusOK
}

// validateFeeAccounts checks, when a fee is set, that both fee accounts exist on the
// right ledgers, are client accounts, are open and accept credits.
func (e *Engine) validateFeeAccounts(x *model.Instrument) model.Status {
	if x.MakerFeeBasisPoints == 0 && x.TakerFeeBasisPoints == 0 {
		return model.StatusOK
	}
	for _, fee := range [2]struct {
		id     model.Uint128
		ledger uint32
	}{{x.FeeBaseAccountID, x.BaseLedger}, {x.FeeQuoteAccountID, x.QuoteLedger}} {
		if fee.id.IsZero() || model.IsSystemID(fee.id) {
			return model.StatusFeeAccountInvalid
		}
		account, found := e.lookupAccount(fee.id)
		if !found || account.Ledger != fee.ledger ||
			account.Flags&(model.AccountClosed|model.AccountCreditsMustNotExceedDebits) != 0 {
			return model.StatusFeeAccountInvalid
		}
	}
	return model.StatusOK
}

// createEscrows creates the instrument's two escrow accounts, atomically (a linked pair):
// system accounts whose debits may never exceed their credits, so the ledger itself
// refuses any payout not covered by posted holds.
func (e *Engine) createEscrows(clock *uint64, x *model.Instrument) model.Status {
	if e.settlementDisabled {
		return model.StatusOK
	}
	accounts := [2]model.Account{
		{ID: escrowID(systemKindEscrowBase, x.ID), Ledger: x.BaseLedger,
			Code:  AccountCodeEscrow,
			Flags: model.AccountDebitsMustNotExceedCredits | model.AccountLinked},
		{ID: escrowID(systemKindEscrowQuote, x.ID), Ledger: x.QuoteLedger,
			Code: AccountCodeEscrow, Flags: model.AccountDebitsMustNotExceedCredits},
	}
	var results [2]model.EventResult
	first := *clock + 1
	*clock += 2
	e.ledger.CreateSystemAccounts(first, accounts[:], results[:])
	switch {
	case results[0].Status == model.StatusOK && results[1].Status == model.StatusOK:
		return model.StatusOK
	case results[0].Status == model.StatusAccountsLimitReached ||
		results[1].Status == model.StatusAccountsLimitReached:
		// The linked pair was undone. The limit stops the first escrow when no account
		// fits (the second then answers linked_event_failed), the second when one does.
		return model.StatusAccountsLimitReached
	}
	panic(fmt.Sprintf("match: the ledger refused an escrow account: %s, %s",
		results[0].Status, results[1].Status))
}
