package model

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"slices"
)

// Clearing operations (36..39, inside the 20..39 block; the numbers were reserved for
// clearing and reconciliation).
const (
	// OperationGetLedgerTotals is a trial balance: per ledger, the number of accounts and
	// the sums of their four balances. Event: one LedgerFilter. Results: LedgerTotals, in
	// ascending ledger order. Σ debits = Σ credits (posted and pending) in every ledger is
	// the double-entry invariant an auditor checks.
	OperationGetLedgerTotals Operation = 36
)

// Record sizes of the clearing operations (wire formats: never change them).
const (
	LedgerFilterSize = 16  // LedgerFilter query record.
	LedgerTotalsSize = 128 // LedgerTotals result record.
)

func init() {
	registerOperation(OperationGetLedgerTotals, OperationInfo{Name: "get_ledger_totals",
		EventSize: LedgerFilterSize, ResultSize: LedgerTotalsSize, Query: true,
		EventsMax: 1, ResultsMax: EventsPerRequestMax})
}

// LedgerFilter selects the ledgers of a get_ledger_totals query: those from LedgerMin to
// LedgerMax (both inclusive; LedgerMax 0 = no upper bound), at most Limit of them, lowest
// first. To page, ask again from the last ledger returned plus one.
//
// Layout: ledger_min u32 at 0, ledger_max u32 at 4, limit u32 at 8, reserved u32 at 12.
type LedgerFilter struct {
	LedgerMin uint32
	LedgerMax uint32 // 0 = no upper bound.
	Limit     uint32 // 1..EventsPerRequestMax.
	Reserved  uint32 // Must be zero (else reserved_field).
}

// Encode writes the filter into b[0:16].
func (f *LedgerFilter) Encode(b []byte) {
	_ = b[LedgerFilterSize-1]
	binary.LittleEndian.PutUint32(b[0:], f.LedgerMin)
	binary.LittleEndian.PutUint32(b[4:], f.LedgerMax)
	binary.LittleEndian.PutUint32(b[8:], f.Limit)
	binary.LittleEndian.PutUint32(b[12:], f.Reserved)
}

// Decode reads the filter from b[0:16].
func (f *LedgerFilter) Decode(b []byte) {
	_ = b[LedgerFilterSize-1]
	f.LedgerMin = binary.LittleEndian.Uint32(b[0:])
	f.LedgerMax = binary.LittleEndian.Uint32(b[4:])
	f.Limit = binary.LittleEndian.Uint32(b[8:])
	f.Reserved = binary.LittleEndian.Uint32(b[12:])
}

// WideSum is an exact sum of 128-bit values: High·2^128 + Low. A ledger holds at most
// 2^32 accounts, each balance below 2^128, so High stays below 2^32; it is kept in 64 bits
// so that a sum can never wrap.
type WideSum struct {
	Low  Uint128
	High uint64
}

// Add adds x to the sum. The carry goes into High as a number, not through a branch,
// which keeps Add (and the ledger's running-totals upkeep built on it, two Adds per
// transfer) small enough to inline.
func (s *WideSum) Add(x Uint128) {
	var carry uint64
	s.Low.Lo, carry = bits.Add64(s.Low.Lo, x.Lo, 0)
	s.Low.Hi, carry = bits.Add64(s.Low.Hi, x.Hi, carry)
	s.High += carry
}

// Sub subtracts x from the sum, which must hold at least x (a running total giving back
// what was added to it): going below zero is a bug, and panics. Its panic value
// (wideSumBelowZero) is formatted only when printed, which keeps Sub small enough to
// inline (a post or void gives back two pending sums: as calls, ~60 instructions).
func (s *WideSum) Sub(x Uint128) {
	var borrow uint64
	s.Low.Lo, borrow = bits.Sub64(s.Low.Lo, x.Lo, 0)
	s.Low.Hi, borrow = bits.Sub64(s.Low.Hi, x.Hi, borrow)
	if borrow > s.High { // A borrow out of a zero High.
		panic(wideSumBelowZero{X: x})
	}
	s.High -= borrow
}

// wideSumBelowZero is WideSum.Sub's panic value: the sum held less than X.
type wideSumBelowZero struct{ X Uint128 }

func (e wideSumBelowZero) Error() string {
	return fmt.Sprintf("model: WideSum below zero subtracting %s", e.X)
}

// AddSum adds another exact sum (the high words cannot overflow: a node holds far fewer
// than 2^64 × 2^128 units).
func (s *WideSum) AddSum(x WideSum) {
	s.Add(x.Low)
	s.High += x.High
}

// Big returns the sum as a big.Int (printing, tests).
func (s WideSum) Big() *big.Int {
	value := new(big.Int).SetUint64(s.High)
	value.Lsh(value, 128)
	return value.Add(value, s.Low.Big())
}

// String formats the sum in decimal.
func (s WideSum) String() string {
	if s.High == 0 {
		return s.Low.String()
	}
	return s.Big().String()
}

