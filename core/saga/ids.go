package saga

import "sequent/core/model"

const (
	systemIDHigh   = 1<<63 | 0x73<<48
	kindMask       = 0xff << 40
	kindSettlement = 1 << 40
	kindCredit     = 2 << 40
	kindPost       = 3 << 40
	kindVoid       = 4 << 40
)

// AccountCodeSettlement is the ledger code of settlement accounts. The steps' transfers
// keep the client's code and user data, so that both accounts' listings show them.
const AccountCodeSettlement uint16 = 0x7301

// SettlementAccountID is the id of the settlement account of sagas from shard from to
// shard to on a ledger. The same id exists on both shards.
func SettlementAccountID(from, to uint16, ledger uint32) model.Uint128 {
	return model.Uint128{Hi: systemIDHigh | kindSettlement | uint64(from)<<16 | uint64(to),
		Lo: uint64(ledger)}
}

// SettlementAccount parses a settlement account id.
func SettlementAccount(id model.Uint128) (from, to uint16, ledger uint32, ok bool) {
	if id.Hi&^(kindMask|0xffffffff) != systemIDHigh || id.Hi&kindMask != kindSettlement ||
		id.Lo>>32 != 0 {
		return 0, 0, 0, false
	}
	return uint16(id.Hi >> 16), uint16(id.Hi), uint32(id.Lo), true
}

// CreditTransferID is the id of step 2 (on the credit shard) of debit shard from's saga.
func CreditTransferID(from uint16, sequence uint64) model.Uint128 {
	return model.Uint128{Hi: systemIDHigh | kindCredit | uint64(from)<<16, Lo: sequence}
}

// PostTransferID and VoidTransferID are the ids of step 3 (on the debit shard) of a saga
// whose credit shard is to.
func PostTransferID(to uint16, sequence uint64) model.Uint128 {
	return model.Uint128{Hi: systemIDHigh | kindPost | uint64(to)<<16, Lo: sequence}
}

// VoidTransferID: see PostTransferID.
func VoidTransferID(to uint16, sequence uint64) model.Uint128 {
	return model.Uint128{Hi: systemIDHigh | kindVoid | uint64(to)<<16, Lo: sequence}
}
