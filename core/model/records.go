package model

import (
	"encoding/binary"
	"unsafe"
)

// Record sizes. These are wire and disk formats: never change them.
const (
	AccountSize        = 128 // Account record.
	TransferSize       = 128 // Transfer record.
	AccountBalanceSize = 128 // AccountBalance record (history).
	AccountFilterSize  = 128 // AccountFilter query record.
	IDSize             = 16  // A bare 128-bit id (lookup requests).
	EventResultSize    = 16  // Compact per-event result.
	BalanceSize        = 64  // Four 128-bit balances.
	// EventResultBalancesSize is a per-event result followed by the post-transfer balances of
	// the debit and the credit account.
	EventResultBalancesSize = EventResultSize + 2*BalanceSize
)

// IsSystemID reports whether an id lies in the range reserved for Sequent's own accounts
// and transfers (bit 127 set; 2^128-1 excepted, it is invalid everywhere). The matching
// engine's escrow accounts, holds and settlements live there, so they can never collide
// with a client's ids; clients get id_reserved for such ids. Time-based ids (48-bit
// millisecond timestamp in the high bits) stay clear of it for millennia.
func IsSystemID(id Uint128) bool { return id.Hi>>63 == 1 && !id.IsMax() }

// Account field offsets within the 128-byte record (wire format: never change).
//
//	 0 id               16 debits_pending   32 debits_posted   48 credits_pending
//	64 credits_posted   80 user_data_128    96 user_data_64   104 user_data_32
//	108 reserved (u32)  112 ledger (u32)   116 code (u16)     118 flags (u16)
//	120 timestamp (u64)
const (
	accountOffsetID             = 0
	accountOffsetDebitsPending  = 16
	accountOffsetDebitsPosted   = 32
	accountOffsetCreditsPending = 48
	accountOffsetCreditsPosted  = 64
	accountOffsetUserData128    = 80
	accountOffsetUserData64     = 96
	accountOffsetUserData32     = 104
	accountOffsetReserved       = 108
	accountOffsetLedger         = 112
	accountOffsetCode           = 116
	accountOffsetFlags          = 118
	accountOffsetTimestamp      = 120
)

// Account flags. Bit positions follow TigerBeetle's so that its users read them the same
// way; bit 4 (TigerBeetle's "imported") is reserved here.
const (
	AccountLinked                     uint16 = 1 << 0
	AccountDebitsMustNotExceedCredits uint16 = 1 << 1
	AccountCreditsMustNotExceedDebits uint16 = 1 << 2
	AccountHistory                    uint16 = 1 << 3
	AccountClosed                     uint16 = 1 << 5
	// AccountFlagsKnown is the set of defined account flags; any other bit is reserved.
	AccountFlagsKnown = AccountLinked | AccountDebitsMustNotExceedCredits |
		AccountCreditsMustNotExceedDebits | AccountHistory | AccountClosed
)

// Account is a ledger account. Only the four balances change after creation, and only
// through transfers (plus the closed flag, through closing transfers).
type Account struct {
	ID             Uint128 // Client-chosen, unique forever, not 0 nor 2^128-1.
	DebitsPending  Uint128 // Reserved by pending transfers where this is the debit side.
	DebitsPosted   Uint128 // Posted debits.
	CreditsPending Uint128 // Reserved by pending transfers where this is the credit side.
	CreditsPosted  Uint128 // Posted credits.
	UserData128    Uint128 // Opaque to Sequent.
	UserData64     uint64  // Opaque to Sequent.
	UserData32     uint32  // Opaque to Sequent.
	Reserved       uint32  // Must be zero.
	Ledger         uint32  // Currency or asset; only accounts of one ledger transact.
	Code           uint16  // User-defined account type; not zero.
	Flags          uint16  // Account* flags.
	Timestamp      uint64  // Assigned by the sequencer at creation (ns since the epoch).
}

// The in-memory struct has exactly the record's size and no padding: each pair fails to
// compile on any mismatch.
const (
	_ uintptr = unsafe.Sizeof(Account{}) - AccountSize
	_ uintptr = AccountSize - unsafe.Sizeof(Account{})
)

// Balance is the four balances of one account at one moment.
type Balance struct {
	DebitsPending  Uint128
	DebitsPosted   Uint128
	CreditsPending Uint128
	CreditsPosted  Uint128
}