// MarshalText formats the sum in decimal (JSON numbers cannot hold 2^128).
func (s WideSum) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LedgerTotals is one ledger's trial balance: how many accounts it has and the exact sums
// of their balances at the moment of the query.
//
// Layout (128 bytes): ledger u32 at 0, reserved u32 at 4, accounts u64 at 8; the low 128
// bits of the four sums at 16 (debits_pending), 32 (debits_posted), 48 (credits_pending)
// and 64 (credits_posted); their high 64 bits at 80, 88, 96 and 104 in the same order;
// 16 reserved bytes at 112. Each sum is high·2^128 + low.
type LedgerTotals struct {
	Ledger         uint32
	Accounts       uint64
	DebitsPending  WideSum
	DebitsPosted   WideSum
	CreditsPending WideSum
	CreditsPosted  WideSum
}

// Balanced reports whether the ledger satisfies double entry: Σ debits posted = Σ
// credits posted and Σ debits pending = Σ credits pending.
func (t *LedgerTotals) Balanced() bool {
	return t.DebitsPosted == t.CreditsPosted && t.DebitsPending == t.CreditsPending
}

// Encode writes the totals into b[0:128], zeroing the reserved bytes.
func (t *LedgerTotals) Encode(b []byte) {
	_ = b[LedgerTotalsSize-1]
	binary.LittleEndian.PutUint32(b[0:], t.Ledger)
	binary.LittleEndian.PutUint32(b[4:], 0)
	binary.LittleEndian.PutUint64(b[8:], t.Accounts)
	for i, sum := range t.sums() {
		sum.Low.PutLE(b[16+16*i:])
		binary.LittleEndian.PutUint64(b[80+8*i:], sum.High)
	}
	clear(b[112:LedgerTotalsSize])
}

// Decode reads the totals from b[0:128].
func (t *LedgerTotals) Decode(b []byte) {
	_ = b[LedgerTotalsSize-1]
	t.Ledger = binary.LittleEndian.Uint32(b[0:])
	t.Accounts = binary.LittleEndian.Uint64(b[8:])
	for i, sum := range t.sums() {
		sum.Low = Uint128LE(b[16+16*i:])
		sum.High = binary.LittleEndian.Uint64(b[80+8*i:])
	}
}

// sums returns the four sums in wire order.
func (t *LedgerTotals) sums() [4]*WideSum {
	return [4]*WideSum{&t.DebitsPending, &t.DebitsPosted, &t.CreditsPending, &t.CreditsPosted}
}

// Add adds an account's balances to the totals (and counts it).
func (t *LedgerTotals) Add(a *Account) {
	t.Accounts++
	t.DebitsPending.Add(a.DebitsPending)
	t.DebitsPosted.Add(a.DebitsPosted)
	t.CreditsPending.Add(a.CreditsPending)
	t.CreditsPosted.Add(a.CreditsPosted)
}

// String summarises the totals for logs and test failures.
func (t *LedgerTotals) String() string {
	return fmt.Sprintf("ledger %d: %d accounts, debits posted %s pending %s, credits posted %s pending %s",
		t.Ledger, t.Accounts, t.DebitsPosted, t.DebitsPending, t.CreditsPosted, t.CreditsPending)
}

// MergeLedgerTotals sums several shards' get_ledger_totals results (each a reply body of
// LedgerTotals records) per ledger into one reply body: ledgers in ascending order, at
// most limit of them. Each shard lists its lowest ledgers from the filter's minimum, at
// most the limit: a ledger one shard left out has at least limit ledgers below it there,
// so it is not among the node's lowest limit either, and the sums kept are complete.
func MergeLedgerTotals(replies [][]byte, limit uint32) []byte {
	sums := map[uint32]*LedgerTotals{}
	var ledgers []uint32
	for _, reply := range replies {
		for offset := 0; offset+LedgerTotalsSize <= len(reply); offset += LedgerTotalsSize {
			var totals LedgerTotals
			totals.Decode(reply[offset:])
			sum := sums[totals.Ledger]
			if sum == nil {
				sum = &LedgerTotals{Ledger: totals.Ledger}
				sums[totals.Ledger] = sum
				ledgers = append(ledgers, totals.Ledger)
			}
			sum.Accounts += totals.Accounts
			sum.DebitsPending.AddSum(totals.DebitsPending)
			sum.DebitsPosted.AddSum(totals.DebitsPosted)
			sum.CreditsPending.AddSum(totals.CreditsPending)
			sum.CreditsPosted.AddSum(totals.CreditsPosted)
		}
	}
	slices.Sort(ledgers)
	ledgers = ledgers[:min(len(ledgers), int(limit))]
	body := make([]byte, len(ledgers)*LedgerTotalsSize)
	for i, ledger := range ledgers {
		sums[ledger].Encode(body[i*LedgerTotalsSize:])
	}
	return body
}
