package risk

import "sequent/core/internal/prefetch"

// Bounds of the risk engine. Each bounds memory or the work of one transfer.
const (
	// RulesMax bounds the rules in force: they are resolved into profiles on every change
	// and listed whole in snapshots.
	RulesMax = 4096
	// RulesPerClientMax bounds one client's client-scope rules: every transfer the client
	// sends is checked against each of them (with the ledger filter), so this is the
	// worst-case work they add to one transfer.
	RulesPerClientMax = 16
	// CounterpartiesPerAccountMax bounds the blocked counterparties of one account (a
	// linear scan per transfer of that account).
	CounterpartiesPerAccountMax = 16
	// deviationFloorShift sets the least deviation an anomaly score divides by: the mean
	// over 2^4 (6.25% of it; and at least 1), so that an account whose amounts never
	// varied is not flagged for paying one unit more than usual.
	deviationFloorShift = 4
	// thresholdShift makes the anomaly threshold's fixed-point unit sixteenths (2^-4).
	thresholdShift = 4
	// cellChunkShift sets the per-account cell arrays' chunks to 65,536 accounts.
	cellChunkShift = 16
	cellChunkMask  = 1<<cellChunkShift - 1
	// prefetchAddressesMax bounds the addresses Prefetch hands the CPU at a time (one
	// per account, for the two lines of its cell a transfer touches): the ledger's blocks
	// of 16 transfers fit in one call.
	prefetchAddressesMax = 64
	// accountCellHotBytes is the size of an account cell, all of which a transfer under
	// the velocity and anomaly rules may read or write: two cache lines (accountCell),
	// what Prefetch asks for.
	accountCellHotBytes = prefetch.LinePairBytes
)