// Balance returns the account's current balances.
func (a *Account) Balance() Balance {
	return Balance{a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted}
}

// BalanceTo writes the account's current balances into b, as *b = a.Balance() would
// without the zeroed temporary that assignment compiles to: a created transfer copies
// both accounts' balances into its result and into its event.
func (a *Account) BalanceTo(b *Balance) {
	b.DebitsPending, b.DebitsPosted = a.DebitsPending, a.DebitsPosted
	b.CreditsPending, b.CreditsPosted = a.CreditsPending, a.CreditsPosted
}

// Encode writes the account into b[0:128].
func (a *Account) Encode(b []byte) {
	_ = b[AccountSize-1]
	a.ID.PutLE(b[accountOffsetID:])
	a.DebitsPending.PutLE(b[accountOffsetDebitsPending:])
	a.DebitsPosted.PutLE(b[accountOffsetDebitsPosted:])
	a.CreditsPending.PutLE(b[accountOffsetCreditsPending:])
	a.CreditsPosted.PutLE(b[accountOffsetCreditsPosted:])
	a.UserData128.PutLE(b[accountOffsetUserData128:])
	binary.LittleEndian.PutUint64(b[accountOffsetUserData64:], a.UserData64)
	binary.LittleEndian.PutUint32(b[accountOffsetUserData32:], a.UserData32)
	binary.LittleEndian.PutUint32(b[accountOffsetReserved:], a.Reserved)
	binary.LittleEndian.PutUint32(b[accountOffsetLedger:], a.Ledger)
	binary.LittleEndian.PutUint16(b[accountOffsetCode:], a.Code)
	binary.LittleEndian.PutUint16(b[accountOffsetFlags:], a.Flags)
	binary.LittleEndian.PutUint64(b[accountOffsetTimestamp:], a.Timestamp)
}

// Decode reads the account from b[0:128]. Every bit pattern decodes; validation of the
// fields is the ledger's job and yields result codes.
func (a *Account) Decode(b []byte) {
	_ = b[AccountSize-1]
	a.ID = Uint128LE(b[accountOffsetID:])
	a.DebitsPending = Uint128LE(b[accountOffsetDebitsPending:])
	a.DebitsPosted = Uint128LE(b[accountOffsetDebitsPosted:])
	a.CreditsPending = Uint128LE(b[accountOffsetCreditsPending:])
	a.CreditsPosted = Uint128LE(b[accountOffsetCreditsPosted:])
	a.UserData128 = Uint128LE(b[accountOffsetUserData128:])
	a.UserData64 = binary.LittleEndian.Uint64(b[accountOffsetUserData64:])
	a.UserData32 = binary.LittleEndian.Uint32(b[accountOffsetUserData32:])
	a.Reserved = binary.LittleEndian.Uint32(b[accountOffsetReserved:])
	a.Ledger = binary.LittleEndian.Uint32(b[accountOffsetLedger:])
	a.Code = binary.LittleEndian.Uint16(b[accountOffsetCode:])
	a.Flags = binary.LittleEndian.Uint16(b[accountOffsetFlags:])
	a.Timestamp = binary.LittleEndian.Uint64(b[accountOffsetTimestamp:])
}

// Transfer field offsets within the 128-byte record (wire format: never change).
//
//	 0 id               16 debit_account_id  32 credit_account_id  48 amount
//	64 pending_id       80 user_data_128     96 user_data_64      104 user_data_32
//	108 timeout (u32, seconds)  112 ledger (u32)  116 code (u16)  118 flags (u16)
//	120 timestamp (u64)
const (
	transferOffsetID              = 0
	transferOffsetDebitAccountID  = 16
	transferOffsetCreditAccountID = 32
	transferOffsetAmount          = 48
	transferOffsetPendingID       = 64
	transferOffsetUserData128     = 80
	transferOffsetUserData64      = 96
	transferOffsetUserData32      = 104
	transferOffsetTimeout         = 108
	transferOffsetLedger          = 112
	transferOffsetCode            = 116
	transferOffsetFlags           = 118
	transferOffsetTimestamp       = 120
)

