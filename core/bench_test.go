package core

import (
	"testing"

	"sequent/core/model"
)

// BenchmarkRequestDigest measures the exactly-once digest of the largest request body
// (8,189 transfers), which Apply computes for every client write. Compare its ns/op with
// BenchmarkApplyTransfers' (same batch) to see its share of the sequencer's time:
//
//	go test ./core -run '^$' -bench 'RequestDigest|ApplyTransfers' -count 5
func BenchmarkRequestDigest(b *testing.B) {
	request := Request{Operation: model.OperationCreateTransfers,
		Body: make([]byte, model.RequestBodyBytesMax)}
	b.SetBytes(int64(len(request.Body)))
	var sink uint64
	for b.Loop() {
		sink += requestDigest(&request)
	}
	if sink == 1 {
		b.Log(sink)
	}
}

// BenchmarkApplyTransfers applies entries of one request of 8,189 single-phase transfers
// between 10,000 accounts of the requesting client, the way the sequencer does (session
// table, digest, results), and reports transfers/s.
func BenchmarkApplyTransfers(b *testing.B) {
	const accounts = 10_000
	machine := New(Config{})
	timestamp, op := uint64(1_000_000_000_000), uint64(0)
	apply := func(request Request) *Output {
		op++
		timestamp += 1_000_000
		entry := Entry{FirstOp: op, Timestamp: timestamp, Body: AppendRequest(nil, &request)}
		out := &Output{}
		if err := machine.Apply(&entry, out); err != nil {
			b.Fatal(err)
		}
		return out
	}
	// The accounts have no balance limit, which takes a transfer grant (client 7 remains
	// their owner: the owner's path is what is measured).
	apply(Request{Operation: model.OperationSetGrants, Body: model.AppendGrants(nil,
		[]model.Grant{{Client: 7, Scopes: model.ScopeTransfer, Ledger: 1}})})
	number := uint64(0)
	for first := uint64(1); first <= accounts; first += model.EventsPerRequestMax {
		ids := make([]uint64, 0, model.EventsPerRequestMax)
		for id := first; id < first+model.EventsPerRequestMax && id <= accounts; id++ {
			ids = append(ids, id)
		}
		number++
		apply(Request{Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateAccounts, Body: accountsBody(ids...)})
	}
	transfers := make([]model.Transfer, model.EventsPerRequestMax)
	body := make([]byte, len(transfers)*model.TransferSize)
	next := uint64(1)
	b.ResetTimer()
	for b.Loop() {
		for i := range transfers {
			debit := next%accounts + 1
			transfers[i] = simpleTransfer(next, debit, debit%accounts+1, 1)
			transfers[i].Encode(body[i*model.TransferSize:])
			next++
		}
		number++
		out := apply(Request{Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateTransfers, Body: body})
		if out.Replies[0].Status != model.StatusOK {
			b.Fatal(out.Replies[0].Status)
		}
		var first model.EventResult
		if first.Decode(out.Body(&out.Replies[0])); first.Status != model.StatusOK {
			b.Fatal(first.Status)
		}
	}
	b.ReportMetric(float64(b.N)*float64(len(transfers))/b.Elapsed().Seconds(), "transfers/s")
}
