package model

import (
	"slices"
	"strconv"
	"testing"
)

// wantOperationInfos is every defined operation's description as the map that held them
// before the table became an array (session 35) answered: the array must answer the same
// for all 256 values, defined or not. A new operation is added here as it is registered.
var wantOperationInfos = map[Operation]OperationInfo{
	1:  {Name: "create_accounts", EventSize: 128, ResultSize: 16, Write: true, EventsMax: 8189, ResultsMax: 8189},
	2:  {Name: "create_transfers", EventSize: 128, ResultSize: 16, Write: true, EventsMax: 8189, ResultsMax: 8189, BalancesResult: true},
	3:  {Name: "lookup_accounts", EventSize: 16, ResultSize: 128, EventsMax: 8189, ResultsMax: 8189},
	4:  {Name: "lookup_transfers", EventSize: 16, ResultSize: 128, EventsMax: 8189, ResultsMax: 8189},
	5:  {Name: "get_account_transfers", EventSize: 128, ResultSize: 128, Query: true, EventsMax: 1, ResultsMax: 8189},
	6:  {Name: "get_account_balances", EventSize: 128, ResultSize: 128, Query: true, EventsMax: 1, ResultsMax: 8189},
	7:  {Name: "get_shard_map", ResultsMax: 1},
	20: {Name: "create_instruments", EventSize: 128, ResultSize: 16, Write: true, EventsMax: 8189, ResultsMax: 8189, Matching: true},
	21: {Name: "place_orders", EventSize: 128, ResultSize: 24, Write: true, EventsMax: 8189, ResultsMax: 8189, Matching: true},
	22: {Name: "cancel_orders", EventSize: 32, ResultSize: 24, Write: true, EventsMax: 8189, ResultsMax: 8189, Matching: true},
	23: {Name: "replace_orders", EventSize: 64, ResultSize: 24, Write: true, EventsMax: 8189, ResultsMax: 8189, Matching: true},
	24: {Name: "mass_cancel", EventSize: 32, ResultSize: 16, Write: true, EventsMax: 8189, ResultsMax: 8189, Matching: true},
	25: {Name: "lookup_instruments", EventSize: 8, ResultSize: 128, EventsMax: 8189, ResultsMax: 8189, Matching: true},
	26: {Name: "lookup_orders", EventSize: 8, ResultSize: 128, EventsMax: 8189, ResultsMax: 8189, Matching: true},
	27: {Name: "get_account_orders", EventSize: 32, ResultSize: 128, Query: true, EventsMax: 1, ResultsMax: 8189, Matching: true},
	28: {Name: "get_depth", EventSize: 16, ResultSize: 32, Query: true, EventsMax: 1, ResultsMax: 8188, Matching: true},
	29: {Name: "get_book", EventSize: 16, ResultSize: 32, Query: true, EventsMax: 1, ResultsMax: 8189, Matching: true},
	36: {Name: "get_ledger_totals", EventSize: 16, ResultSize: 128, Query: true, EventsMax: 1, ResultsMax: 8189},
	50: {Name: "set_risk_rules", EventSize: 128, ResultSize: 16, Write: true, Internal: true, EventsMax: 64, ResultsMax: 64},
	51: {Name: "remove_risk_rules", EventSize: 8, ResultSize: 16, Write: true, Internal: true, EventsMax: 64, ResultsMax: 64},
	52: {Name: "get_risk_rules", EventSize: 16, ResultSize: 128, Query: true, EventsMax: 1, ResultsMax: 8189},
	60: {Name: "pulse", Write: true, Internal: true},
	61: {Name: "snapshot", Write: true, Internal: true},
	62: {Name: "audit", EventSize: 1, Write: true, Internal: true, EventsMax: 4096},
	63: {Name: "cancel_session", EventSize: 8, Write: true, Internal: true, EventsMax: 1, Matching: true},
	64: {Name: "set_grants", EventSize: 1, Write: true, Internal: true, EventsMax: 655224}, // 393080 before client limits (session 36).
	65: {Name: "upgrade_rules", EventSize: 4, Write: true, Internal: true, EventsMax: 1},
	90: {Name: "saga_credit", EventSize: 160, Write: true, Internal: true, EventsMax: 6551},
	91: {Name: "saga_finish", EventSize: 128, Write: true, Internal: true, EventsMax: 8189},
	92: {Name: "saga_forget", EventSize: 16, Write: true, Internal: true, EventsMax: 1},
	93: {Name: "saga_lookup", EventSize: 16, ResultSize: 160, Internal: true, EventsMax: 4096, ResultsMax: 4096},
	94: {Name: "saga_outbox", EventSize: 16, Internal: true, EventsMax: 1, ResultsMax: 4096},
}

// TestOperationInfoEveryValue: Info, Description, String and Operations answer for every
// one of the 256 operation values what the map did: the description and true (a pointer
// to it) for a defined one, the zero description and false (nil), and the name
// "operation_N", for any other.
func TestOperationInfoEveryValue(t *testing.T) {
	var wantDefined []Operation
	for value := range 256 {
		operation := Operation(value)
		want, wantOK := wantOperationInfos[operation]
		info, ok := operation.Info()
		if info != want || ok != wantOK {
			t.Errorf("operation %d: Info() = %+v, %v; want %+v, %v", value, info, ok, want, wantOK)
		}
		if description := operation.Description(); (description != nil) != wantOK ||
			(description != nil && *description != want) {
			t.Errorf("operation %d: Description() = %+v; want %+v (defined %v)", value,
				description, want, wantOK)
		}
		wantName := want.Name
		if !wantOK {
			wantName = "operation_" + strconv.Itoa(value)
		} else {
			wantDefined = append(wantDefined, operation)
		}
		if name := operation.String(); name != wantName {
			t.Errorf("operation %d: String() = %q, want %q", value, name, wantName)
		}
	}
	if operations := Operations(); !slices.Equal(operations, wantDefined) {
		t.Errorf("Operations() = %v, want %v", operations, wantDefined)
	}
}

// BenchmarkOperationInfo: the lookup the client makes twice per call.
func BenchmarkOperationInfo(b *testing.B) {
	events := 0
	for index := range b.N {
		info, _ := Operation(index & 0x3f).Info()
		events += info.EventsMax
	}
	if events < 0 {
		b.Fatal("unreachable: keeps the loop from being optimized away")
	}
}