// Transfer flags, in TigerBeetle's bit positions; bit 8 ("imported" there) is reserved.
const (
	TransferLinked          uint16 = 1 << 0
	TransferPending         uint16 = 1 << 1
	TransferPostPending     uint16 = 1 << 2
	TransferVoidPending     uint16 = 1 << 3
	TransferBalancingDebit  uint16 = 1 << 4
	TransferBalancingCredit uint16 = 1 << 5
	TransferClosingDebit    uint16 = 1 << 6
	TransferClosingCredit   uint16 = 1 << 7
	// TransferFlagsKnown is the set of defined transfer flags; any other bit is reserved.
	TransferFlagsKnown = TransferLinked | TransferPending | TransferPostPending |
		TransferVoidPending | TransferBalancingDebit | TransferBalancingCredit |
		TransferClosingDebit | TransferClosingCredit
	// TransferHeldForReview is set by the server, never by a client (reserved_flag): an
	// anomaly rule with the hold action turned the transfer into a pending one held for
	// review (package core/risk). Only an operator may post it.
	TransferHeldForReview uint16 = 1 << 15
	// TransferFromReservation is set by the matching engine, never by a client
	// (reserved_flag_from_reservation): the transfer is a fill paid out of an order's
	// reservation (a pending amount that has no transfer record: package ledger,
	// "Reservations"), which it first releases on both accounts and then posts.
	TransferFromReservation uint16 = 1 << 14
	// TransferFlagsStored is every flag a stored transfer may carry.
	TransferFlagsStored = TransferFlagsKnown | TransferHeldForReview | TransferFromReservation
)

// Transfer moves Amount from the debit account to the credit account of the same ledger.
type Transfer struct {
	ID              Uint128 // Client-chosen idempotency key, unique forever.
	DebitAccountID  Uint128 // Account debited. For post/void: 0 inherits the pending one's.
	CreditAccountID Uint128 // Account credited. For post/void: 0 inherits.
	Amount          Uint128 // Amount; for post, 2^128-1 posts the full pending amount.
	PendingID       Uint128 // For post/void: the pending transfer resolved.
	UserData128     Uint128 // Opaque. For post/void: 0 inherits.
	UserData64      uint64  // Opaque. For post/void: 0 inherits.
	UserData32      uint32  // Opaque. For post/void: 0 inherits.
	Timeout         uint32  // Seconds until a pending transfer expires; 0 never.
	Ledger          uint32  // Must equal both accounts' ledger. For post/void: 0 inherits.
	Code            uint16  // Reason code, not zero. For post/void: 0 inherits.
	Flags           uint16  // Transfer* flags.
	Timestamp       uint64  // Assigned by the sequencer.
}

const (
	_ uintptr = unsafe.Sizeof(Transfer{}) - TransferSize
	_ uintptr = TransferSize - unsafe.Sizeof(Transfer{})
)

// Encode writes the transfer into b[0:128].
func (t *Transfer) Encode(b []byte) {
	_ = b[TransferSize-1]
	t.ID.PutLE(b[transferOffsetID:])
	t.DebitAccountID.PutLE(b[transferOffsetDebitAccountID:])
	t.CreditAccountID.PutLE(b[transferOffsetCreditAccountID:])
	t.Amount.PutLE(b[transferOffsetAmount:])
	t.PendingID.PutLE(b[transferOffsetPendingID:])
	t.UserData128.PutLE(b[transferOffsetUserData128:])
	binary.LittleEndian.PutUint64(b[transferOffsetUserData64:], t.UserData64)
	binary.LittleEndian.PutUint32(b[transferOffsetUserData32:], t.UserData32)
	binary.LittleEndian.PutUint32(b[transferOffsetTimeout:], t.Timeout)
	binary.LittleEndian.PutUint32(b[transferOffsetLedger:], t.Ledger)
	binary.LittleEndian.PutUint16(b[transferOffsetCode:], t.Code)
	binary.LittleEndian.PutUint16(b[transferOffsetFlags:], t.Flags)
	binary.LittleEndian.PutUint64(b[transferOffsetTimestamp:], t.Timestamp)
}

