package core

import (
	"bytes"
	"testing"

	"sequent/core/ledger"
	"sequent/core/model"
)

// harness drives a Machine with entries the way the sequencer does.
type harness struct {
	t         *testing.T
	machine   *Machine
	op        uint64
	timestamp uint64
	entries   []Entry // Everything applied, for replays.
	// entryBuffer is reused by tests that build entries themselves.
	entryBuffer []byte
}

func newHarness(t *testing.T, config Config) *harness {
	return &harness{t: t, machine: New(config), timestamp: 1_000_000_000_000}
}

// apply applies one entry made of requests and returns the output.
func (h *harness) apply(requests ...Request) *Output {
	h.t.Helper()
	var body []byte
	for i := range requests {
		body = AppendRequest(body, &requests[i])
	}
	h.timestamp += 1_000_000
	entry := Entry{FirstOp: h.op + 1, Timestamp: h.timestamp, Body: body}
	out := &Output{}
	if err := h.machine.Apply(&entry, out); err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	h.op += uint64(len(requests))
	h.entries = append(h.entries, entry)
	if len(out.Replies) != len(requests) {
		h.t.Fatalf("%d replies for %d requests", len(out.Replies), len(requests))
	}
	return out
}

// upgradeRules applies an upgrade_rules request to version, as the primary writes it.
func (h *harness) upgradeRules(version uint32) {
	h.t.Helper()
	out := h.apply(Request{Operation: model.OperationUpgradeRules,
		Body: AppendUpgradeRules(nil, version)})
	if out.Replies[0].Status != model.StatusOK || h.machine.RulesVersion() != version {
		h.t.Fatalf("upgrade_rules to %d: %s, at version %d", version, out.Replies[0].Status,
			h.machine.RulesVersion())
	}
}

// operators gives clients the operator scope through a logged set_grants request, as the
// keys file of a single-tenant deployment does: the tests that create plain accounts
// (no balance limit: they may go negative) and move money between them act as the
// operator, since a client without a transfer grant may create only debit-limited ones.
func (h *harness) operators(clients ...uint64) {
	h.t.Helper()
	grants := make([]model.Grant, len(clients))
	for i, client := range clients {
		grants[i] = model.Grant{Client: client, Scopes: model.ScopeOperator}
	}
	out := h.apply(Request{Operation: model.OperationSetGrants,
		Body: model.AppendGrants(nil, grants)})
	if out.Replies[0].Status != model.StatusOK {
		h.t.Fatalf("set_grants: %s", out.Replies[0].Status)
	}
}

func accountsBody(ids ...uint64) []byte {
	body := make([]byte, len(ids)*model.AccountSize)
	for i, id := range ids {
		account := model.Account{ID: model.U128(id), Ledger: 1, Code: 1}
		account.Encode(body[i*model.AccountSize:])
	}
	return body
}

func transfersBody(transfers ...model.Transfer) []byte {
	body := make([]byte, len(transfers)*model.TransferSize)
	for i := range transfers {
		transfers[i].Encode(body[i*model.TransferSize:])
	}
	return body
}

func simpleTransfer(id, debit, credit, amount uint64) model.Transfer {
	return model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: model.U128(amount), Ledger: 1, Code: 1}
}

func eventStatuses(t *testing.T, body []byte) []model.Status {
	t.Helper()
	if len(body)%model.EventResultSize != 0 {
		t.Fatalf("result body of %d bytes", len(body))
	}
	var statuses []model.Status
	for offset := 0; offset < len(body); offset += model.EventResultSize {
		var result model.EventResult
		result.Decode(body[offset:])
		statuses = append(statuses, result.Status)
	}
	return statuses
}

