package e2e

// Session 47's hunt (helper hunt47a): exactly-once and no lost acknowledged write on a
// node of two shards (PROTOCOL.md section 18) with a hot standby, through SIGKILLs and
// promotions. The client encodes every frame from the document's words (the doc*
// helpers of hunt46b_protocol_test.go, written the same way: no netio/wire, no
// netio/client), keeps a model of every acknowledged transfer and checks the promoted
// node against it.

import (
	"cmp"
	endian "encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sequent/core/node"
)

// Statuses of section 12 after which section 7 says to resend the same frame (same
// number): the first attempt's outcome stays unknown.
const (
	h47StatusBusy           = 200
	h47StatusShuttingDown   = 209
	h47StatusOutcomeUnknown = 220
	h47StatusLogUnavailable = 221
)

// Transfer flags of section 10.
const (
	h47FlagLinked  = 1
	h47FlagPending = 2
	h47FlagPost    = 4
	h47FlagVoid    = 8
)

// Account and transfer record offsets of section 10 this test reads.
const (
	h47AccountBytes         = 128
	h47TransferBytes        = 128
	h47AccountDebitsPending = 16
	h47AccountDebitsPosted  = 32
	h47AccountCreditPending = 48
	h47AccountCreditsPosted = 64
	h47TransferFlags        = 118
	h47TransferPendingID    = 64
	h47LoginEpoch           = 16
	h47RequestEventsMax     = 8189 // Section 14: the most transfers in one request.
)

// h47Kind says what one transfer event does to the model.
type h47Kind int

const (
	h47Plain h47Kind = iota
	h47Pending
	h47Post
	h47Void
)

// h47Event is one transfer event of a request, as the model applies it once created.
type h47Event struct {
	kind                      h47Kind
	id, debit, credit, amount uint64
	pendingID                 uint64
	crossShard                bool
	flags                     uint16
	userData                  uint64
	want                      uint32 // The result expected: 0 (created) or a refusal.
}

func (e h47Event) encode() []byte {
	record := docTransfer(e.id, e.debit, e.credit, e.amount)
	endian.LittleEndian.PutUint64(record[h47TransferPendingID:], e.pendingID)
	endian.LittleEndian.PutUint64(record[96:], e.userData)
	endian.LittleEndian.PutUint16(record[h47TransferFlags:], e.flags)
	return record
}

// h47Request is one create_transfers request and what became of it.
type h47Request struct {
	operation byte // 0: create_transfers.
	number    uint64
	events    []h47Event
	body      []byte
	answered  bool
	aux       uint64 // The ok reply's log position.
	shard     int    // The shard of every event, or -1 for a request on both.
	bulk      bool   // One of the large requests that fill log segments.
	// applied: the model holds its events (an acknowledged request lost by an async
	// failover and resent is not applied to the model twice).
	applied bool
	lost    bool // Acknowledged, then lost by an async failover: resent, it is new.
}

// stored reports whether a lookup finds the request's transfers once acknowledged: it
// holds at least one the workload expects to be created.
func (r *h47Request) stored() bool {
	return slices.ContainsFunc(r.events, func(e h47Event) bool { return e.want == docStatusOK })
}

// h47Balances are one account's four balances (low 64 bits: the test's sums are small).
type h47Balances struct{ debitsPending, debitsPosted, creditsPending, creditsPosted uint64 }

// h47Model is what the client knows from acknowledged replies alone.
type h47Model struct {
	balances  map[uint64]*h47Balances
	open      map[uint64]h47Event // Pending transfers created and not yet resolved.
	resolving map[uint64]bool     // Pending ids a post or void has been sent for.
	created   []h47Event          // Every created transfer, in the order acknowledged.
}

func (m *h47Model) apply(e h47Event) {
	debit, credit := m.balances[e.debit], m.balances[e.credit]
	switch e.kind {
	case h47Plain:
		debit.debitsPosted += e.amount
		credit.creditsPosted += e.amount
	case h47Pending:
		debit.debitsPending += e.amount
		credit.creditsPending += e.amount
		m.open[e.id] = e
	case h47Post, h47Void:
		pending := m.open[e.pendingID]
		debit.debitsPending -= pending.amount
		credit.creditsPending -= pending.amount
		if e.kind == h47Post {
			debit.debitsPosted += pending.amount
			credit.creditsPosted += pending.amount
		}
		delete(m.open, e.pendingID)
	}
	m.created = append(m.created, e)
}

// h47Node is one server process of the pair and how to start it in either role.
type h47Node struct {
	process     *server
	http        string
	replication string
}

// h47Pair is a primary and its standby, both of two shards.
type h47Pair struct {
	t                *testing.T
	primary, standby *h47Node
	common           []string
	token            string
	clientID         uint64
	secret           []byte
	standbyDown      bool // The standby's process is down (after promoteAlone).
}

// h47StartPair starts node a as primary and b as its standby, each with the flags in
// extra besides the common ones.
func h47StartPair(t *testing.T, secretHex string, extra ...string) *h47Pair {
	return h47StartPairAllowed(t, secretHex, []string{"read", "transfer"}, extra...)
}

// h47StartPairAllowed is h47StartPair with the client's permissions given.
func h47StartPairAllowed(t *testing.T, secretHex string, permissions []string,
	extra ...string) *h47Pair {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.json")
	token := writeKeys(t, keys, operatorKeyClient(1, secretHex, permissions...))
	secret, err := hex.DecodeString(secretHex)
	if err != nil {
		t.Fatal(err)
	}
	p := &h47Pair{t: t, token: token, clientID: 1, secret: secret,
		common: append([]string{"--keys", keys, "--replication-key", replicationTestKey,
			"--shards", "2", "--placement", "hash"}, extra...)}
	a := &h47Node{http: freePort(t), replication: freePort(t)}
	b := &h47Node{http: freePort(t), replication: freePort(t)}
	a.process = startServer(t, filepath.Join(dir, "a"), freePort(t), append([]string{
		"--http", a.http, "--replication-listen", a.replication, "--peer", b.replication},
		p.common...)...)
	b.process = startServer(t, filepath.Join(dir, "b"), freePort(t), append([]string{
		"--http", b.http, "--replication-listen", b.replication, "--standby-of",
		a.replication}, p.common...)...)
	p.primary, p.standby = a, b
	return p
}

// asPrimary and asStandbyOf set the command line a node restarts with.
func (p *h47Pair) asPrimary(n *h47Node, peer *h47Node) {
	n.process.args = append([]string{"serve", "--data", n.process.data, "--addr",
		n.process.address, "--http", n.http, "--replication-listen", n.replication, "--peer",
		peer.replication}, p.common...)
}

func (p *h47Pair) asStandbyOf(n *h47Node, primary *h47Node) {
	n.process.args = append([]string{"serve", "--data", n.process.data, "--addr",
		n.process.address, "--http", n.http, "--replication-listen", n.replication,
		"--standby-of", primary.replication}, p.common...)
}

// failover kills the primary (if not yet), promotes the standby, and restarts the old
// primary as the new primary's standby.
func (p *h47Pair) failover() {
	p.t.Helper()
	p.promoteAlone()
	p.rejoin()
}

// promoteAlone kills the primary (if not yet) and promotes the standby; the old primary
// stays down (the new one releases on its own durability meanwhile, README).
func (p *h47Pair) promoteAlone() {
	p.t.Helper()
	p.primary.process.kill()
	promote(p.t, p.standby.http, p.token)
	p.primary, p.standby = p.standby, p.primary
	p.standbyDown = true
}

// rejoin restarts the node that is down as the primary's standby.
func (p *h47Pair) rejoin() {
	p.t.Helper()
	p.asStandbyOf(p.standby, p.primary)
	p.standby.process.restart()
	p.standbyDown = false
}

// restartPrimary kills the primary (if not yet) and starts it again from its own log,
// still the primary; its standby stays up and reconnects.
func (p *h47Pair) restartPrimary() {
	p.t.Helper()
	p.primary.process.kill()
	p.asPrimary(p.primary, p.standby)
	p.primary.process.restart()
}

// h47Status is the part of /v1/status this test reads.
type h47Status struct {
	Role        string `json:"role"`
	Replication struct {
		StandbyAttached bool   `json:"standby_attached"`
		Degraded        bool   `json:"degraded"`
		ReleasingAlone  bool   `json:"releasing_alone"`
		Degradations    uint64 `json:"degradations"`
	} `json:"replication"`
	Shards []struct {
		Snapshots uint64 `json:"snapshots"`
		Log       struct {
			Rolls uint64 `json:"rolls"`
		} `json:"log"`
	} `json:"shards"`
}

