package bench

import "sequent/core/model"

// Identifiers. Accounts, traders, issuers, the instrument and funding transfers derive
// from the seed only, so a rerun with the same seed finds them (create answers exists)
// instead of creating more. Transfers and client order ids also derive from the run id,
// so reruns never collide with earlier runs' ids.
//
// A ledger id is {Hi: a 62-bit tag of its namespace, Lo: an index}: bit 127 (the system
// range) is always clear and bit 126 always set, so no id is 0 or 2^128-1.

// Namespaces of derived ids.
const (
	namespaceAccounts    = 0x6163636f756e7473 // Transfer workloads' accounts.
	namespaceTraderBase  = 0x7472616465726261 // Traders' base-ledger accounts.
	namespaceTraderQuote = 0x7472616465727175 // Traders' quote-ledger accounts.
	namespaceIssuers     = 0x6973737565727300 // The two issuers funding the traders.
	namespaceFunding     = 0x66756e64696e6700 // Funding transfers (once per trader).
	namespaceTransfers   = 0x7472616e73666572 // The run's transfers.
	namespaceInstrument  = 0x696e737472756d65 // The order workload's instrument.
	namespaceOrders      = 0x6f72646572730000 // The run's client order ids.
)

// mix64 is SplitMix64's finalizer: a bijection that scatters nearby inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// tag returns the high half of the ids of one namespace.
func tag(seed, namespace uint64) uint64 {
	return mix64(mix64(seed)^namespace)&(1<<62-1) | 1<<62
}

// idSpace names every object of one run.
type idSpace struct {
	accounts    uint64 // Hi of the transfer workloads' accounts.
	traderBase  uint64 // Hi of traders' base accounts.
	traderQuote uint64 // Hi of traders' quote accounts.
	issuers     uint64 // Hi of the issuers.
	funding     uint64 // Hi of funding transfers.
	transfers   uint64 // Hi of the run's transfers.
	instrument  uint32 // The instrument id (not 0).
	orderSalt   uint64 // The run's part of its client order ids (not 0), above orderBits.
	orderBits   uint   // Low bits of a client order id that hold its sequence.
}

// Client order id layouts: the run's part above the sequence. The default's run part is
// 24 random bits; with the increasing opt-in (Config.ClientOrderIDsIncreasing) it is
// RunID >> increasingRunShift, 28 bits (the clock's nanoseconds by default: units of
// ~1.07 s, wrapping every ~9.1 years), so a later run's ids are above an earlier run's
// for every trading account: the server refuses a key at or below an opted-in account's
// mark, and the opt-in is for good, so a rerun with the same seed (the same traders)
// must keep climbing.
const (
	orderBitsDefault    = 40
	orderBitsIncreasing = 36
	increasingRunShift  = 30
	increasingRunBits   = 64 - orderBitsIncreasing
)

func newIDSpace(seed, runID uint64, increasing bool) idSpace {
	run := mix64(seed ^ mix64(runID))
	salt, bits := mix64(run^namespaceOrders)>>orderBitsDefault|1, uint(orderBitsDefault)
	if increasing {
		salt = runID >> increasingRunShift & (1<<increasingRunBits - 1)
		bits = orderBitsIncreasing
	}
	return idSpace{
		accounts:    tag(seed, namespaceAccounts),
		traderBase:  tag(seed, namespaceTraderBase),
		traderQuote: tag(seed, namespaceTraderQuote),
		issuers:     tag(seed, namespaceIssuers),
		funding:     tag(seed, namespaceFunding),
		transfers:   tag(run, namespaceTransfers),
		instrument:  uint32(mix64(seed^namespaceInstrument)) | 1,
		orderSalt:   salt,
		orderBits:   bits,
	}
}

func (s *idSpace) account(index uint32) model.Uint128 {
	return model.Uint128{Hi: s.accounts, Lo: uint64(index)}
}

func (s *idSpace) traderBaseAccount(trader uint32) model.Uint128 {
	return model.Uint128{Hi: s.traderBase, Lo: uint64(trader)}
}

func (s *idSpace) traderQuoteAccount(trader uint32) model.Uint128 {
	return model.Uint128{Hi: s.traderQuote, Lo: uint64(trader)}
}

// issuer returns the issuer account of ledger (orderBaseLedger or orderQuoteLedger).
func (s *idSpace) issuer(ledger uint32) model.Uint128 {
	return model.Uint128{Hi: s.issuers, Lo: uint64(ledger)}
}

// fundingTransfer returns the id of trader's funding on ledger: the same in every run.
func (s *idSpace) fundingTransfer(trader uint32, ledger uint32) model.Uint128 {
	return model.Uint128{Hi: s.funding, Lo: uint64(trader)<<8 | uint64(ledger)}
}

// transfer returns the id of a connection's sequence-th transfer of this run.
func (s *idSpace) transfer(connection int, sequence uint64) model.Uint128 {
	return model.Uint128{Hi: s.transfers, Lo: uint64(connection)<<40 | sequence}
}

// clientOrderID returns a connection's sequence-th client order id of this run; trading
// accounts belong to one connection, so ids are unique per (client, trading account).
// Sequence numbers from half the sequence range on are the final mass cancels'.
func (s *idSpace) clientOrderID(sequence uint64) uint64 {
	return s.orderSalt<<s.orderBits | sequence&(1<<s.orderBits-1)
}

// massCancelOrderID is the client order id of the final mass cancel of trader's orders:
// above every id the load used (its sequences stay below half the range), so it is also
// increasing for an opted-in trading account.
func (s *idSpace) massCancelOrderID(trader uint32) uint64 {
	return s.clientOrderID(1<<(s.orderBits-1) + uint64(trader))
}

// tradingAccount is trader's trading account number within the client (not 0).
func tradingAccount(trader uint32) uint64 { return uint64(trader) + 1 }