func TestApplyCreatesAndAnswers(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(7)
	out := h.apply(Request{Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1, 2)})
	if statuses := eventStatuses(t, out.Body(&out.Replies[0])); len(statuses) != 2 ||
		statuses[0] != model.StatusOK || statuses[1] != model.StatusOK {
		t.Fatalf("create accounts: %v", statuses)
	}
	out = h.apply(Request{Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Flags: RequestFlagReplyBalances,
		Body: transfersBody(simpleTransfer(10, 1, 2, 5))})
	reply := &out.Replies[0]
	if reply.Status != model.StatusOK || reply.Op != 3 || reply.Duplicate { // Op 1 is set_grants.
		t.Fatalf("reply %+v", reply)
	}
	var result model.TransferResult
	result.DecodeWithBalances(out.Body(reply))
	if result.Status != model.StatusOK || result.DebitAccount.DebitsPosted != model.U128(5) ||
		result.CreditAccount.CreditsPosted != model.U128(5) {
		t.Fatalf("transfer result %+v", result)
	}
	query := &Output{}
	h.machine.Query(&Request{Client: 7, Session: 1, Number: 3,
		Operation: model.OperationLookupAccounts, Body: model.U128(2).Append(nil)}, query)
	var account model.Account
	account.Decode(query.Body(&query.Replies[0]))
	if query.Replies[0].Status != model.StatusOK || account.CreditsPosted != model.U128(5) {
		t.Fatalf("lookup: %s %+v", query.Replies[0].Status, account)
	}
}

// TestExactlyOnce retries requests in every way a reconnecting client can, and requires
// that nothing is applied twice and every retry gets the original answer.
func TestExactlyOnce(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(7, 8)
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1, 2)})
	first := h.apply(Request{Client: 7, Session: 1, Number: 5,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(10, 1, 2, 5))})
	original := append([]byte(nil), first.Body(&first.Replies[0])...)
	retry := h.apply(Request{Client: 7, Session: 1, Number: 5,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(10, 1, 2, 5))})
	if !retry.Replies[0].Duplicate || retry.Replies[0].Op != first.Replies[0].Op ||
		!bytes.Equal(retry.Body(&retry.Replies[0]), original) {
		t.Fatalf("retry: %+v", retry.Replies[0])
	}
	if h.machine.Ledger().TransferCount() != 1 {
		t.Fatal("a retried request was applied twice")
	}
	// Number 3 was skipped (say, refused busy before the log): it is applied now, once.
	late := h.apply(Request{Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(11, 1, 2, 1))})
	if late.Replies[0].Duplicate || h.machine.Ledger().TransferCount() != 2 {
		t.Fatalf("late request: %+v", late.Replies[0])
	}
	again := h.apply(Request{Client: 7, Session: 1, Number: 3,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(11, 1, 2, 1))})
	if !again.Replies[0].Duplicate || h.machine.Ledger().TransferCount() != 2 {
		t.Fatalf("late request retried: %+v", again.Replies[0])
	}
	// Another session of the same client, and another client with the same session id,
	// have their own numbering. (Client 8 pays from its own account: it owns 3.)
	h.apply(Request{Client: 8, Session: 9, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(3)})
	h.apply(Request{Client: 7, Session: 1, Number: 6, Operation: model.OperationCreateTransfers,
		Body: transfersBody(simpleTransfer(16, 1, 3, 10))})
	other := h.apply(
		Request{Client: 7, Session: 2, Number: 5, Operation: model.OperationCreateTransfers,
			Body: transfersBody(simpleTransfer(12, 1, 2, 1))},
		Request{Client: 8, Session: 1, Number: 5, Operation: model.OperationCreateTransfers,
			Body: transfersBody(simpleTransfer(13, 3, 2, 1))})
	if other.Replies[0].Duplicate || other.Replies[1].Duplicate ||
		eventStatuses(t, other.Body(&other.Replies[1]))[0] != model.StatusOK {
		t.Fatal("sessions of different keys were confused")
	}
	// A number applied before, resent with another body, is a client bug: refused, not
	// answered with the original's reply, and not applied.
	reused := h.apply(Request{Client: 7, Session: 1, Number: 5,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(17, 1, 2, 5))})
	if reused.Replies[0].Status != model.StatusRequestNumberReused || reused.Replies[0].Duplicate ||
		reused.Replies[0].Op != 0 || len(reused.Body(&reused.Replies[0])) != 0 {
		t.Fatalf("reused number: %+v", reused.Replies[0])
	}
	flagged := h.apply(Request{Client: 7, Session: 1, Number: 5, Flags: RequestFlagReplyBalances,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(10, 1, 2, 5))})
	if flagged.Replies[0].Status != model.StatusRequestNumberReused {
		t.Fatalf("reused number with other flags: %+v", flagged.Replies[0])
	}
	// Far beyond the window, an old number is refused rather than applied.
	h.apply(Request{Client: 7, Session: 1, Number: 5 + sessionWindow,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(14, 1, 2, 1))})
	old := h.apply(Request{Client: 7, Session: 1, Number: 4,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(15, 1, 2, 1))})
	if old.Replies[0].Status != model.StatusRequestTooOld || old.Replies[0].Op != 0 ||
		h.machine.Ledger().TransferCount() != 6 {
		t.Fatalf("too old: %+v with %d transfers", old.Replies[0],
			h.machine.Ledger().TransferCount())
	}
}

