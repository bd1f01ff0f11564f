package ledger

import "sequent/core/model"

// AccountTermsAtAs is AccountAtAs for the matching engine's funding checks of a new
// order, which read of each account only its ledger and flags: it answers those (the
// flags as AccountAs shows them, without the in-memory accountPendingZero bit), where the
// account is (IndexUnknown when it does not exist: then nothing else), and whether client
// may use it with scope. AccountAtAs copied the whole record into a model.Account (its
// 128 bytes, field by field, for two fields read) and set the batch actor for the client
// whatever the account's owner; here the owner is compared first, as AllowedAtAs does
// (nearly every order's client owns its accounts), and the actor is set only when it is
// not the client. Same answers as AccountAtAs (TestAccountTermsAtAsMatchesAccountAtAs).
func (l *Ledger) AccountTermsAtAs(client uint64, scope model.Scope, id model.Uint128) (
	ledger uint32, flags uint16, index uint32, allowed bool) {
	return l.accountTermsOf(client, scope, l.resolveAccount(id))
}

// AccountTermsPlacedAs is AccountTermsAtAs told where the account was last found (any
// value; IndexUnknown when not known): a place is trusted only when the record there has
// the account's id (as ChangeSystemReservationAt trusts its places), else the account is
// looked up. The matching engine keeps its traders' accounts' places, so a new order's
// two funding checks mostly cost an id compare instead of two lookups. Same answers as
// AccountTermsAtAs whatever the place (TestAccountTermsAtAsMatchesAccountAtAs).
func (l *Ledger) AccountTermsPlacedAs(client uint64, scope model.Scope, id model.Uint128,
	place uint32) (ledger uint32, flags uint16, index uint32, allowed bool) {
	index = place
	if !l.accountIsAt(place, id) {
		index = l.resolveAccount(id)
	}
	return l.accountTermsOf(client, scope, index)
}

// accountTermsOf answers AccountTermsAtAs for the account at index (indexNone: none).
func (l *Ledger) accountTermsOf(client uint64, scope model.Scope, index uint32) (
	uint32, uint16, uint32, bool) {
	if index == indexNone {
		return 0, 0, IndexUnknown, false
	}
	record := l.accounts.at(index)
	allowed := l.own.clients[*l.own.owners.at(index)] == client
	if !allowed {
		l.actAs(client)
		allowed = l.allowed(scope, index)
	}
	return record.Ledger, record.Flags &^ accountPendingZero, index, allowed
}
