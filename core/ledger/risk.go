package ledger

import (
	"sequent/core/model"
	"sequent/core/risk"
)

// This file connects the ledger to the inline risk rules (package core/risk): where the
// rules sit in the precedence of create_transfers (doc.go), what a hold does, and who may
// post a held transfer.
//
// Where the checks sit: after every check that is about the request itself or the
// accounts' existence, ownership, ledger and closed state, and after the balancing clamp
// (so that a rule judges the amount that would really move), but before the overflow and
// balance-limit checks. Three reasons: a risk refusal then never depends on (nor reveals)
// whether the payer has the funds, so probing with risky amounts learns nothing about a
// balance; the rules see only transfers the ledger could otherwise take, which keeps
// their explanations honest (a transfer to a missing account is not a velocity breach);
// and the counters count only transfers that were created (Commit runs after every check
// has passed).

// Risk returns the ledger's risk engine (owning goroutine only).
func (l *Ledger) Risk() *risk.Engine { return l.risk }

// SetRisk replaces the ledger's risk engine (with one restored from a snapshot).
func (l *Ledger) SetRisk(engine *risk.Engine) { l.risk = engine }

// ResolveAccount is the risk engine's account lookup: an account's index and ledger.
func (l *Ledger) ResolveAccount(id model.Uint128) (uint32, uint32, bool) {
	index, found := l.findAccount(id)
	if !found {
		return 0, 0, false
	}
	return index, l.accounts.at(index).Ledger, true
}

// riskActive reports whether the rules apply to the batch being applied: some rule is in
// force and the batch is not the system's own (the matching engine's holds and
// settlements are not client transfers). Step 1 of a cross-shard transfer is the
// client's own debit (CreateSagaTransfersAs), so the rules apply to it: without that, a
// transfer whose payee lived on another shard passed every rule
// (TestRiskRulesBindCrossShardTransfers).
func (l *Ledger) riskActive() bool { return (!l.system || l.saga) && l.risk.Active() }

// PayeeRisk judges the credit of a cross-shard transfer on its credit shard (step 2 of
// its saga; core/saga, rules version 5 on) by the rules only that shard holds: the payee
// account blocked and the payee's blocked counterparty naming the payer (and the client's
// blocked counterparty naming the payee, which step 1 already judged unless the rule was
// set in between). The payer's rules, the ledger's and the client's judged step 1. It answers
// StatusOK when the ledger's own checks of the step (the payee exists, is on the ledger,
// is not closed) would refuse it first, so that their codes keep their precedence.
func (l *Ledger) PayeeRisk(client uint64, payer, payee model.Uint128, ledger uint32,
) model.Status {
	if !l.risk.Active() {
		return model.StatusOK
	}
	index, found := l.findAccount(payee)
	if !found {
		return model.StatusOK
	}
	if account := l.accounts.at(index); account.Ledger != ledger ||
		account.Flags&model.AccountClosed != 0 {
		return model.StatusOK
	}
	return l.risk.Payee(client, index, ledger, payer, payee)
}

// checkRisk evaluates a single-phase or pending transfer with the amount it would move;
// credit is the credit account's record (creditIndex's), which the caller holds.
// It returns the refusal, or StatusOK with held set when an anomaly rule holds it.
func (l *Ledger) checkRisk(t *model.Transfer, event int, debitIndex, creditIndex uint32,
	credit *accountRecord, amount model.Uint128, timestamp uint64, result *model.TransferResult,
) (model.Status, bool) {
	if !l.riskActive() {
		return model.StatusOK, false
	}
	l.riskTransfer = risk.Transfer{DebitIndex: debitIndex, CreditIndex: creditIndex,
		DebitID: t.DebitAccountID, CreditID: t.CreditAccountID,
		CreditCreated: credit.Timestamp, Ledger: t.Ledger,
		Amount: amount, Timestamp: timestamp, InChain: l.undo.active}
	if l.saga {
		// Step 1 of a cross-shard transfer credits Sequent's settlement account; the payee
		// and its age are on the credit shard. The debit side's rules and the client's
		// bind here; cooling-off (the payee's age) is not judged (CreditCreated 0 passes
		// it), and a hold is a refusal, as in a chain: a saga's step 1 cannot wait for an
		// operator's review.
		l.riskTransfer.CreditCreated, l.riskTransfer.InChain = 0, true
		if event < len(l.sagaPayees) {
			// The payee, on the credit shard, for the rules that name the other account
			// (CreateSagaTransfersTo).
			l.riskTransfer.CreditID = l.sagaPayees[event]
		}
	}
	status := l.risk.Evaluate(&l.riskTransfer, &result.Risk)
	if status == model.StatusRiskHeldForReview {
		if !l.ruleOnlyWhenHeld {
			// Before rules version 8: named now, and left there if the ledger's checks
			// after the rules then refuse the transfer (logs written then replay so).
			result.Rule = result.Risk.Rule
		}
		return model.StatusOK, true
	}
	if status != model.StatusOK {
		result.Rule = result.Risk.Rule
		if status == model.StatusRiskLedgerDailyAmount && l.ledgerTotalHidden && !l.actor.all {
			// The ledger's day is every client's: its total is not this one's to read.
			result.Risk.Current = model.Uint128{}
		}
	}
	return status, false
}