// Decode reads the transfer from b[0:128].
func (t *Transfer) Decode(b []byte) {
	_ = b[TransferSize-1]
	t.ID = Uint128LE(b[transferOffsetID:])
	t.DebitAccountID = Uint128LE(b[transferOffsetDebitAccountID:])
	t.CreditAccountID = Uint128LE(b[transferOffsetCreditAccountID:])
	t.Amount = Uint128LE(b[transferOffsetAmount:])
	t.PendingID = Uint128LE(b[transferOffsetPendingID:])
	t.UserData128 = Uint128LE(b[transferOffsetUserData128:])
	t.UserData64 = binary.LittleEndian.Uint64(b[transferOffsetUserData64:])
	t.UserData32 = binary.LittleEndian.Uint32(b[transferOffsetUserData32:])
	t.Timeout = binary.LittleEndian.Uint32(b[transferOffsetTimeout:])
	t.Ledger = binary.LittleEndian.Uint32(b[transferOffsetLedger:])
	t.Code = binary.LittleEndian.Uint16(b[transferOffsetCode:])
	t.Flags = binary.LittleEndian.Uint16(b[transferOffsetFlags:])
	t.Timestamp = binary.LittleEndian.Uint64(b[transferOffsetTimestamp:])
}

// AccountBalance is one entry of an account's balance history: its balances right after
// the transfer with the given timestamp. Layout: four balances at 0/16/32/48, timestamp at
// 64, 56 reserved zero bytes.
type AccountBalance struct {
	Balance
	Timestamp uint64 // Timestamp of the transfer that produced these balances.
}

// Encode writes the record into b[0:128], zeroing the reserved bytes.
func (r *AccountBalance) Encode(b []byte) {
	_ = b[AccountBalanceSize-1]
	r.Balance.Encode(b[0:BalanceSize])
	binary.LittleEndian.PutUint64(b[64:], r.Timestamp)
	clear(b[72:AccountBalanceSize])
}

// Decode reads the record from b[0:128].
func (r *AccountBalance) Decode(b []byte) {
	_ = b[AccountBalanceSize-1]
	r.Balance.Decode(b[0:BalanceSize])
	r.Timestamp = binary.LittleEndian.Uint64(b[64:])
}

// Encode writes the four balances into b[0:64] in the order debits pending, debits
// posted, credits pending, credits posted.
func (x *Balance) Encode(b []byte) {
	_ = b[BalanceSize-1]
	x.DebitsPending.PutLE(b[0:])
	x.DebitsPosted.PutLE(b[16:])
	x.CreditsPending.PutLE(b[32:])
	x.CreditsPosted.PutLE(b[48:])
}

// Decode reads the four balances from b[0:64].
func (x *Balance) Decode(b []byte) {
	_ = b[BalanceSize-1]
	x.DebitsPending = Uint128LE(b[0:])
	x.DebitsPosted = Uint128LE(b[16:])
	x.CreditsPending = Uint128LE(b[32:])
	x.CreditsPosted = Uint128LE(b[48:])
}

// AccountFilter flags.
const (
	FilterDebits   uint32 = 1 << 0 // Include transfers where the account is debited.
	FilterCredits  uint32 = 1 << 1 // Include transfers where the account is credited.
	FilterReversed uint32 = 1 << 2 // Newest first.
	// FilterFlagsKnown is the set of defined filter flags.
	FilterFlagsKnown = FilterDebits | FilterCredits | FilterReversed
)

// AccountFilter selects transfers (or balance history entries) of one account.
// Layout: account_id 0, user_data_128 16, user_data_64 32, user_data_32 40, code 44 (u16),
// reserved 46..103, timestamp_min 104, timestamp_max 112, limit 120 (u32), flags 124 (u32).
type AccountFilter struct {
	AccountID    Uint128 // The account whose transfers are listed.
	UserData128  Uint128 // 0 = any; else the transfer's user_data_128 must match.
	UserData64   uint64  // 0 = any.
	UserData32   uint32  // 0 = any.
	Code         uint16  // 0 = any.
	TimestampMin uint64  // Inclusive; 0 = no lower bound.
	TimestampMax uint64  // Inclusive; 0 = no upper bound.
	Limit        uint32  // Maximum number of results, 1..EventsPerBatchMax.
	Flags        uint32  // Filter* flags; at least one of debits and credits.
	// ReservedNonZero is set by Decode when a reserved byte is not zero; the query then
	// fails with StatusReservedField.
	ReservedNonZero bool
}

