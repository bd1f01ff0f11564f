package model

import "strconv"

// Operation names what a request asks for. Numbers are stable wire values.
//
//	1..19  ledger
//	20..39 matching (operation_match.go); 36..39 of them clearing (totals.go)
//	50..59 risk rules (operation_risk.go): internal writes, an admin query
//	60..79 internal: written to the log by the server itself, never sent by clients
type Operation uint8

// Ledger operations.
const (
	OperationCreateAccounts      Operation = 1 // Events: Account. Results: EventResult.
	OperationCreateTransfers     Operation = 2 // Events: Transfer. Results: EventResult.
	OperationLookupAccounts      Operation = 3 // Events: 16-byte id. Results: Account found.
	OperationLookupTransfers     Operation = 4 // Events: 16-byte id. Results: Transfer found.
	OperationGetAccountTransfers Operation = 5 // Event: one AccountFilter. Results: Transfer.
	OperationGetAccountBalances  Operation = 6 // Event: one AccountFilter. Results: AccountBalance.
)

// Internal operations: the sequencer writes these into the log; a client may not send them.
const (
	// OperationPulse carries no events. It exists so that time advances in the log when no
	// client writes: pending transfers and orders expire when an entry's timestamp passes
	// their deadline.
	OperationPulse Operation = 60
	// OperationSnapshot marks the op at which every replica takes a snapshot.
	OperationSnapshot Operation = 61
	// OperationAudit records an administrative action (who, what, when) in the log.
	OperationAudit Operation = 62
	// OperationCancelSession cancels every open order of a client whose session asked for
	// cancel-on-disconnect and whose connection ended. Event: the client id (u64).
	OperationCancelSession Operation = 63
	// OperationSetGrants replaces the table of access grants (the keys file's "grants")
	// that the core consults when a client touches accounts it does not own. The primary
	// writes it at start, after every keys reload and after a promotion, so every replica
	// and every replay decides ownership from the same table. Body: model.AppendGrants, or
	// model.AppendGrantsAndLimits from rules version 3 on (the per-client limits).
	OperationSetGrants Operation = 64
	// OperationUpgradeRules moves the machine to a newer rules version (how it applies
	// entries; see package core, "Rules version"). The primary writes it at start and after
	// a promotion when its machine is below the version it implements, so every replica
	// and every replay switches at the same op. Event: the target version (u32).
	OperationUpgradeRules Operation = 65
)

// OperationInfo describes the shape of an operation's request and reply bodies.
type OperationInfo struct {
	Name           string // Stable snake_case name.
	EventSize      int    // Bytes per request event; 0 = no events.
	ResultSize     int    // Bytes per reply record; 0 = variable.
	Write          bool   // Changes state: goes through the log and the session table.
	Query          bool   // Exactly one filter event; results are records found.
	Internal       bool   // Written by the server only.
	EventsMax      int    // Most events in one request.
	ResultsMax     int    // Most records in one reply.
	Matching       bool   // Belongs to the matching engine.
	BalancesResult bool   // Results may carry post-transfer balances (request flag).
}

// operationInfos holds every operation's description, indexed by its wire value: an
// array rather than a map because Info is on every request's path (the client asks it
// on every call, the server on every request frame) and a uint8 index needs neither a hash nor a
// bounds check. operationDefined says which entries are registered.
var (
	operationInfos   [operationValues]OperationInfo
	operationDefined [operationValues]bool
)

// operationValues is the number of values an Operation (a uint8) can take.
const operationValues = 1 << 8

func registerOperation(operation Operation, info OperationInfo) {
	if operationDefined[operation] {
		panic("model: operation registered twice: " + info.Name)
	}
	operationInfos[operation], operationDefined[operation] = info, true
}

func init() {
	registerOperation(OperationCreateAccounts, OperationInfo{Name: "create_accounts",
		EventSize: AccountSize, ResultSize: EventResultSize, Write: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationCreateTransfers, OperationInfo{Name: "create_transfers",
		EventSize: TransferSize, ResultSize: EventResultSize, Write: true,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax, BalancesResult: true})
	registerOperation(OperationLookupAccounts, OperationInfo{Name: "lookup_accounts",
		EventSize: IDSize, ResultSize: AccountSize,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationLookupTransfers, OperationInfo{Name: "lookup_transfers",
		EventSize: IDSize, ResultSize: TransferSize,
		EventsMax: EventsPerRequestMax, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationGetAccountTransfers, OperationInfo{Name: "get_account_transfers",
		EventSize: AccountFilterSize, ResultSize: TransferSize, Query: true,
		EventsMax: 1, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationGetAccountBalances, OperationInfo{Name: "get_account_balances",
		EventSize: AccountFilterSize, ResultSize: AccountBalanceSize, Query: true,
		EventsMax: 1, ResultsMax: EventsPerRequestMax})
	registerOperation(OperationPulse, OperationInfo{Name: "pulse", Write: true, Internal: true})
	registerOperation(OperationSnapshot, OperationInfo{Name: "snapshot", Write: true,
		Internal: true})
	registerOperation(OperationAudit, OperationInfo{Name: "audit", EventSize: 1, Write: true,
		Internal: true, EventsMax: AuditBytesMax})
	registerOperation(OperationCancelSession, OperationInfo{Name: "cancel_session",
		EventSize: 8, Write: true, Internal: true, EventsMax: 1, Matching: true})
	registerOperation(OperationSetGrants, OperationInfo{Name: "set_grants", EventSize: 1,
		Write: true, Internal: true, EventsMax: GrantsBodyBytesMax})
	registerOperation(OperationUpgradeRules, OperationInfo{Name: "upgrade_rules",
		EventSize: 4, Write: true, Internal: true, EventsMax: 1})
}

// Info returns the operation's description and whether it is defined.
func (o Operation) Info() (OperationInfo, bool) {
	if !operationDefined[o] {
		return OperationInfo{}, false
	}
	return operationInfos[o], true
}

// Description returns the operation's description, shared by every caller (which must
// not change it), or nil for an undefined operation: Info without copying the
// description, for the server's check of every request frame (the copy was ~19 of its
// instructions per frame, callgrind, BenchmarkServerInbound).
func (o Operation) Description() *OperationInfo {
	if !operationDefined[o] {
		return nil
	}
	return &operationInfos[o]
}

// String returns the operation's stable name.
func (o Operation) String() string {
	if operationDefined[o] {
		return operationInfos[o].Name
	}
	return "operation_" + strconv.Itoa(int(o))
}

// Operations returns every defined operation in numeric order.
func Operations() []Operation {
	var operations []Operation
	for operation := range operationValues {
		if operationDefined[operation] {
			operations = append(operations, Operation(operation))
		}
	}
	return operations
}