// SetRuleOnlyWhenHeld says whether a transfer a holding anomaly rule decided to hold
// names the rule in its result only once it is created held (true: package core from
// rules version 8 on), so that a refusal by the ledger's checks after the rules (the
// overflow and balance-limit checks, exceeds_credits …) carries rule 0, as PROTOCOL.md's
// EventResult says of every status outside 300–319. Off (the default of New and Restore),
// the rule's id stays beside such a refusal, as the builds before it answered: the owner
// applies a log written then, whose results (remembered by the session table) must replay
// byte for byte.
func (l *Ledger) SetRuleOnlyWhenHeld(only bool) { l.ruleOnlyWhenHeld = only }

// SetLedgerTotalHidden says whether the RiskDetail of a ledger-scope daily_amount refusal
// (risk_ledger_daily_amount) answered to a client without the operator scope carries 0
// instead of the day's total (true: package core from rules version 11 on). That total
// counts every client's transfers on the ledger: a client refused twice, before and after
// another client's payment, read that payment's amount (TestHunt49bLedgerDailyRefusal-
// HidesOtherClientsVolume). Off (the default of New and Restore), the total is there, as
// the builds before it answered: the owner applies a log written then, whose results
// (remembered by the session table) must replay byte for byte.
func (l *Ledger) SetLedgerTotalHidden(hidden bool) { l.ledgerTotalHidden = hidden }

// commitRisk counts a created transfer that checkRisk passed.
func (l *Ledger) commitRisk() {
	if l.riskActive() {
		l.risk.Commit()
	}
}

// checkPostRisk applies the rules that bind a post: a held transfer is posted only by an
// operator (or the system), and a blocked account neither pays nor receives a post. A
// void is never refused by a rule (it only gives the payer its reservation back).
func (l *Ledger) checkPostRisk(p *model.Transfer, debitIndex, creditIndex uint32,
	result *model.TransferResult) model.Status {
	if p.Flags&model.TransferHeldForReview != 0 && !l.actor.all {
		result.Risk = model.RiskDetail{Kind: model.RiskAnomaly}
		return model.StatusRiskReviewRequired
	}
	if !l.riskActive() {
		return model.StatusOK
	}
	status, rule := l.risk.Blocked(debitIndex, creditIndex, p.Ledger, &result.Risk)
	if status != model.StatusOK {
		result.Rule = rule
	}
	return status
}

// storedFlags returns the flags a created transfer is stored with: a held one becomes
// pending and carries TransferHeldForReview.
func storedFlags(flags uint16, held bool) uint16 {
	if held {
		return flags | model.TransferPending | model.TransferHeldForReview
	}
	return flags
}

// retriedFlags returns the flags a retry of stored transfer e must carry to be the same
// transfer, and whether e is held: the hold's pending flag is the server's (unless the
// retry is itself pending), and the held flag is never the client's.
func retriedFlags(t *model.Transfer, e *model.Transfer) (uint16, bool) {
	if e.Flags&model.TransferHeldForReview == 0 {
		return e.Flags, false
	}
	flags := e.Flags &^ model.TransferHeldForReview
	if t.Flags&model.TransferPending == 0 {
		flags &^= model.TransferPending
	}
	return flags, true
}