// Encode writes the filter into b[0:128], zeroing the reserved bytes.
func (f *AccountFilter) Encode(b []byte) {
	_ = b[AccountFilterSize-1]
	f.AccountID.PutLE(b[0:])
	f.UserData128.PutLE(b[16:])
	binary.LittleEndian.PutUint64(b[32:], f.UserData64)
	binary.LittleEndian.PutUint32(b[40:], f.UserData32)
	binary.LittleEndian.PutUint16(b[44:], f.Code)
	clear(b[46:104])
	binary.LittleEndian.PutUint64(b[104:], f.TimestampMin)
	binary.LittleEndian.PutUint64(b[112:], f.TimestampMax)
	binary.LittleEndian.PutUint32(b[120:], f.Limit)
	binary.LittleEndian.PutUint32(b[124:], f.Flags)
}

// Decode reads the filter from b[0:128].
func (f *AccountFilter) Decode(b []byte) {
	_ = b[AccountFilterSize-1]
	f.AccountID = Uint128LE(b[0:])
	f.UserData128 = Uint128LE(b[16:])
	f.UserData64 = binary.LittleEndian.Uint64(b[32:])
	f.UserData32 = binary.LittleEndian.Uint32(b[40:])
	f.Code = binary.LittleEndian.Uint16(b[44:])
	f.ReservedNonZero = false
	for _, value := range b[46:104] {
		if value != 0 {
			f.ReservedNonZero = true
			break
		}
	}
	f.TimestampMin = binary.LittleEndian.Uint64(b[104:])
	f.TimestampMax = binary.LittleEndian.Uint64(b[112:])
	f.Limit = binary.LittleEndian.Uint32(b[120:])
	f.Flags = binary.LittleEndian.Uint32(b[124:])
}

// EventResult is the outcome of one create event. For StatusOK (created) and StatusExists
// the timestamp is the object's; otherwise it is the time the event was evaluated.
type EventResult struct {
	Timestamp uint64
	Status    Status
	// Rule is the risk rule that decided a risk status (300..349: a refusal, or a
	// transfer held for review); 0 otherwise. It fills what was the record's reserved
	// u32, so the record keeps its 16 bytes.
	Rule uint32
}

// Encode writes the result into b[0:16]: timestamp u64, status u32, rule u32.
func (r *EventResult) Encode(b []byte) {
	_ = b[EventResultSize-1]
	binary.LittleEndian.PutUint64(b[0:], r.Timestamp)
	binary.LittleEndian.PutUint32(b[8:], uint32(r.Status))
	binary.LittleEndian.PutUint32(b[12:], r.Rule)
}

// Decode reads the result from b[0:16].
func (r *EventResult) Decode(b []byte) {
	_ = b[EventResultSize-1]
	r.Timestamp = binary.LittleEndian.Uint64(b[0:])
	r.Status = Status(binary.LittleEndian.Uint32(b[8:]))
	r.Rule = binary.LittleEndian.Uint32(b[12:])
}

// TransferResult is the outcome of one create_transfers event together with the balances
// of both accounts right after it (zero unless the transfer was created), or, for a risk
// refusal, the explanation of the rule that refused it.
type TransferResult struct {
	EventResult
	DebitAccount  Balance    // Debit account's balances after the transfer.
	CreditAccount Balance    // Credit account's balances after the transfer.
	Risk          RiskDetail // A risk refusal's explanation (Status.IsRiskRefusal).
}

// EncodeWithBalances writes the result and both balances into b[0:144]; for a risk
// refusal, which has no balances, the 128 bytes after the result hold the RiskDetail.
func (r *TransferResult) EncodeWithBalances(b []byte) {
	_ = b[EventResultBalancesSize-1]
	r.EventResult.Encode(b[0:EventResultSize])
	if r.Status.IsRiskRefusal() {
		r.Risk.Encode(b[EventResultSize:])
		return
	}
	r.DebitAccount.Encode(b[EventResultSize:])
	r.CreditAccount.Encode(b[EventResultSize+BalanceSize:])
}

// DecodeWithBalances reads a result written by EncodeWithBalances.
func (r *TransferResult) DecodeWithBalances(b []byte) {
	_ = b[EventResultBalancesSize-1]
	r.EventResult.Decode(b[0:EventResultSize])
	if r.Status.IsRiskRefusal() {
		r.DebitAccount, r.CreditAccount = Balance{}, Balance{}
		r.Risk.Decode(b[EventResultSize:])
		return
	}
	r.Risk = RiskDetail{}
	r.DebitAccount.Decode(b[EventResultSize:])
	r.CreditAccount.Decode(b[EventResultSize+BalanceSize:])
}