func h47GetStatus(httpAddress string) (h47Status, bool) {
	var s h47Status
	response, err := (&http.Client{Timeout: hangGuard}).Get("http://" + httpAddress + "/v1/status")
	if err != nil {
		return s, false
	}
	defer response.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	return s, response.StatusCode == http.StatusOK && json.Unmarshal(raw, &s) == nil
}

// waitInSync waits (bounded) until the primary's standby is attached and acknowledging
// and the primary no longer releases alone: from then on, in sync mode, losing the
// primary loses no acknowledged write (README, Replication).
func (p *h47Pair) waitInSync() {
	p.t.Helper()
	eventually(p.t, "the primary to be in sync with its standby", func() bool {
		s, ok := h47GetStatus(p.primary.http)
		return ok && s.Role == "primary" && s.Replication.StandbyAttached &&
			!s.Replication.Degraded && !s.Replication.ReleasingAlone
	})
}

// h47Client is the document-only client: one session, resumed across connections.
type h47Client struct {
	t        *testing.T
	clientID uint64
	secret   []byte
	session  uint64
	address  string
	conn     net.Conn
	epoch    uint64
	next     uint64
	// Replies: final ones counted by kind, for the report.
	duplicates, resends int
}

// connect dials the client's address and logs in with its session (section 4): an error
// for anything that is not a login_accepted (a node still starting, a dead one).
func (c *h47Client) connect() error {
	conn, err := net.DialTimeout("tcp", c.address, docFrameWait)
	if err != nil {
		return err
	}
	c.conn = conn
	challenge, err := c.read()
	if err != nil {
		return err
	}
	if challenge.kind != docKindChallenge || len(challenge.body) != 48 {
		return fmt.Errorf("first frame kind %d status %d", challenge.kind, challenge.status)
	}
	body := docLoginBody(challenge.body, c.clientID, 1, c.secret, c.session)
	if _, err := conn.Write(docEncode(docKindLogin, 0, 0, c.session, 0, body)); err != nil {
		return err
	}
	accepted, err := c.read()
	if err != nil {
		return err
	}
	if accepted.kind != docKindLoginAccepted || len(accepted.body) != 32 {
		return fmt.Errorf("login answered kind %d status %d", accepted.kind, accepted.status)
	}
	epoch := endian.LittleEndian.Uint64(accepted.body[h47LoginEpoch:])
	if epoch < c.epoch {
		c.t.Fatalf("login_accepted's epoch went back from %d to %d", c.epoch, epoch)
	}
	c.epoch = epoch
	return nil
}

// read reads one frame other than a heartbeat, checked as section 3 says.
func (c *h47Client) read() (docFrame, error) {
	for {
		c.conn.SetReadDeadline(time.Now().Add(docFrameWait))
		head := make([]byte, docHeaderBytes)
		if _, err := io.ReadFull(c.conn, head); err != nil {
			return docFrame{}, err
		}
		frame := docFrame{kind: head[5], operation: head[6], flags: head[7],
			status:  endian.LittleEndian.Uint32(head[12:]),
			session: endian.LittleEndian.Uint64(head[16:]),
			number:  endian.LittleEndian.Uint64(head[24:]),
			aux:     endian.LittleEndian.Uint64(head[32:]),
			body:    make([]byte, endian.LittleEndian.Uint32(head[8:]))}
		if _, err := io.ReadFull(c.conn, frame.body); err != nil {
			return docFrame{}, err
		}
		sum := crc32.Update(crc32.Update(0, docCastagnoli, head[:44]), docCastagnoli, frame.body)
		if endian.LittleEndian.Uint32(head[0:]) != 0x544E5153 || head[4] != 1 ||
			endian.LittleEndian.Uint32(head[44:]) != sum {
			c.t.Fatalf("server frame of kind %d fails section 3's checks", frame.kind)
		}
		if frame.kind != docKindHeartbeat {
			return frame, nil
		}
	}
}

func (c *h47Client) drop() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// exchange sends every request of batch not answered yet, in number order, on the
// current connection, and reads one reply per copy sent. It returns the requests to
// resend (retry statuses) and whether the connection failed (then every request without a
// reply is resent after a reconnect, section 7). onReply handles a final ok reply.
func (c *h47Client) exchange(batch []*h47Request, onReply func(*h47Request, docFrame)) (
	again []*h47Request, failed bool) {
	c.t.Helper()
	waiting := map[uint64]*h47Request{}
	for _, r := range batch {
		if r.answered {
			continue
		}
		operation := r.operation
		if operation == 0 {
			operation = docOperationCreateTransfers
		}
		if _, err := c.conn.Write(docEncode(docKindRequest, operation, 0,
			c.session, r.number, r.body)); err != nil {
			return nil, true
		}
		waiting[r.number] = r
	}
	for len(waiting) > 0 {
		reply, err := c.read()
		if err != nil {
			return nil, true
		}
		if reply.kind == docKindError {
			return nil, true // The server closes the connection after it (section 9).
		}
		r := waiting[reply.number]
		if reply.kind != docKindReply || r == nil {
			c.t.Fatalf("unexpected frame kind %d number %d status %d", reply.kind,
				reply.number, reply.status)
		}
		delete(waiting, reply.number)
		switch reply.status {
		case docStatusOK:
			if reply.flags&docReplyFlagDuplicate != 0 {
				c.duplicates++
			}
			onReply(r, reply)
		case h47StatusBusy, docStatusRateLimited, h47StatusShuttingDown,
			h47StatusOutcomeUnknown, h47StatusLogUnavailable:
			again = append(again, r)
		case docStatusNotPrimary:
			// Section 7: follow a redirect naming another node; an empty body or our own
			// address says nothing: keep resending.
			if name := string(reply.body); name != "" && name != c.address {
				c.address = name
				c.drop()
				return append(again, r), true
			}
			again = append(again, r)
		default:
			c.t.Fatalf("request %d (%d events) answered status %d: section 7 allows only "+
				"a definite ok or a retry here", r.number, len(r.events), reply.status)
		}
	}
	return again, false
}

