package risk

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
	// PairsMax bounds the remembered (payer, payee) pairs of cooling-off rules (~40 bytes
	// each with the table). Beyond it a new pair is not remembered: it stays "new" and
	// keeps receiving at most the small amount, the safe side of the rule. An operator
	// sees it as sequent_risk_pairs reaching the bound (Stats.Pairs).
	PairsMax = 1 << 24
	// undoPerEventMax bounds the undo records one transfer writes inside a linked chain:
	// its account window, its account averages, the client's window, daily total and
	// averages, the ledger's daily total, and one pair.
	undoPerEventMax = 7
	// deviationFloorShift sets the least deviation an anomaly score divides by: the mean
	// over 2^4 (6.25% of it), so that an account whose amounts never varied is not
	// flagged for paying one unit more than usual.
	deviationFloorShift = 4
	// thresholdUnit is the anomaly threshold's fixed-point unit: sixteenths.
	thresholdUnit = 16
	// cellChunkShift sets the per-account cell arrays' chunks to 65,536 accounts.
	cellChunkShift = 16
	cellChunkMask  = 1<<cellChunkShift - 1
)
