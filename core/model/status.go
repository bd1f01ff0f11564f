package model

import "strconv"

// Status is the outcome of one event or request. It is one enum for the whole system, with
// stable numbers that never change meaning and are never reused:
//
//	0        ok (for create events: created)
//	1..99    ledger: accounts and transfers (this file)
//	100..199 matching: instruments and orders (status_match.go)
//	200..299 session and protocol (status_session.go)
//
// A rejected command is a Status, never a Go error. The order in which the ledger checks
// the codes (their precedence) is documented in package ledger, not by the numbers.
type Status uint32

// StatusOK means the event was applied (created, accepted).
const StatusOK Status = 0

// Ledger statuses. Numbers are stable; see package ledger for the precedence order.
const (
	StatusLinkedEventFailed                      Status = 1
	StatusLinkedEventChainOpen                   Status = 2
	StatusTimestampMustBeZero                    Status = 3
	StatusReservedField                          Status = 4
	StatusReservedFlag                           Status = 5
	StatusIDMustNotBeZero                        Status = 6
	StatusIDMustNotBeIntMax                      Status = 7
	StatusExistsWithDifferentFlags               Status = 8
	StatusExistsWithDifferentUserData128         Status = 9
	StatusExistsWithDifferentUserData64          Status = 10
	StatusExistsWithDifferentUserData32          Status = 11
	StatusExistsWithDifferentLedger              Status = 12
	StatusExistsWithDifferentCode                Status = 13
	StatusExists                                 Status = 14
	StatusFlagsAreMutuallyExclusive              Status = 15
	StatusDebitsPendingMustBeZero                Status = 16
	StatusDebitsPostedMustBeZero                 Status = 17
	StatusCreditsPendingMustBeZero               Status = 18
	StatusCreditsPostedMustBeZero                Status = 19
	StatusLedgerMustNotBeZero                    Status = 20
	StatusCodeMustNotBeZero                      Status = 21
	StatusAccountsLimitReached                   Status = 22
	StatusTransfersLimitReached                  Status = 23
	StatusIDAlreadyFailed                        Status = 24
	StatusExistsWithDifferentDebitAccountID      Status = 25
	StatusExistsWithDifferentCreditAccountID     Status = 26
	StatusExistsWithDifferentAmount              Status = 27
	StatusExistsWithDifferentPendingID           Status = 28
	StatusExistsWithDifferentTimeout             Status = 29
	StatusDebitAccountIDMustNotBeZero            Status = 30
	StatusDebitAccountIDMustNotBeIntMax          Status = 31
	StatusCreditAccountIDMustNotBeZero           Status = 32
	StatusCreditAccountIDMustNotBeIntMax         Status = 33
	StatusAccountsMustBeDifferent                Status = 34
	StatusPendingIDMustBeZero                    Status = 35
	StatusPendingIDMustNotBeZero                 Status = 36
	StatusPendingIDMustNotBeIntMax               Status = 37
	StatusPendingIDMustBeDifferent               Status = 38
	StatusTimeoutReservedForPendingTransfer      Status = 39
	StatusClosingTransferMustBePending           Status = 40
	StatusDebitAccountNotFound                   Status = 41
	StatusCreditAccountNotFound                  Status = 42
	StatusAccountsMustHaveTheSameLedger          Status = 43
	StatusTransferMustHaveTheSameLedgerAsAccount Status = 44
	StatusPendingTransferNotFound                Status = 45
	StatusPendingTransferNotPending              Status = 46
	StatusPendingTransferHasDifferentDebitID     Status = 47
	StatusPendingTransferHasDifferentCreditID    Status = 48
	StatusPendingTransferHasDifferentLedger      Status = 49
	StatusPendingTransferHasDifferentCode        Status = 50
	StatusExceedsPendingTransferAmount           Status = 51
	StatusPendingTransferHasDifferentAmount      Status = 52
	StatusPendingTransferAlreadyPosted           Status = 53
	StatusPendingTransferAlreadyVoided           Status = 54
	StatusPendingTransferExpired                 Status = 55
	StatusDebitAccountAlreadyClosed              Status = 56
	StatusCreditAccountAlreadyClosed             Status = 57
	StatusOverflowsDebitsPending                 Status = 58
	StatusOverflowsCreditsPending                Status = 59
	StatusOverflowsDebitsPosted                  Status = 60
	StatusOverflowsCreditsPosted                 Status = 61
	StatusOverflowsDebits                        Status = 62
	StatusOverflowsCredits                       Status = 63
	StatusOverflowsTimeout                       Status = 64
	StatusExceedsCredits                         Status = 65
	StatusExceedsDebits                          Status = 66
	StatusAccountNotFound                        Status = 67 // Queries: no such account.
	StatusAccountHistoryNotEnabled               Status = 68 // Balance history without the flag.
	StatusInvalidFilter                          Status = 69 // Bad limit, flags or time range.
	StatusIDReserved                             Status = 70 // Bit 127 set: Sequent's own ids.

	// Ownership (package ledger, "Ownership"): a client acting on money that is not its own.
	StatusExistsWithDifferentOwner Status = 71 // The id is another client's account, or a transfer the caller may not see.
	StatusDebitAccountNotOwned     Status = 72 // The caller may not debit the debit account.
	StatusCreditAccountNotOwned    Status = 73 // Closing or balancing acts on a credit account the caller may not move.
	StatusPendingTransferNotOwned  Status = 74 // The caller may move neither account of the pending transfer.
	// StatusDebitsMustNotExceedCreditsRequired: a client without a transfer grant over the
	// new account may create it only with debits_must_not_exceed_credits; an account
	// without that flag can go negative, and debiting it would issue money on its ledger.
	StatusDebitsMustNotExceedCreditsRequired Status = 75
	// StatusReservedFlagFromReservation: a client's transfer carries the from_reservation
	// flag, which only the matching engine sets (a fill paid out of an order's
	// reservation).
	StatusReservedFlagFromReservation Status = 76
	// StatusAccountsLimitPerClientReached: the account would make its creating client
	// own more accounts than the keys file's limits.accounts_max allows it (the ledger's
	// own bound, accounts_limit_reached, is checked first).
	StatusAccountsLimitPerClientReached Status = 77
	ledgerStatusEnd                     Status = 78
)

