package shard

import (
	"testing"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/saga"
	"sequent/wal"
)

// TestQueriesCountClientReadsOnly: Stats.Queries (/v1/status "queries",
// sequent_shard_queries_total) counts clients' reads. An idle node showed it climbing
// about ten a second: the node router polls each shard's saga outbox every
// OutboxInterval through SubmitInternal, and the operators' console, reconciliation and
// the risk rules read through Query; none of them is a client's read. The test runs one
// read of each internal kind, waits for its answer (the count is taken in the turn that
// answers it, before the reply leaves), and expects the counter still at 0; then one
// client read moves it to 1, as it moves the per-operation latencies, so that the two
// agree.
func TestQueriesCountClientReadsOnly(t *testing.T) {
	s, replier := startShardZero(t, wal.NewMemoryLog())
	outbox := make([]byte, model.SagaOutboxQuerySize)
	saga.EncodeOutboxQuery(outbox, 0)
	if status := s.SubmitInternal(&backend.Request{Connection: 5,
		Operation: model.OperationSagaOutbox, Body: outbox}); status != model.StatusOK {
		t.Fatalf("saga_outbox poll: %s", status)
	}
	if reply := replier.waitFor(t, 1)[0]; reply.Connection != 5 || reply.Status != model.StatusOK {
		t.Fatalf("saga_outbox poll answered %+v", reply)
	}
	status, _, err := s.Query(model.OperationLookupAccounts, model.U128(1).Append(nil), waitMax)
	if err != nil || status != model.StatusOK {
		t.Fatalf("internal lookup: %s, %v", status, err)
	}
	if queries := s.Stats().Queries; queries != 0 {
		t.Fatalf("queries %d after the server's own reads only, want 0", queries)
	}

	if status := s.Submit(&backend.Request{Connection: 9, Client: 7, Session: 1,
		Operation: model.OperationLookupAccounts,
		Body:      model.U128(1).Append(nil)}); status != model.StatusOK {
		t.Fatalf("client lookup: %s", status)
	}
	if reply := replier.waitFor(t, 2)[1]; reply.Connection != 9 || reply.Status != model.StatusOK {
		t.Fatalf("client lookup answered %+v", reply)
	}
	if queries := s.Stats().Queries; queries != 1 {
		t.Fatalf("queries %d after one client read, want 1", queries)
	}
	latencies, _ := s.Latencies()
	if count := latencies["lookup_accounts"].Count; count != 1 {
		t.Fatalf("lookup_accounts latencies hold %d reads, want the client's 1", count)
	}
}