// settle resends until every request of batch has its final reply, reconnecting as
// needed (bounded by hangGuard).
func (c *h47Client) settle(batch []*h47Request, onReply func(*h47Request, docFrame)) {
	c.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		if time.Now().After(deadline) {
			c.t.Fatalf("requests still without a final reply after %v", hangGuard)
		}
		if c.conn == nil {
			if err := c.connect(); err != nil {
				c.drop()
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		again, failed := c.exchange(batch, onReply)
		if failed {
			c.drop()
		}
		if !failed && len(again) == 0 {
			return
		}
		c.resends++
		time.Sleep(20 * time.Millisecond)
	}
}

// h47Workload builds requests over three accounts on each shard and keeps the model.
type h47Workload struct {
	t        *testing.T
	random   *rand.Rand
	accounts [2][]uint64
	missing  [2]uint64 // An id on each shard no account has.
	model    h47Model
	nextID   uint64
	client   *h47Client
	requests []*h47Request
	// crossHeavy: mostly cross-shard transfers, and no pending transfers (whose posts a
	// lossy failover could leave without their pending transfer).
	crossHeavy bool
	// lossy: a failover may have lost acknowledged entries, so a cross-shard transfer
	// may answer saga_timed_out or saga_decision_unknown (section 18) and the model is
	// not compared.
	lossy        bool
	sagaRefusals int // Cross-shard transfers answered saga_timed_out or saga_decision_unknown.
}

func newH47Workload(t *testing.T, seed uint64, firstID uint64, c *h47Client) *h47Workload {
	w := &h47Workload{t: t, random: rand.New(rand.NewPCG(seed, seed)), client: c,
		nextID: firstID + 1000,
		model: h47Model{balances: map[uint64]*h47Balances{}, open: map[uint64]h47Event{},
			resolving: map[uint64]bool{}}}
	on := docIDsOnShards(t, firstID, 4)
	for shard := range 2 {
		w.accounts[shard] = on[shard][:3]
		w.missing[shard] = on[shard][3]
		for _, id := range w.accounts[shard] {
			w.model.balances[id] = &h47Balances{}
		}
	}
	return w
}

// pick returns two distinct accounts of shard.
func (w *h47Workload) pick(shard int) (uint64, uint64) {
	i := w.random.IntN(3)
	j := (i + 1 + w.random.IntN(2)) % 3
	return w.accounts[shard][i], w.accounts[shard][j]
}

func (w *h47Workload) id() uint64 { w.nextID++; return w.nextID }

func (w *h47Workload) plain(shard int) h47Event {
	debit, credit := w.pick(shard)
	return h47Event{kind: h47Plain, id: w.id(), debit: debit, credit: credit,
		amount: 1 + w.random.Uint64N(9)}
}

func (w *h47Workload) cross() h47Event {
	from := w.random.IntN(2)
	return h47Event{kind: h47Plain, id: w.id(), debit: w.accounts[from][w.random.IntN(3)],
		credit: w.accounts[1-from][w.random.IntN(3)], amount: 1 + w.random.Uint64N(9),
		crossShard: true}
}

// newRequest builds the next request of a random kind: a local transfer, a cross-shard
// one, a request split over both shards with one crossing, a linked chain on one shard, a
// pending transfer, or the post or void of an acknowledged pending transfer.
func (w *h47Workload) newRequest() *h47Request {
	shard := w.random.IntN(2)
	var events []h47Event
	requestShard := shard
	choice := w.random.IntN(8)
	if w.crossHeavy {
		choice = []int{0, 1, 1, 1, 2, 3, 7}[w.random.IntN(7)]
	}
	switch {
	case choice == 7:
		// A cross-shard transfer the credit side refuses (section 18: the debit side
		// voids its reserve; the id stays taken).
		refused := w.cross()
		refused.credit, refused.want = w.missing[docShardOf(refused.credit)], h47CreditAccountNotFound
		events = []h47Event{refused}
		requestShard = -1
	case choice == 0:
		events = []h47Event{w.plain(shard)}
	case choice == 1:
		events = []h47Event{w.cross()}
		requestShard = -1
	case choice == 2:
		events = []h47Event{w.plain(0), w.plain(1), w.cross()}
		requestShard = -1
	case choice == 3:
		first, second := w.plain(shard), w.plain(shard)
		first.flags = h47FlagLinked
		events = []h47Event{first, second}
	case choice == 4 || len(w.model.open) == 0:
		pending := w.plain(shard)
		pending.kind, pending.flags = h47Pending, h47FlagPending
		events = []h47Event{pending}
	default:
		ids := make([]uint64, 0, len(w.model.open))
		for id := range w.model.open {
			if !w.model.resolving[id] {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			events = []h47Event{w.plain(shard)}
			break
		}
		slices.Sort(ids)
		pending := w.model.open[ids[w.random.IntN(len(ids))]]
		w.model.resolving[pending.id] = true
		resolve := h47Event{kind: h47Post, id: w.id(), debit: pending.debit,
			credit: pending.credit, amount: pending.amount, pendingID: pending.id,
			flags: h47FlagPost}
		if w.random.IntN(2) == 0 {
			resolve.kind, resolve.amount, resolve.flags = h47Void, 0, h47FlagVoid
		}
		events = []h47Event{resolve}
		requestShard = docShardOf(pending.debit)
	}
	if requestShard < 0 && len(events) == 1 {
		requestShard = docShardOf(events[0].debit) // One cross-shard transfer: its debit shard.
	}
	return w.request(events, requestShard)
}

func docShardOf(id uint64) int { return int(docHash(id) % 2) }

func (w *h47Workload) request(events []h47Event, shard int) *h47Request {
	w.client.next++
	r := &h47Request{number: w.client.next, events: events, shard: shard}
	for _, e := range events {
		r.body = append(r.body, e.encode()...)
	}
	w.requests = append(w.requests, r)
	return r
}

// bulk builds a request of the most transfers allowed, all on shard 0, with user data
// that does not compress: two of them fill a log segment of the smallest size.
func (w *h47Workload) bulk() *h47Request {
	events := make([]h47Event, h47RequestEventsMax)
	debit, credit := w.accounts[0][0], w.accounts[0][1]
	for i := range events {
		events[i] = h47Event{kind: h47Plain, id: w.id(), debit: debit, credit: credit,
			amount: 1, userData: w.random.Uint64()}
	}
	r := w.request(events, 0)
	r.bulk = true
	return r
}

// onReply checks a final ok reply (section 6: one 16-byte result per event; every event
// of this workload is valid, so each must be created, status 0: an exists would mean a
// resend was applied again instead of answered from the session's cache) and applies it
// to the model.
func (w *h47Workload) onReply(r *h47Request, reply docFrame) {
	w.t.Helper()
	if len(reply.body) != docEventResultBytes*len(r.events) || reply.aux == 0 {
		w.t.Fatalf("request %d: ok reply with %d body bytes, aux %d; want %d results and "+
			"an op", r.number, len(reply.body), reply.aux, len(r.events))
	}
	for i, e := range r.events {
		status := eventStatus(reply.body, i)
		// Section 18: a saga whose credit side has not decided within the saga timeout
		// (10 s by the node's clock after step 1, or, on a node restarted from its own
		// logs, after the later of step 1 and its first answered outbox poll; a promoted
		// standby counts from step 1: a credit shard 10 s behind on a loaded machine)
		// ends saga_timed_out, whatever the credit side would have said; after a
		// failover that lost entries, saga_decision_unknown. Nothing moved.
		if e.crossShard && (status == h47SagaTimedOut ||
			(w.lossy && status == h47SagaDecisionUnknown)) {
			r.events[i].want = status
			w.sagaRefusals++
			continue
		}
		if status != e.want {
			w.t.Fatalf("request %d (shard %d, duplicate flag %d) event %d (transfer %d, kind "+
				"%d, cross-shard %v): result %d, want %d", r.number, r.shard,
				reply.flags, i, e.id, e.kind, e.crossShard, status, e.want)
		}
	}
	if r.lost && reply.flags&docReplyFlagDuplicate != 0 {
		w.t.Fatalf("request %d, lost by the failover, answered as a duplicate on resend",
			r.number)
	}
	r.answered, r.aux = true, reply.aux
	if r.applied {
		return
	}
	r.applied = true
	for _, e := range r.events {
		if e.want != docStatusOK {
			continue
		}
		w.model.apply(e)
		if e.kind == h47Post || e.kind == h47Void {
			delete(w.model.resolving, e.pendingID)
		}
	}
}

// createAccounts creates the workload's six accounts (one split request; no flags: the
// key is an operator's, which may issue money, section 5).
func (w *h47Workload) createAccounts() {
	var body []byte
	for shard := range 2 {
		for _, id := range w.accounts[shard] {
			record := docAccount(id)
			record[118] = 0
			body = append(body, record...)
		}
	}
	w.client.next++
	number := w.client.next
	w.client.settle(nil, nil)
	if _, err := w.client.conn.Write(docEncode(docKindRequest, docOperationCreateAccounts, 0,
		w.client.session, number, body)); err != nil {
		w.t.Fatal(err)
	}
	reply, err := w.client.read()
	if err != nil || reply.status != docStatusOK || len(reply.body) != 6*docEventResultBytes {
		w.t.Fatalf("create_accounts: %v status %d", err, reply.status)
	}
	for i := range 6 {
		if eventStatus(reply.body, i) != docStatusOK {
			w.t.Fatalf("account %d: result %d", i, eventStatus(reply.body, i))
		}
	}
}

// lookup sends a read and returns its ok reply's body, resending as settle does.
func (c *h47Client) lookup(operation byte, body []byte) []byte {
	c.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		if c.conn == nil {
			if err := c.connect(); err != nil {
				c.drop()
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		c.next++
		if _, err := c.conn.Write(docEncode(docKindRequest, operation, 0, c.session, c.next,
			body)); err != nil {
			c.drop()
			continue
		}
		reply, err := c.read()
		if err != nil {
			c.drop()
			continue
		}
		if reply.kind == docKindReply && reply.number == c.next && reply.status == docStatusOK {
			return reply.body
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("lookup (operation %d) without an ok reply after %v", operation, hangGuard)
	return nil
}

// check compares the node the client is connected to with the model: the six accounts'
// balances, every acknowledged transfer found by id (section 18: a cross-shard one once
// posted, which it is once acknowledged), and a resend of acknowledged transfers under a
// new number answered exists (section 10; section 18 for a cross-shard one).
func (w *h47Workload) check(what string) {
	w.t.Helper()
	var ids []uint64
	for shard := range 2 {
		ids = append(ids, w.accounts[shard]...)
	}
	found := w.client.lookup(docOperationLookupAccounts, docIDs(ids...))
	if len(found) != h47AccountBytes*len(ids) {
		w.t.Fatalf("%s: lookup_accounts found %d bytes, want %d accounts", what, len(found),
			len(ids))
	}
	for i, id := range ids {
		record := found[i*h47AccountBytes:]
		if got := endian.LittleEndian.Uint64(record); got != id {
			w.t.Fatalf("%s: account %d in place of %d", what, got, id)
		}
		want := *w.model.balances[id]
		got := h47Balances{
			debitsPending:  endian.LittleEndian.Uint64(record[h47AccountDebitsPending:]),
			debitsPosted:   endian.LittleEndian.Uint64(record[h47AccountDebitsPosted:]),
			creditsPending: endian.LittleEndian.Uint64(record[h47AccountCreditPending:]),
			creditsPosted:  endian.LittleEndian.Uint64(record[h47AccountCreditsPosted:])}
		if got != want {
			w.t.Fatalf("%s: account %d (shard %d) has %+v, the acknowledged transfers make "+
				"%+v", what, id, docShardOf(id), got, want)
		}
	}
	var transferIDs []uint64
	for _, r := range w.requests {
		if !r.answered {
			continue
		}
		if r.bulk { // The bulk requests' balances say enough; one id of each.
			transferIDs = append(transferIDs, r.events[0].id, r.events[len(r.events)-1].id)
			continue
		}
		for _, e := range r.events {
			if e.want == docStatusOK {
				transferIDs = append(transferIDs, e.id)
			}
		}
	}
	for start := 0; start < len(transferIDs); start += h47RequestEventsMax {
		chunk := transferIDs[start:min(start+h47RequestEventsMax, len(transferIDs))]
		body := w.client.lookup(docOperationLookupTransfers, docIDs(chunk...))
		if len(body) != h47TransferBytes*len(chunk) {
			missing := []uint64{}
			have := map[uint64]bool{}
			for i := 0; i+h47TransferBytes <= len(body); i += h47TransferBytes {
				have[endian.LittleEndian.Uint64(body[i:])] = true
			}
			for _, id := range chunk {
				if !have[id] {
					missing = append(missing, id)
				}
			}
			w.t.Fatalf("%s: %d of %d acknowledged transfers not found: %v", what,
				len(missing), len(chunk), missing[:min(len(missing), 20)])
		}
	}
	// Retries by id under new numbers: a few answered requests, whole.
	var retries []*h47Request
	for _, r := range w.requests {
		if r.answered && !r.bulk && w.random.IntN(8) == 0 {
			retries = append(retries, r)
		}
	}
	for _, r := range retries {
		w.client.next++
		retry := &h47Request{number: w.client.next, body: r.body, events: r.events}
		w.client.settle([]*h47Request{retry}, func(_ *h47Request, reply docFrame) {
			for i, e := range r.events {
				want := uint32(docEventResultExists)
				if e.want != docStatusOK {
					want = h47IDAlreadyFailed // Section 18: the id stays taken.
				}
				if status := eventStatus(reply.body, i); status != want {
					w.t.Fatalf("%s: transfer %d (request %d, event %d, kind %d, cross-shard %v) "+
						"retried under a new number answered %d, want %d", what, e.id,
						r.number, i, e.kind, e.crossShard, status, want)
				}
			}
			retry.answered = true
		})
	}
}

// docOperationLookupTransfers is the operation lookup_transfers (section 11).
const docOperationLookupTransfers = 4

// h47Round sends a batch of new requests pipelined and, when kill is set, kills the
// primary at a random moment while they are on their way (after a snapshot request
// when snapshot is set); then fails over and resends what has no reply.
func (w *h47Workload) round(p *h47Pair, count int, kill, snapshot, bulk bool, after func()) {
	w.t.Helper()
	batch := make([]*h47Request, 0, count+2)
	for range count {
		batch = append(batch, w.newRequest())
	}
	if bulk {
		batch = append(batch, w.bulk(), w.bulk())
	}
	killed := make(chan struct{})
	victim := p.primary
	if kill {
		delay := time.Duration(w.random.IntN(40)) * time.Millisecond
		go func() {
			defer close(killed)
			if snapshot {
				request, _ := http.NewRequest(http.MethodPost, "http://"+victim.http+
					"/v1/admin/snapshot", nil)
				request.Header.Set("Authorization", "Bearer "+p.token)
				if response, err := (&http.Client{Timeout: hangGuard}).Do(request); err == nil {
					response.Body.Close()
				}
			}
			time.Sleep(delay)
			victim.process.kill()
		}()
	}
	if kill {
		// The pipelined batch goes out at once; the kill lands somewhere in it.
		if _, failed := w.client.exchange(batch, w.onReply); failed {
			w.client.drop()
		}
		<-killed
		w.client.drop()
		unanswered := 0
		for _, r := range batch {
			if !r.answered {
				unanswered++
			}
		}
		w.t.Logf("killed with %d of %d requests without a reply", unanswered, len(batch))
		after()
		w.client.address = p.primary.process.address
		if w.random.IntN(2) == 0 && !p.standbyDown {
			// The client comes back to the node it knew: now a standby (rejoined) or the
			// primary again (restarted); a standby redirects it with not_primary naming the
			// primary (section 7), which the client follows.
			w.client.address = p.standby.process.address
			if p.primary.process == victim.process {
				w.client.address = p.primary.process.address
			}
		}
	}
	w.client.settle(batch, w.onReply)
}

// roundStandbyKilled sends a batch pipelined and kills the sync standby at a random
// moment while it is on its way, restarting it at once: the primary holds its replies
// (README: writes wait for a standby in sync mode) and releases them once the standby is
// back and has acknowledged them.
func (w *h47Workload) roundStandbyKilled(p *h47Pair, count int) {
	w.t.Helper()
	batch := make([]*h47Request, 0, count)
	for range count {
		batch = append(batch, w.newRequest())
	}
	delay := time.Duration(w.random.IntN(40)) * time.Millisecond
	standby := p.standby
	p.asStandbyOf(standby, p.primary)
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(delay)
		standby.process.kill()
		standby.process.restart() // A failure fails the test (and the batch waits for ever).
	}()
	w.client.settle(batch, w.onReply)
	<-restarted
}

// TestHunt47aShardedFailoverExactlyOnce: a node of two shards (hash placement) and its
// sync standby (killed mid-batch and restarted in every other cycle: the replies wait
// for it), the primary killed with SIGKILL at a random moment while a pipelined batch
// is on its way (local and cross-shard transfers, some refused by the credit side, split
// requests, linked chains, pending transfers and their posts and voids; in some cycles
// two requests of 8,189 transfers that fill a log segment, or an admin snapshot just
// before). Cycles alternate: the standby promoted and the old primary rejoined as its
// standby; the primary restarted from its log; and once the promoted node killed again
// while alone and restarted from its log before the old one rejoins. The client comes
// back to the new primary or to the node it knew (a standby redirects it, section 7).
// After each: every request without a reply, resent with its session and number, gets a
// definite ok with every event's expected result (section 7: from the cache, or applied
// once; never exists); the balances equal the model of acknowledged transfers; each
// acknowledged transfer is found by id; a retry by id under a new number answers exists
// (id_already_failed for a refused cross-shard one, section 18); login_accepted's epoch
// never goes back; at the end no saga is in flight and every settlement pair nets to
// zero.
func TestHunt47aShardedFailoverExactlyOnce(t *testing.T) {
	// With --replication-degrade-after the primary may release alone while its standby
	// restarts (README, "Loss window while degraded"); every kill of the primary waits
	// until it no longer does.
	p := h47StartPair(t, strings.Repeat("47", 32), "--snapshot-every", "400",
		"--wal-segment-bytes", "2097408", "--replication-degrade-after", "500ms")
	c := &h47Client{t: t, clientID: p.clientID, secret: p.secret, session: 4701,
		address: p.primary.process.address}
	w := newH47Workload(t, 47, 4_700_000, c)
	w.createAccounts()
	const cycles = 4
	for cycle := range cycles {
		p.waitInSync()
		for range 2 {
			w.round(p, 12, false, false, false, nil)
		}
		if cycle%2 == 0 {
			w.roundStandbyKilled(p, 12)
			p.waitInSync()
			status, _ := h47GetStatus(p.primary.http)
			t.Logf("standby killed and restarted: degradations %d", status.Replication.Degradations)
		}
		// Odd cycles restart the primary from its log; even ones fail over.
		after, what := p.failover, "failover"
		if cycle%2 == 1 {
			after, what = p.restartPrimary, "restart of the primary"
		}
		if cycle == 2 {
			// The promoted node, alone (its old primary still down), is killed while a batch
			// is on its way and restarted from its own log; then the old one rejoins.
			w.round(p, 16, true, false, true, p.promoteAlone)
			w.check(fmt.Sprintf("cycle %d, after a promotion, the old primary down", cycle+1))
			after = func() { p.restartPrimary(); p.rejoin() }
			what = "restart of the promoted node alone, then the rejoin"
		}
		w.round(p, 16, true, cycle%3 == 1, cycle%3 != 1, after)
		w.check(fmt.Sprintf("cycle %d, after a %s", cycle+1, what))
	}
	if c.epoch < (cycles+1)/2 {
		t.Fatalf("epoch %d after %d failovers", c.epoch, (cycles+1)/2)
	}
	status, _ := h47GetStatus(p.primary.http)
	t.Logf("%d requests, %d duplicate replies, %d resend rounds, %d sagas timed out, epoch "+
		"%d, status %+v", len(w.requests), c.duplicates, c.resends, w.sagaRefusals, c.epoch,
		status.Shards)
	for _, n := range []*h47Node{p.primary, p.standby} {
		segments, _ := filepath.Glob(filepath.Join(node.Layout{Dir: n.process.data}.LogDir(0),
			"*.wal"))
		t.Logf("%s: %d segments in shard 0's log", n.process.data, len(segments))
	}
	report := settledReport(t, p.primary.http, p.token)
	if len(report.Pairs) == 0 {
		t.Fatal("no settlement pair: nothing crossed shards")
	}
}

// promoteWhenStarted promotes the node behind httpAddress, asking again while it answers
// 409 (a standby still waiting for its primary, README).
func promoteWhenStarted(t *testing.T, httpAddress, token string) {
	t.Helper()
	eventually(t, "the standby to accept its promotion", func() bool {
		request, _ := http.NewRequest(http.MethodPost, "http://"+httpAddress+"/v1/admin/promote", nil)
		request.Header.Set("Authorization", "Bearer "+token)
		response, err := (&http.Client{Timeout: hangGuard}).Do(request)
		if err != nil {
			return false
		}
		response.Body.Close()
		return response.StatusCode == http.StatusOK
	})
}

// h47LagStatus is the replication part of /v1/status on a primary.
type h47LagStatus struct {
	Replication struct {
		StandbyAttached bool   `json:"standby_attached"`
		LagOps          uint64 `json:"lag_ops"`
	} `json:"replication"`
}

// waitReplicated waits (bounded) until an async standby is attached and holds every op
// of the primary's log (nothing in flight: the client waits for its replies first).
func (p *h47Pair) waitReplicated() {
	p.t.Helper()
	eventually(p.t, "the async standby to hold everything", func() bool {
		var s h47LagStatus
		response, err := (&http.Client{Timeout: hangGuard}).Get("http://" + p.primary.http + "/v1/status")
		if err != nil {
			return false
		}
		defer response.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(response.Body, 1<<20))
		return json.Unmarshal(raw, &s) == nil && s.Replication.StandbyAttached &&
			s.Replication.LagOps == 0
	})
}

// found looks every transfer of the answered requests up and returns the ids found.
func (w *h47Workload) found() map[uint64]bool {
	w.t.Helper()
	var ids []uint64
	for _, r := range w.requests {
		if r.answered {
			for _, e := range r.events {
				if e.want == docStatusOK {
					ids = append(ids, e.id)
				}
			}
		}
	}
	have := map[uint64]bool{}
	for start := 0; start < len(ids); start += h47RequestEventsMax {
		chunk := ids[start:min(start+h47RequestEventsMax, len(ids))]
		body := w.client.lookup(docOperationLookupTransfers, docIDs(chunk...))
		for i := 0; i+h47TransferBytes <= len(body); i += h47TransferBytes {
			have[endian.LittleEndian.Uint64(body[i:])] = true
		}
	}
	return have
}

// TestHunt47aAsyncLagLosesOnlyWhatTheStandbyLacked: README, async mode: "on failover,
// whatever the standby had not yet written ... is lost, and a client may have been told
// it succeeded" — and nothing more. A node of two shards replicates asynchronously to a
// standby; once the standby holds everything (lag 0, nothing in flight) it is stopped
// (SIGSTOP: it writes nothing more), the client goes on (acknowledged by the primary
// alone), the primary is SIGKILLed while a batch is on its way, the stopped standby is
// killed too and restarted from its own log, and promoted. Then: every request
// acknowledged before the stop is there (no saga half-done), the ones acknowledged after
// it are gone (per shard, what survives is a prefix of the acknowledged ops); resent
// with their session and numbers (section 7), the lost ones and those without a reply
// are each applied once, as new, and the node then equals the model of every
// acknowledged transfer, its settlement pairs netting to zero.
func TestHunt47aAsyncLagLosesOnlyWhatTheStandbyLacked(t *testing.T) {
	p := h47StartPair(t, strings.Repeat("48", 32), "--replication-mode", "async")
	c := &h47Client{t: t, clientID: p.clientID, secret: p.secret, session: 4702,
		address: p.primary.process.address}
	w := newH47Workload(t, 48, 4_710_000, c)
	w.createAccounts()
	for range 3 {
		w.round(p, 12, false, false, false, nil)
	}
	p.waitReplicated()
	// Every thread stopped before the next request: a standby still running after the
	// signal (kill(2) returns before the threads stop) would store some of what follows.
	p.standby.process.pause()
	replicated := c.next // Every request numbered up to this was on the standby's disk.
	for range 2 {
		w.round(p, 12, false, false, false, nil)
	}
	batch := make([]*h47Request, 0, 16)
	for range 16 {
		batch = append(batch, w.newRequest())
	}
	// The kill comes once a few of the batch's replies have arrived.
	killed, trigger := make(chan struct{}), make(chan struct{}, 1)
	replies, killAfter := 0, 1+w.random.IntN(8)
	go func() {
		defer close(killed)
		<-trigger
		p.primary.process.kill()
	}()
	if _, failed := c.exchange(batch, func(r *h47Request, reply docFrame) {
		w.onReply(r, reply)
		if replies++; replies == killAfter {
			trigger <- struct{}{}
		}
	}); failed {
		c.drop()
	}
	select {
	case trigger <- struct{}{}: // Every reply came first: kill now.
	default:
	}
	<-killed
	c.drop()
	p.standby.process.kill() // A stopped process dies of SIGKILL too.
	p.standby.process.restart()
	promoteWhenStarted(t, p.standby.http, p.token)
	p.primary, p.standby = p.standby, p.primary
	c.address = p.primary.process.address
	waitSagasDone(t, p.primary.http, p.token)

	have := w.found()
	var lost []*h47Request
	w.checkPrefix(have)
	for _, r := range w.requests {
		if !r.answered || !r.stored() {
			continue
		}
		survived := true
		for _, e := range r.events {
			survived = survived && (have[e.id] || e.want != docStatusOK)
		}
		if r.number <= replicated && !survived {
			t.Fatalf("request %d, acknowledged and on the standby's disk before it stopped, "+
				"is not on the promoted node", r.number)
		}
		if r.number > replicated && survived {
			t.Fatalf("request %d, acknowledged while the standby was stopped, is on the "+
				"promoted node", r.number)
		}
		if !survived {
			lost = append(lost, r)
		}
	}
	if len(lost) == 0 {
		t.Fatal("no acknowledged request was lost: the standby did not lag")
	}
	unanswered := 0
	for _, r := range batch {
		if !r.answered {
			unanswered++
		}
	}
	t.Logf("%d acknowledged requests lost with the stopped standby, %d of the last batch "+
		"without a reply", len(lost), unanswered)
	var resend []*h47Request
	for _, r := range w.requests {
		// A refused cross-shard transfer is stored nowhere a lookup sees: whether it
		// survived is unknown, and its resend is answered from the cache or anew, alike.
		if r.number > replicated && (!r.answered || !r.stored() || slices.Contains(lost, r)) {
			if r.answered {
				r.answered, r.lost = false, r.stored()
			}
			resend = append(resend, r)
		}
	}
	c.settle(resend, w.onReply)
	w.check("after the async failover and the resends")
	settledReport(t, p.primary.http, p.token)
}

// call sends one create_transfers under number and returns its final ok reply.
func (c *h47Client) call(number uint64, body []byte) docFrame {
	c.t.Helper()
	return c.callOperation(docOperationCreateTransfers, number, body)
}

// callOperation sends one write of operation under number and returns its final ok reply.
func (c *h47Client) callOperation(operation byte, number uint64, body []byte) docFrame {
	c.t.Helper()
	var got docFrame
	c.settle([]*h47Request{{operation: operation, number: number, body: body}}, func(r *h47Request, reply docFrame) {
		got, r.answered = reply, true
	})
	return got
}

// Statuses of section 12 the refusal test expects.
const (
	h47LinkedEventFailed         = 1
	h47IDAlreadyFailed           = 24
	h47ExistsWithDifferentAmount = 27
	h47CreditAccountNotFound     = 42
	h47LinkedChainSpansShards    = 80
	h47PendingSpansShards        = 81
	h47PlacementFieldMissing     = 82
	h47AccountOnOtherShard       = 83
	h47SagaTimedOut              = 86
	h47SagaDecisionUnknown       = 87
)

// TestHunt47aCrossShardAnswersAcrossFailover: what section 18 says a node of two shards
// answers, and section 7 says a resend answers, on both sides of a failover. Before it:
// a cross-shard transfer to a credit account that does not exist (the credit side
// refuses: credit_account_not_found), a linked chain leaving its shard (linked_event_failed
// then linked_chain_spans_shards), a pending transfer between shards
// (pending_transfer_spans_shards), a cross-shard transfer that succeeds, and a post
// naming no debit account (placement_field_missing). After the standby's promotion:
// each request resent under its number is answered from the cache, flagged duplicate,
// with the same results; under new numbers, the refused cross-shard id answers
// id_already_failed whatever its fields ("once the credit side refused, the id stays
// taken"), the created one exists (or exists_with_different_amount with another amount),
// and the shape refusals answer as before; the balances hold only the created transfers.
func TestHunt47aCrossShardAnswersAcrossFailover(t *testing.T) {
	p := h47StartPair(t, strings.Repeat("49", 32))
	c := &h47Client{t: t, clientID: p.clientID, secret: p.secret, session: 4703,
		address: p.primary.process.address}
	w := newH47Workload(t, 49, 4_720_000, c)
	w.createAccounts()
	on := docIDsOnShards(t, 4_729_000, 1)
	a0, a1, b0, missing := w.accounts[0][0], w.accounts[0][1], w.accounts[1][0], on[1][0]
	const refusedID, createdID, pendingID, postID = 4_721_001, 4_721_002, 4_721_003, 4_721_004
	refused := h47Event{id: refusedID, debit: a0, credit: missing, amount: 5}.encode()
	chainFirst := h47Event{id: 4_721_010, debit: a0, credit: a1, amount: 1, flags: h47FlagLinked}
	chain := slices.Concat(chainFirst.encode(),
		h47Event{id: 4_721_011, debit: a0, credit: b0, amount: 1}.encode())
	pendingCross := h47Event{id: 4_721_020, debit: a0, credit: b0, amount: 1,
		flags: h47FlagPending}.encode()
	created := h47Event{id: createdID, debit: a0, credit: b0, amount: 7}.encode()
	pending := h47Event{id: pendingID, debit: a0, credit: a1, amount: 3,
		flags: h47FlagPending}.encode()
	unplaced := h47Event{id: postID, pendingID: pendingID, amount: 3, flags: h47FlagPost}.encode()
	unplaced[112], unplaced[116] = 0, 0 // Ledger and code inherited: only the pending id named.
	// byNode: every event refused by the node before any shard saw it (section 18,
	// "Refused by the node"): ok, aux 0, recorded nowhere.
	requests := []struct {
		what   string
		body   []byte
		want   []uint32
		byNode bool
	}{
		{"cross-shard transfer to a missing credit account", refused, []uint32{h47CreditAccountNotFound}, false},
		{"linked chain leaving its shard", chain, []uint32{h47LinkedEventFailed, h47LinkedChainSpansShards}, true},
		{"pending transfer between shards", pendingCross, []uint32{h47PendingSpansShards}, false},
		{"cross-shard transfer", created, []uint32{docStatusOK}, false},
		{"local pending transfer", pending, []uint32{docStatusOK}, false},
		{"post naming no debit account", unplaced, []uint32{h47PlacementFieldMissing}, true},
	}
	expect := func(what string, reply docFrame, want []uint32, duplicate bool) {
		t.Helper()
		if (reply.aux == 0) != (slices.Contains(want, h47LinkedChainSpansShards) ||
			slices.Contains(want, h47PlacementFieldMissing)) {
			t.Fatalf("%s: aux %d (section 3: a write's op; 0 only for one refused by the node)",
				what, reply.aux)
		}
		if len(reply.body) != docEventResultBytes*len(want) {
			t.Fatalf("%s: %d result bytes, want %d results", what, len(reply.body), len(want))
		}
		for i, status := range want {
			if got := eventStatus(reply.body, i); got != status {
				t.Fatalf("%s: event %d answered %d, want %d", what, i, got, status)
			}
		}
		if duplicate != (reply.flags&docReplyFlagDuplicate != 0) {
			t.Fatalf("%s: reply flags %d, want duplicate %v", what, reply.flags, duplicate)
		}
	}
	first := make([]docFrame, len(requests))
	base := c.next
	for i, r := range requests {
		first[i] = c.call(base+uint64(i)+1, r.body)
		expect(r.what, first[i], r.want, false)
	}
	c.next += uint64(len(requests))
	p.waitInSync()
	c.drop()
	p.failover()
	c.address = p.primary.process.address
	for i, r := range requests {
		again := c.call(base+uint64(i)+1, r.body)
		expect(r.what+", resent after the failover", again, r.want, !r.byNode)
		if again.aux != first[i].aux || !slices.Equal(again.body, first[i].body) {
			t.Fatalf("%s, resent after the failover: aux %d body %x, first %d %x", r.what,
				again.aux, again.body, first[i].aux, first[i].body)
		}
	}
	// Refused by the node, a number stays free: reused for another body, it is answered
	// as a new request (not request_number_reused), and so is a resend 256 or more below
	// the highest number applied (not request_too_old).
	chainNumber := base + 2
	otherChain := slices.Clone(chain)
	otherChain[0]++
	expect("another chain under the first chain's number", c.call(chainNumber, otherChain),
		requests[1].want, false)
	c.next += 300
	expect("a request that moves the window", c.call(c.next, h47Event{id: 4_721_030,
		debit: a1, credit: a0, amount: 2}.encode()), []uint32{docStatusOK}, false)
	w.model.apply(h47Event{kind: h47Plain, id: 4_721_030, debit: a1, credit: a0, amount: 2})
	expect("the chain 300 numbers below the window", c.call(chainNumber, chain),
		requests[1].want, false)
	otherAmount := func(body []byte) []byte {
		changed := slices.Clone(body)
		changed[48]++
		return changed
	}
	retries := []struct {
		what string
		body []byte
		want []uint32
	}{
		{"the refused cross-shard id again", refused, []uint32{h47IDAlreadyFailed}},
		{"the refused cross-shard id with another amount", otherAmount(refused), []uint32{h47IDAlreadyFailed}},
		{"the chain again", chain, []uint32{h47LinkedEventFailed, h47LinkedChainSpansShards}},
		{"the pending transfer between shards again", pendingCross, []uint32{h47PendingSpansShards}},
		{"the cross-shard transfer again", created, []uint32{docEventResultExists}},
		{"the cross-shard transfer with another amount", otherAmount(created), []uint32{h47ExistsWithDifferentAmount}},
		{"the unplaced post again", unplaced, []uint32{h47PlacementFieldMissing}},
	}
	for _, r := range retries {
		c.next++
		expect(r.what+" under a new number after the failover", c.call(c.next, r.body), r.want, false)
	}
	w.model.apply(h47Event{kind: h47Plain, id: createdID, debit: a0, credit: b0, amount: 7})
	w.model.apply(h47Event{kind: h47Pending, id: pendingID, debit: a0, credit: a1, amount: 3})
	w.check("after the failover")
	if body := c.lookup(docOperationLookupAccounts, docIDs(missing)); len(body) != 0 {
		t.Fatalf("the missing credit account exists: %x", body)
	}
	waitSagasDone(t, p.primary.http, p.token)
}

// Operations, kinds and offsets of sections 4, 10 and 11 for orders and reports.
const (
	h47OperationCreateInstruments = 20
	h47OperationPlaceOrders       = 21
	h47KindReport                 = 11
	h47OrderResultBytes           = 24
	h47ReportKindAccepted         = 1
)

// h47Subscriber reads one client's execution reports of both shards (section 8, 18) and
// checks that each shard's arrive from 1, gap-free, each once.
type h47Subscriber struct {
	*h47Client
	last    [2]uint64            // Per shard, the last sequence handled.
	orders  [2]map[uint64]uint64 // Per shard, order id -> sequence of its accepted report.
	reports int
}

// resubscribe (re)connects and subscribes to both shards from the last sequence handled
// + 1 (section 18: one subscribe per shard, field s + 1; the default instrument shard,
// 0, first).
func (s *h47Subscriber) resubscribe() bool {
	s.drop()
	if err := s.connect(); err != nil {
		s.drop()
		return false
	}
	for shard := range 2 {
		body := make([]byte, 16)
		endian.LittleEndian.PutUint64(body, s.last[shard]+1)
		endian.LittleEndian.PutUint64(body[8:], uint64(shard)+1)
		if _, err := s.conn.Write(docEncode(docKindSubscribe, 0, 0, s.session, 0, body)); err != nil {
			s.drop()
			return false
		}
	}
	return true
}

// collect reads reports until every shard has handled want[shard] of them, reconnecting
// to the subscriber's address (resuming each shard) whenever the connection ends.
func (s *h47Subscriber) collect(want [2]int) {
	s.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for len(s.orders[0]) < want[0] || len(s.orders[1]) < want[1] {
		if time.Now().After(deadline) {
			s.t.Fatalf("reports: %d and %d of %v after %v", len(s.orders[0]), len(s.orders[1]),
				want, hangGuard)
		}
		if s.conn == nil && !s.resubscribe() {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		frame, err := s.read()
		if err != nil {
			s.drop()
			continue
		}
		switch {
		case frame.kind == docKindSubscribed:
			if frame.number < 1 || frame.number > 2 {
				s.t.Fatalf("subscribed labelled %d, want 1 or 2", frame.number)
			}
			shard := frame.number - 1
			switch frame.status {
			case docStatusOK:
				// Sync replication loses nothing: next_sequence is never below what was
				// asked (section 8, "After a failover that lost reports").
				if frame.aux != 0 && frame.aux <= s.last[shard] {
					s.t.Fatalf("shard %d: subscribed from %d answered next_sequence %d: "+
						"reports handled were lost", shard, s.last[shard]+1, frame.aux)
				}
			case h47StatusBusy, docStatusRateLimited:
				s.drop() // Subscribe again (section 4): reconnect and resume both.
				time.Sleep(50 * time.Millisecond)
			default:
				s.t.Fatalf("shard %d: subscribe answered status %d", shard, frame.status)
			}
		case frame.kind == h47KindReport:
			if frame.number < 1 || frame.number > 2 || len(frame.body) != 128 {
				s.t.Fatalf("report labelled %d, %d bytes", frame.number, len(frame.body))
			}
			shard := frame.number - 1
			if frame.aux != s.last[shard]+1 {
				s.t.Fatalf("shard %d: report %d after %d (section 8: in sequence order, no "+
					"report twice, from the sequence asked)", shard, frame.aux, s.last[shard])
			}
			s.last[shard] = frame.aux
			s.reports++
			order := endian.LittleEndian.Uint64(frame.body)
			if kind := frame.body[40]; kind != h47ReportKindAccepted {
				s.t.Fatalf("shard %d report %d: kind %d status %d, want accepted", shard,
					frame.aux, kind, endian.LittleEndian.Uint32(frame.body[36:]))
			}
			if earlier, seen := s.orders[shard][order]; seen {
				s.t.Fatalf("shard %d: order %d accepted in reports %d and %d", shard, order,
					earlier, frame.aux)
			}
			s.orders[shard][order] = frame.aux
		case frame.kind == docKindError:
			s.drop() // Section 8: a fenced node closes its subscribers; resume elsewhere.
		default:
			s.t.Fatalf("subscriber got frame kind %d", frame.kind)
		}
	}
}

// TestHunt47aReportsPerShardAcrossFailover: execution reports on a node of two shards
// (an instrument on each, section 18) through a failover in sync mode. Orders are placed
// (each accepted: one accepted report), a subscriber follows both shards' streams, the
// primary is killed while a pipelined batch of places is on its way, the standby
// promoted and the old primary rejoined; the places without a reply are resent (each
// order placed once) and the subscriber, after reading what its connection had, resumes
// each shard at the promoted node from its last sequence handled + 1. Per shard: every
// order accepted has exactly one accepted report, the sequences run from 1 without a gap
// or a repeat, and no resumption is answered a next_sequence below what it asked.
func TestHunt47aReportsPerShardAcrossFailover(t *testing.T) {
	p := h47StartPairAllowed(t, strings.Repeat("4a", 32), []string{"read", "transfer",
		"trade", "admin"}, "--placement-instruments", "2:1")
	c := &h47Client{t: t, clientID: p.clientID, secret: p.secret, session: 4704,
		address: p.primary.process.address}
	// Per shard s: instrument s + 1 (the map puts 2 on shard 1), a base account (ledger
	// 2) and a quote account (ledger 3) on that shard.
	on := docIDsOnShards(t, 4_740_000, 2)
	var accounts []byte
	var base, quote [2]uint64
	for shard := range 2 {
		base[shard], quote[shard] = on[shard][0], on[shard][1]
		for i, ledger := range []uint32{2, 3} {
			record := docAccount(on[shard][i])
			endian.LittleEndian.PutUint32(record[112:], ledger)
			record[118] = 0
			accounts = append(accounts, record...)
		}
	}
	var instruments []byte
	for shard := range 2 {
		record := make([]byte, 128)
		endian.LittleEndian.PutUint32(record, uint32(shard)+1)
		endian.LittleEndian.PutUint32(record[4:], 2)
		endian.LittleEndian.PutUint32(record[8:], 3)
		endian.LittleEndian.PutUint64(record[16:], 1)         // Tick.
		endian.LittleEndian.PutUint64(record[24:], 1)         // Lot.
		endian.LittleEndian.PutUint64(record[32:], 1)         // Quantity min.
		endian.LittleEndian.PutUint64(record[40:], 1_000_000) // Quantity max.
		instruments = append(instruments, record...)
	}
	c.next++
	created := c.callOperation(docOperationCreateAccounts, c.next, accounts)
	for i := range 4 {
		if status := eventStatus(created.body, i); status != docStatusOK {
			t.Fatalf("account %d: %d", i, status)
		}
	}
	c.next++
	created = c.callOperation(h47OperationCreateInstruments, c.next, instruments)
	for i := range 2 {
		if status := eventStatus(created.body, i); status != docStatusOK {
			t.Fatalf("instrument %d: %d", i+1, status)
		}
	}
	clientOrderID := uint64(0)
	orders := [2]int{}
	// Order ids answered, per shard (section 18: order ids are per shard).
	placed := [2]map[uint64]bool{{}, {}}
	newPlace := func(shard int) *h47Request {
		var body []byte
		for range 3 {
			clientOrderID++
			order := make([]byte, 128)
			endian.LittleEndian.PutUint64(order, clientOrderID)
			endian.LittleEndian.PutUint64(order[8:], 1)
			endian.LittleEndian.PutUint64(order[16:], base[shard])
			endian.LittleEndian.PutUint64(order[32:], quote[shard])
			endian.LittleEndian.PutUint64(order[48:], 100+clientOrderID) // Never crosses: sells only.
			endian.LittleEndian.PutUint64(order[56:], 1)
			endian.LittleEndian.PutUint32(order[96:], uint32(shard)+1)
			order[100], order[101], order[102] = 2, 1, 1 // Sell, limit, good-till-cancel.
			body = append(body, order...)
		}
		orders[shard] += 3
		c.next++
		return &h47Request{operation: h47OperationPlaceOrders, number: c.next, body: body,
			shard: shard}
	}
	onPlaced := func(r *h47Request, reply docFrame) {
		if len(reply.body) != 3*h47OrderResultBytes {
			t.Fatalf("place %d: %d result bytes", r.number, len(reply.body))
		}
		for i := range 3 {
			result := reply.body[i*h47OrderResultBytes:]
			if status := endian.LittleEndian.Uint32(result[16:]); status != docStatusOK {
				t.Fatalf("place %d order %d: status %d", r.number, i, status)
			}
			order := endian.LittleEndian.Uint64(result)
			if placed[r.shard][order] {
				t.Fatalf("place %d: shard %d's order id %d given twice", r.number, r.shard, order)
			}
			placed[r.shard][order] = true
		}
		r.answered = true
	}
	// An order whose accounts are on the other shard than its instrument is refused by
	// the node (section 18, "Refused by the node"): ok, aux 0, recorded nowhere, so its
	// resend is answered alike, not flagged duplicate.
	astray := newPlace(0)
	orders[0] -= 3
	for i := range 3 {
		endian.LittleEndian.PutUint64(astray.body[i*128+16:], base[1])
		endian.LittleEndian.PutUint64(astray.body[i*128+32:], quote[1])
	}
	for attempt := range 2 {
		reply := c.callOperation(h47OperationPlaceOrders, astray.number, astray.body)
		if reply.aux != 0 || reply.flags != 0 || len(reply.body) != 3*h47OrderResultBytes ||
			endian.LittleEndian.Uint32(reply.body[16:]) != h47AccountOnOtherShard {
			t.Fatalf("attempt %d of a place with another shard's accounts: aux %d flags %d "+
				"body %x, want account_on_other_shard, aux 0, no flag", attempt+1, reply.aux,
				reply.flags, reply.body)
		}
	}
	var first []*h47Request
	for i := range 8 {
		first = append(first, newPlace(i%2))
	}
	c.settle(first, onPlaced)
	sub := &h47Subscriber{h47Client: &h47Client{t: t, clientID: p.clientID, secret: p.secret,
		session: 4705, address: p.primary.process.address},
		orders: [2]map[uint64]uint64{{}, {}}}
	sub.collect(orders)
	p.waitInSync()
	var batch []*h47Request
	for i := range 10 {
		batch = append(batch, newPlace(i%2))
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
		p.primary.process.kill()
	}()
	if _, failed := c.exchange(batch, onPlaced); failed {
		c.drop()
	}
	<-killed
	c.drop()
	p.failover()
	c.address = p.primary.process.address
	c.settle(batch, onPlaced)
	sub.address = p.primary.process.address
	sub.collect(orders) // First what the old connection held, then resumed at the new primary.
	for shard := range 2 {
		if uint64(len(sub.orders[shard])) != sub.last[shard] {
			t.Fatalf("shard %d: %d orders in %d reports", shard, len(sub.orders[shard]),
				sub.last[shard])
		}
		for order := range sub.orders[shard] {
			if !placed[shard][order] {
				t.Fatalf("shard %d: a report accepts order %d, which no place answered", shard,
					order)
			}
		}
		if len(placed[shard]) != orders[shard] {
			t.Fatalf("shard %d: %d order ids for %d orders placed", shard, len(placed[shard]),
				orders[shard])
		}
	}
	shared := 0
	for order := range placed[0] {
		if placed[1][order] {
			shared++
		}
	}
	t.Logf("reports per shard %v, %d duplicate replies, %d order ids used on both shards "+
		"(section 18: numbered per shard)", sub.last, c.duplicates, shared)
}

// checkPrefix requires, per shard, that the acknowledged requests found (have) after a
// failover that lost entries are a prefix of that shard's acknowledged ops: ordered by
// the op each request of one shard got (a cross-shard transfer: its debit shard's step
// 1), once one is lost every later one is lost too, and no request is half there.
func (w *h47Workload) checkPrefix(have map[uint64]bool) {
	t := w.t
	t.Helper()
	for shard := range 2 {
		var onShard []*h47Request
		for _, r := range w.requests {
			if r.answered && r.shard == shard && r.stored() {
				onShard = append(onShard, r)
			}
		}
		slices.SortFunc(onShard, func(a, b *h47Request) int { return cmp.Compare(a.aux, b.aux) })
		firstLost := uint64(0)
		for _, r := range onShard {
			present := 0
			for _, e := range r.events {
				if have[e.id] || e.want != docStatusOK {
					present++
				}
			}
			switch {
			case present != 0 && present != len(r.events):
				t.Fatalf("request %d (shard %d, op %d): %d of its %d transfers survived the "+
					"failover", r.number, shard, r.aux, present, len(r.events))
			case present == 0 && firstLost == 0:
				firstLost = r.aux
			case present != 0 && firstLost != 0:
				t.Fatalf("shard %d: request %d (op %d) survived the failover, but request "+
					"acknowledged at op %d before it was lost", shard, r.number, r.aux, firstLost)
			}
		}
	}
}

// TestHunt47aAsyncCutThroughSagas: README, async mode: "each shard's log trails on its
// own, so a failover may keep a cross-shard transfer's credit while losing its debit ...
// The sagas themselves still finish". A node of two shards replicates asynchronously;
// once a few replies of a pipelined batch of mostly cross-shard transfers have arrived,
// the standby is stopped and the primary killed (each shard's log cut wherever its
// stream was); the standby resumes and is promoted. Then: every saga
// finishes (none left in flight); per shard, the acknowledged requests that survived are
// a prefix of that shard's acknowledged ops; the requests without a reply, resent with
// their session and numbers, get a definite answer (a cross-shard one may be
// saga_timed_out or saga_decision_unknown, section 18); and the sagas of the resends
// finish too.
func TestHunt47aAsyncCutThroughSagas(t *testing.T) {
	p := h47StartPair(t, strings.Repeat("4b", 32), "--replication-mode", "async")
	c := &h47Client{t: t, clientID: p.clientID, secret: p.secret, session: 4706,
		address: p.primary.process.address}
	w := newH47Workload(t, 51, 4_750_000, c)
	w.crossHeavy = true
	w.createAccounts()
	w.round(p, 12, false, false, false, nil)
	// The accounts must survive the failover (else every resend is refused for them):
	// the loss window is the batch's alone.
	p.waitReplicated()
	batch := make([]*h47Request, 0, 48)
	for range 48 {
		batch = append(batch, w.newRequest())
	}
	// The cut comes once a few replies have arrived: the rest of the batch, and the
	// sagas of what was answered, are then on their way.
	killed, trigger := make(chan struct{}), make(chan struct{}, 1)
	replies, cutAfter := 0, 1+w.random.IntN(6)
	go func() {
		defer close(killed)
		<-trigger
		// Every standby thread stopped before the primary dies (kill(2) returns before
		// they all are): a standby still running would see the primary's end first.
		if err := p.standby.process.stopEveryThread(); err != nil {
			t.Error(err)
		}
		p.primary.process.kill()
	}()
	if _, failed := c.exchange(batch, func(r *h47Request, reply docFrame) {
		w.onReply(r, reply)
		if replies++; replies == cutAfter {
			trigger <- struct{}{}
		}
	}); failed {
		c.drop()
	}
	select {
	case trigger <- struct{}{}: // Every reply came before the cut: cut now.
	default:
	}
	<-killed
	if t.Failed() {
		t.FailNow()
	}
	c.drop()
	// The standby resumes (it reads what its socket holds of the dead primary's log, no
	// more) and is promoted at once: the sagas the cut interrupted go on there.
	p.standby.process.signal(syscall.SIGCONT)
	promoteWhenStarted(t, p.standby.http, p.token)
	p.primary, p.standby = p.standby, p.primary
	c.address = p.primary.process.address
	w.lossy = true
	waitSagasDone(t, p.primary.http, p.token)
	have := w.found()
	w.checkPrefix(have)
	acknowledged, lost, unanswered := 0, 0, 0
	for _, r := range w.requests {
		switch {
		case !r.answered:
			unanswered++
		case r.stored():
			acknowledged++
			for _, e := range r.events {
				if e.want == docStatusOK && !have[e.id] {
					lost++
					break
				}
			}
		}
	}
	c.settle(batch, w.onReply)
	report := waitSagasDone(t, p.primary.http, p.token)
	t.Logf("%d acknowledged requests, %d of them lost; %d resent, %d cross-shard transfers "+
		"answered 86/87; settled %v, ok %v", acknowledged, lost, unanswered, w.sagaRefusals,
		report.Settled, report.OK)
}
