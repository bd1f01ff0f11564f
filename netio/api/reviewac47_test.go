package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/jsonview"
	"sequent/tools/testlog"
)

// shardsNode answers lookup_transfers as a node of shards shards on which every id
// asked names a transfer on each shard (transfer ids are unique per shard only): for
// each id in the order asked, one record per shard, the reply cut before the first id
// whose records would not all fit in model.EventsPerRequestMax (PROTOCOL.md section 18).
// From the refuseFrom-th lookup on (0: never) it refuses with busy instead.
type shardsNode struct {
	server     atomic.Pointer[Server]
	shards     int
	refuseFrom atomic.Int64
	lookups    atomic.Int64
	idsAsked   atomic.Int64
}

func (n *shardsNode) Submit(request *backend.Request) model.Status {
	count := n.lookups.Add(1)
	if from := n.refuseFrom.Load(); from != 0 && count >= from {
		return model.StatusBusy
	}
	ids := len(request.Body) / model.IDSize
	n.idsAsked.Add(int64(ids))
	var body []byte
	for i := 0; i < ids; i++ {
		if (len(body)/model.TransferSize)+n.shards > model.EventsPerRequestMax {
			break
		}
		body = appendShardRecords(body, model.Uint128LE(request.Body[i*model.IDSize:]), n.shards)
	}
	n.server.Load().deliver(&backend.Reply{Connection: request.Connection,
		Status: model.StatusOK, Body: body})
	return model.StatusOK
}

// appendShardRecords appends the fake node's records of id on shards 0..shards-1 (shard s's
// copy debits account s+1) to body.
func appendShardRecords(body []byte, id model.Uint128, shards int) []byte {
	for shard := 0; shard < shards; shard++ {
		transfer := model.Transfer{ID: id, DebitAccountID: model.U128(uint64(shard + 1)),
			CreditAccountID: model.U128(1000), Amount: model.U128(1), Ledger: 1, Code: 1}
		record := make([]byte, model.TransferSize)
		transfer.Encode(record)
		body = append(body, record...)
	}
	return body
}

func shardsNodeHarness(t *testing.T, node *shardsNode) *harness {
	t.Helper()
	return fakeNodeHarness(t, node, &node.server, 0)
}

// fakeNodeHarness is an API server over node, a fake node that answers through the
// server stored in bind (before the server starts), with replyTimeout (0: the default).
func fakeNodeHarness(t *testing.T, node backend.Submitter, bind *atomic.Pointer[Server],
	replyTimeout time.Duration) *harness {
	t.Helper()
	keys, private := testKeys(t)
	var log testlog.Buffer
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys, ReplyTimeout: replyTimeout,
		Logger: slog.New(slog.NewTextHandler(&log, nil))}, node)
	if err != nil {
		t.Fatal(err)
	}
	bind.Store(server)
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Shutdown(t.Context()) })
	return &harness{t: t, server: server, base: "http://" + server.Address(), private: private,
		clock: &testClock{}, http: &http.Client{Timeout: 60 * time.Second}}
}

func repeatedIDs(id string, count int) string {
	list := make([]string, count)
	for i := range list {
		list[i] = `"` + id + `"`
	}
	return `{"ids":[` + strings.Join(list, ",") + `]}`
}

// TestReviewac47RefusalAmidRepeatsReturnsTheSlot: a lookup refused (busy) on its second
// submit, after a cut first reply, answers 503 busy and gives back its in-flight slot;
// the next request is served.
func TestReviewac47RefusalAmidRepeatsReturnsTheSlot(t *testing.T) {
	node := &shardsNode{shards: 2}
	node.refuseFrom.Store(2)
	h := shardsNodeHarness(t, node)
	var ids []string // 4,095 ids of two records each: 8,190, cut.
	for i := 1; i <= model.EventsPerRequestMax/2+1; i++ {
		ids = append(ids, fmt.Sprintf(`"%d"`, i))
	}
	body := `{"ids":[` + strings.Join(ids, ",") + `]}`
	h.expect(h.operator("POST", "/v1/transfers/lookup", body), 503, "busy")
	if got := node.lookups.Load(); got != 2 {
		t.Fatalf("%d lookups asked of the node, want 2 (the second refused)", got)
	}
	if inFlight := h.server.Stats().InFlight; inFlight != 0 {
		t.Fatalf("%d requests still in flight after the refusal", inFlight)
	}
	node.refuseFrom.Store(0)
	answer := h.operator("POST", "/v1/transfers/lookup", `{"ids":["1","2"]}`)
	h.expect(answer, 200, "")
	if found := decode[[]jsonview.Transfer](t, answer); len(found) != 4 {
		t.Fatalf("after the refusal: %d transfers, want 4", len(found))
	}
}