// TestReplyCacheEviction fills a session's reply cache past its byte bound: the oldest
// replies are evicted (their retries answer request_too_old), the newest survive.
func TestReplyCacheEviction(t *testing.T) {
	h := newHarness(t, Config{SessionReplyBytesMax: 1})
	h.operators(7)
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1, 2)})
	const eventsPerRequest = 4000 // 64,000-byte replies; the bound is raised to 2 MiB.
	bodies := map[uint64][]byte{}
	for number := uint64(2); number <= 40; number++ {
		transfers := make([]model.Transfer, eventsPerRequest)
		for i := range transfers {
			transfers[i] = simpleTransfer(number*eventsPerRequest+uint64(i), 1, 2, 1)
		}
		bodies[number] = transfersBody(transfers...)
		h.apply(Request{Client: 7, Session: 1, Number: number,
			Operation: model.OperationCreateTransfers, Body: bodies[number]})
	}
	newest := h.apply(Request{Client: 7, Session: 1, Number: 40,
		Operation: model.OperationCreateTransfers, Body: bodies[40]})
	if !newest.Replies[0].Duplicate || len(newest.Body(&newest.Replies[0])) != 64_000 {
		t.Fatalf("newest reply not cached: %+v", newest.Replies[0])
	}
	oldest := h.apply(Request{Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: bodies[2]})
	if oldest.Replies[0].Status != model.StatusRequestTooOld {
		t.Fatalf("evicted reply: %s", oldest.Replies[0].Status)
	}
	s := h.machine.sessions.lookup(sessionKey{7, 1}, false)
	if s.bytes > h.machine.config.SessionReplyBytesMax || len(s.ring) > 2*h.machine.config.SessionReplyBytesMax {
		t.Fatalf("cache holds %d bytes in a %d-byte ring", s.bytes, len(s.ring))
	}
}

func TestSessionEviction(t *testing.T) {
	h := newHarness(t, Config{SessionsMax: 2})
	h.operators(7)
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1)})
	h.apply(Request{Client: 7, Session: 2, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(2)})
	h.apply(Request{Client: 7, Session: 3, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(3)}) // Evicts session 1, the least recently used.
	retry := h.apply(Request{Client: 7, Session: 1, Number: 1,
		Operation: model.OperationCreateAccounts, Body: accountsBody(1)})
	if retry.Replies[0].Duplicate {
		t.Fatal("an evicted session still answered from its cache")
	}
	if statuses := eventStatuses(t, retry.Body(&retry.Replies[0])); statuses[0] != model.StatusExists {
		t.Fatalf("id idempotency after eviction: %v", statuses)
	}
	if len(h.machine.sessions.sessions) != 2 {
		t.Fatalf("%d sessions", len(h.machine.sessions.sessions))
	}
}

func TestShapeChecks(t *testing.T) {
	h := newHarness(t, Config{})
	out := h.apply(
		Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
			Body: make([]byte, 100)},
		Request{Client: 7, Session: 1, Number: 2, Operation: model.OperationPulse},
		Request{Client: 7, Session: 1, Number: 3, Operation: 99},
		Request{Client: 7, Session: 1, Number: 0, Operation: model.OperationCreateAccounts,
			Body: accountsBody(1)},
		Request{Client: 7, Session: 1, Number: 4, Operation: model.OperationCreateAccounts},
		Request{Client: 0, Operation: model.OperationPulse},
		Request{Client: 7, Session: 1, Number: 5, Operation: model.OperationCreateAccounts,
			Flags: 0x80, Body: accountsBody(1)},
		// The balances flag means something for create_transfers only.
		Request{Client: 7, Session: 1, Number: 6, Operation: model.OperationCreateAccounts,
			Flags: RequestFlagReplyBalances, Body: accountsBody(1)},
	)
	want := []model.Status{model.StatusInvalidBody, model.StatusUnknownOperation,
		model.StatusUnknownOperation, model.StatusInvalidBody, model.StatusEmptyRequest,
		model.StatusOK, model.StatusInvalidBody, model.StatusInvalidBody}
	for i, reply := range out.Replies {
		if reply.Status != want[i] {
			t.Fatalf("request %d: %s, want %s", i, reply.Status, want[i])
		}
	}
	if h.machine.Ledger().AccountCount() != 0 {
		t.Fatal("a malformed request changed state")
	}
	bad := Entry{FirstOp: h.op + 2, Timestamp: h.timestamp + 1}
	if err := h.machine.Apply(&bad, &Output{}); err == nil {
		t.Fatal("an op gap was accepted")
	}
	truncated := Entry{FirstOp: h.op + 1, Timestamp: h.timestamp + 1, Body: make([]byte, 10)}
	if err := h.machine.Apply(&truncated, &Output{}); err == nil {
		t.Fatal("a truncated entry was accepted")
	}
}