var ledgerStatusNames = [ledgerStatusEnd]string{
	StatusOK:                                     "ok",
	StatusLinkedEventFailed:                      "linked_event_failed",
	StatusLinkedEventChainOpen:                   "linked_event_chain_open",
	StatusTimestampMustBeZero:                    "timestamp_must_be_zero",
	StatusReservedField:                          "reserved_field",
	StatusReservedFlag:                           "reserved_flag",
	StatusIDMustNotBeZero:                        "id_must_not_be_zero",
	StatusIDMustNotBeIntMax:                      "id_must_not_be_int_max",
	StatusExistsWithDifferentFlags:               "exists_with_different_flags",
	StatusExistsWithDifferentUserData128:         "exists_with_different_user_data_128",
	StatusExistsWithDifferentUserData64:          "exists_with_different_user_data_64",
	StatusExistsWithDifferentUserData32:          "exists_with_different_user_data_32",
	StatusExistsWithDifferentLedger:              "exists_with_different_ledger",
	StatusExistsWithDifferentCode:                "exists_with_different_code",
	StatusExists:                                 "exists",
	StatusFlagsAreMutuallyExclusive:              "flags_are_mutually_exclusive",
	StatusDebitsPendingMustBeZero:                "debits_pending_must_be_zero",
	StatusDebitsPostedMustBeZero:                 "debits_posted_must_be_zero",
	StatusCreditsPendingMustBeZero:               "credits_pending_must_be_zero",
	StatusCreditsPostedMustBeZero:                "credits_posted_must_be_zero",
	StatusLedgerMustNotBeZero:                    "ledger_must_not_be_zero",
	StatusCodeMustNotBeZero:                      "code_must_not_be_zero",
	StatusAccountsLimitReached:                   "accounts_limit_reached",
	StatusTransfersLimitReached:                  "transfers_limit_reached",
	StatusIDAlreadyFailed:                        "id_already_failed",
	StatusExistsWithDifferentDebitAccountID:      "exists_with_different_debit_account_id",
	StatusExistsWithDifferentCreditAccountID:     "exists_with_different_credit_account_id",
	StatusExistsWithDifferentAmount:              "exists_with_different_amount",
	StatusExistsWithDifferentPendingID:           "exists_with_different_pending_id",
	StatusExistsWithDifferentTimeout:             "exists_with_different_timeout",
	StatusDebitAccountIDMustNotBeZero:            "debit_account_id_must_not_be_zero",
	StatusDebitAccountIDMustNotBeIntMax:          "debit_account_id_must_not_be_int_max",
	StatusCreditAccountIDMustNotBeZero:           "credit_account_id_must_not_be_zero",
	StatusCreditAccountIDMustNotBeIntMax:         "credit_account_id_must_not_be_int_max",
	StatusAccountsMustBeDifferent:                "accounts_must_be_different",
	StatusPendingIDMustBeZero:                    "pending_id_must_be_zero",
	StatusPendingIDMustNotBeZero:                 "pending_id_must_not_be_zero",
	StatusPendingIDMustNotBeIntMax:               "pending_id_must_not_be_int_max",
	StatusPendingIDMustBeDifferent:               "pending_id_must_be_different",
	StatusTimeoutReservedForPendingTransfer:      "timeout_reserved_for_pending_transfer",
	StatusClosingTransferMustBePending:           "closing_transfer_must_be_pending",
	StatusDebitAccountNotFound:                   "debit_account_not_found",
	StatusCreditAccountNotFound:                  "credit_account_not_found",
	StatusAccountsMustHaveTheSameLedger:          "accounts_must_have_the_same_ledger",
	StatusTransferMustHaveTheSameLedgerAsAccount: "transfer_must_have_the_same_ledger_as_accounts",
	StatusPendingTransferNotFound:                "pending_transfer_not_found",
	StatusPendingTransferNotPending:              "pending_transfer_not_pending",
	StatusPendingTransferHasDifferentDebitID:     "pending_transfer_has_different_debit_account_id",
	StatusPendingTransferHasDifferentCreditID:    "pending_transfer_has_different_credit_account_id",
	StatusPendingTransferHasDifferentLedger:      "pending_transfer_has_different_ledger",
	StatusPendingTransferHasDifferentCode:        "pending_transfer_has_different_code",
	StatusExceedsPendingTransferAmount:           "exceeds_pending_transfer_amount",
	StatusPendingTransferHasDifferentAmount:      "pending_transfer_has_different_amount",
	StatusPendingTransferAlreadyPosted:           "pending_transfer_already_posted",
	StatusPendingTransferAlreadyVoided:           "pending_transfer_already_voided",
	StatusPendingTransferExpired:                 "pending_transfer_expired",
	StatusDebitAccountAlreadyClosed:              "debit_account_already_closed",
	StatusCreditAccountAlreadyClosed:             "credit_account_already_closed",
	StatusOverflowsDebitsPending:                 "overflows_debits_pending",
	StatusOverflowsCreditsPending:                "overflows_credits_pending",
	StatusOverflowsDebitsPosted:                  "overflows_debits_posted",
	StatusOverflowsCreditsPosted:                 "overflows_credits_posted",
	StatusOverflowsDebits:                        "overflows_debits",
	StatusOverflowsCredits:                       "overflows_credits",
	StatusOverflowsTimeout:                       "overflows_timeout",
	StatusExceedsCredits:                         "exceeds_credits",
	StatusExceedsDebits:                          "exceeds_debits",
	StatusAccountNotFound:                        "account_not_found",
	StatusAccountHistoryNotEnabled:               "account_history_not_enabled",
	StatusInvalidFilter:                          "invalid_filter",
	StatusIDReserved:                             "id_reserved",
	StatusExistsWithDifferentOwner:               "exists_with_different_owner",
	StatusDebitAccountNotOwned:                   "debit_account_not_owned",
	StatusCreditAccountNotOwned:                  "credit_account_not_owned",
	StatusPendingTransferNotOwned:                "pending_transfer_not_owned",
	StatusDebitsMustNotExceedCreditsRequired:     "debits_must_not_exceed_credits_required",
	StatusReservedFlagFromReservation:            "reserved_flag_from_reservation",
	StatusAccountsLimitPerClientReached:          "accounts_limit_per_client_reached",
}

