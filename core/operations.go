package core

import (
	"sequent/core/model"
)

// The functions here decode a request's events, call the ledger on behalf of the
// request's authenticated client (which decides ownership: package ledger, "Ownership")
// and encode the results. Shapes were checked before (CheckShape): bodies are whole
// numbers of events.

func (m *Machine) createAccounts(client uint64, body []byte, out *Output) model.Status {
	count := len(body) / model.AccountSize
	events, results := m.accounts[:count], m.accountResults[:count]
	for i := range events {
		events[i].Decode(body[i*model.AccountSize:])
	}
	if m.misplacedAccounts(events) {
		m.createAccountsPlaced(client, events, results)
	} else {
		m.ledger.CreateAccountsAs(client, m.nextTimestamps(count), events, results)
	}
	encoded := grow(out, count*model.EventResultSize)
	for i := range results {
		results[i].Encode(encoded[i*model.EventResultSize:])
		m.countStatus(results[i].Status)
	}
	return model.StatusOK
}

func (m *Machine) createTransfers(client uint64, body []byte, flags uint8,
	out *Output) model.Status {
	count := len(body) / model.TransferSize
	events, results := m.transfers[:count], m.transferResults[:count]
	if decoded := m.decodedTransfer(body); decoded != nil {
		events[0] = *decoded // The lookahead decoded this very body.
	} else {
		for i := range events {
			events[i].Decode(body[i*model.TransferSize:])
		}
	}
	balances := flags&RequestFlagReplyBalances != 0
	if !m.createTransfersSharded(client, balances, events, results, out) {
		// The lookahead's hashes and candidates, when it saw this request's one transfer.
		m.ledger.CreateTransferAheadAs(client, balances, m.nextTimestamps(count), events,
			results, m.transferAhead())
		m.sagas.FixRetries(m.ledger, events, results)
	}
	if flags&RequestFlagReplyBalances != 0 {
		encoded := grow(out, count*model.EventResultBalancesSize)
		for i := range results {
			results[i].EncodeWithBalances(encoded[i*model.EventResultBalancesSize:])
			m.countStatus(results[i].Status)
		}
		return model.StatusOK
	}
	encoded := grow(out, count*model.EventResultSize)
	for i := range results {
		results[i].EventResult.Encode(encoded[i*model.EventResultSize:])
		m.countStatus(results[i].Status)
	}
	return model.StatusOK
}

func (m *Machine) decodeIDs(body []byte) []model.Uint128 {
	ids := m.ids[:len(body)/model.IDSize]
	for i := range ids {
		ids[i] = model.Uint128LE(body[i*model.IDSize:])
	}
	return ids
}

func (m *Machine) lookupAccounts(client uint64, body []byte, out *Output) model.Status {
	found := m.ledger.LookupAccountsAs(client, m.decodeIDs(body), m.foundAccounts[:0])
	encoded := grow(out, len(found)*model.AccountSize)
	for i := range found {
		found[i].Encode(encoded[i*model.AccountSize:])
	}
	return model.StatusOK
}

func (m *Machine) lookupTransfers(client uint64, body []byte, out *Output) model.Status {
	found := m.sagas.View(m.ledger, m.ledger.LookupTransfersAs(client, m.decodeIDs(body),
		m.foundTransfers[:0]))
	encoded := grow(out, len(found)*model.TransferSize)
	for i := range found {
		found[i].Encode(encoded[i*model.TransferSize:])
	}
	return model.StatusOK
}

func (m *Machine) getAccountTransfers(client uint64, body []byte, out *Output) model.Status {
	var filter model.AccountFilter
	filter.Decode(body)
	found, status := m.ledger.GetAccountTransfersAs(client, &filter, m.foundTransfers[:0])
	encoded := grow(out, len(found)*model.TransferSize)
	for i := range found {
		found[i].Encode(encoded[i*model.TransferSize:])
	}
	return status
}

func (m *Machine) getAccountBalances(client uint64, body []byte, out *Output) model.Status {
	var filter model.AccountFilter
	filter.Decode(body)
	found, status := m.ledger.GetAccountBalancesAs(client, &filter, m.balances[:0])
	encoded := grow(out, len(found)*model.AccountBalanceSize)
	for i := range found {
		found[i].Encode(encoded[i*model.AccountBalanceSize:])
	}
	return status
}