// TestSnapshotReplayEquivalence: a machine restored from a snapshot taken halfway and fed
// the rest of the entries reaches the same digest as one that applied everything, and
// answers a retried request the same way.
func TestSnapshotReplayEquivalence(t *testing.T) {
	h := newHarness(t, Config{})
	h.operators(7, 8)
	h.apply(Request{Client: 7, Session: 1, Number: 1, Operation: model.OperationCreateAccounts,
		Body: accountsBody(1, 2, 3)})
	pendingTransfer := simpleTransfer(20, 1, 3, 7)
	pendingTransfer.Flags, pendingTransfer.Timeout = model.TransferPending, 1
	h.apply(Request{Client: 7, Session: 1, Number: 2, Operation: model.OperationCreateTransfers,
		Body: transfersBody(simpleTransfer(10, 1, 2, 5), pendingTransfer)})
	var snapshot bytes.Buffer
	if _, err := h.machine.Snapshot().WriteTo(&snapshot); err != nil {
		t.Fatal(err)
	}
	halfway := len(h.entries)
	h.apply(Request{Client: 8, Session: 1, Number: 1, Operation: model.OperationCreateTransfers,
		Body: transfersBody(simpleTransfer(11, 2, 1, 1))})
	h.timestamp += 2_000_000_000 // The pending transfer expires in the next entry.
	h.apply(Request{Client: 0, Operation: model.OperationPulse})
	restored, err := Restore(Config{}, bytes.NewReader(snapshot.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i := halfway; i < len(h.entries); i++ {
		if err := restored.Apply(&h.entries[i], &Output{}); err != nil {
			t.Fatal(err)
		}
	}
	scratch := New(Config{})
	for i := range h.entries {
		if err := scratch.Apply(&h.entries[i], &Output{}); err != nil {
			t.Fatal(err)
		}
	}
	if restored.Digest() != h.machine.Digest() || scratch.Digest() != h.machine.Digest() {
		t.Fatal("digests differ between live, restored and replayed machines")
	}
	if b := h.machine.Ledger().LookupAccounts([]model.Uint128{model.U128(1)}, nil)[0]; !b.DebitsPending.IsZero() {
		t.Fatalf("the pending transfer did not expire: %+v", b)
	}
	retry := &Output{}
	entry := Entry{FirstOp: restored.OpLast() + 1, Timestamp: h.timestamp + 5_000_000}
	entry.Body = AppendRequest(nil, &Request{Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers,
		Body:      transfersBody(simpleTransfer(10, 1, 2, 5), pendingTransfer)})
	entry.Body = AppendRequest(entry.Body, &Request{Client: 7, Session: 1, Number: 2,
		Operation: model.OperationCreateTransfers, Body: transfersBody(simpleTransfer(10, 1, 2, 5))})
	if err := restored.Apply(&entry, retry); err != nil || !retry.Replies[0].Duplicate {
		t.Fatalf("retry after restore: %v %+v", err, retry.Replies)
	}
	// The request digests are state: after a restore a changed body is still caught.
	if retry.Replies[1].Status != model.StatusRequestNumberReused {
		t.Fatalf("changed retry after restore: %+v", retry.Replies[1])
	}
}

func ledgerConfigSeed(seed uint64) ledger.Config { return ledger.Config{HashSeed: seed} }