// statusNameTables lets each area of the enum register its names in its own file.
var statusNameTables []func(Status) (string, bool)

// String returns the status's stable snake_case name, or "status_<n>" for an unknown one.
func (s Status) String() string {
	if s < ledgerStatusEnd {
		return ledgerStatusNames[s]
	}
	for _, lookup := range statusNameTables {
		if name, ok := lookup(s); ok {
			return name
		}
	}
	return "status_" + strconv.FormatUint(uint64(s), 10)
}

// Known reports whether s is a defined status.
func (s Status) Known() bool {
	if s < ledgerStatusEnd {
		return true
	}
	for _, lookup := range statusNameTables {
		if _, ok := lookup(s); ok {
			return true
		}
	}
	return false
}

// Transient reports whether a create_transfers failure depends on state that may change
// (a missing account, a balance limit, a closed account, a grant not yet given). The
// ledger remembers the id of a
// transfer that failed this way, so a retry with the same id answers id_already_failed
// instead of succeeding later: a retry must never change a reported outcome.
func (s Status) Transient() bool {
	switch s {
	case StatusDebitAccountNotFound, StatusCreditAccountNotFound,
		StatusPendingTransferNotFound, StatusExceedsCredits, StatusExceedsDebits,
		StatusDebitAccountAlreadyClosed, StatusCreditAccountAlreadyClosed,
		StatusDebitAccountNotOwned, StatusCreditAccountNotOwned,
		StatusPendingTransferNotOwned:
		return true
	}
	return s.IsRiskRefusal()
}
