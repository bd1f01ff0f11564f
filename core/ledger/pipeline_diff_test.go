package ledger

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// createTransfersTwoPhase is CreateTransfersAs as it was scheduled before the software
// pipeline (7e5dd51): blocks of prefetchBlockEvents, each resolved whole
// (resolveTransfers) and then applied. TestPipelineMatchesTwoPhase runs it beside the
// pipeline, so what it compares is the schedule: whether anything the pipeline resolves
// ahead of an apply goes stale.
func (l *Ledger) createTransfersTwoPhase(client uint64, balances bool, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult) {
	l.createTransfersByBlocks(client, balances, firstTimestamp, events, results, l.applyTransfers)
}

// createTransfersByBlocks resolves and then applies events in blocks of
// prefetchBlockEvents, each block applied by apply (the ledger's applyTransfers, or a
// test's copy of an older one).
func (l *Ledger) createTransfersByBlocks(client uint64, balances bool, firstTimestamp uint64,
	events []model.Transfer, results []model.TransferResult,
	apply func(*chainRunner, uint64, []model.Transfer, []model.TransferResult, int, int)) {
	checkBatch(firstTimestamp, len(events), len(results))
	l.actAs(client)
	l.resultBalances = balances
	if l.riskActive() {
		l.risk.Begin(client)
	}
	runner := chainRunner{ledger: l, count: len(events)}
	for blockStart := 0; blockStart < len(events); blockStart += prefetchBlockEvents {
		blockEnd := min(blockStart+prefetchBlockEvents, len(events))
		l.resolveTransfers(events, blockStart, blockEnd)
		apply(&runner, firstTimestamp, events, results, blockStart, blockEnd)
	}
}

// pipelineDiffClients are the senders the differential test uses: the system, the
// accounts' owner, and a grantee (transfer scope on ledger 1, read scope on ledger 2).
const (
	pipelineDiffOwner   = 7
	pipelineDiffGrantee = 8
	pipelineDiffLedgers = 2
)

// pipelineDiff is one scenario of TestPipelineMatchesTwoPhase: two ledgers built alike,
// the pipeline applied to one and the two-phase blocks to the other.
type pipelineDiff struct {
	t          *testing.T
	random     *rand.Rand
	pipe, old  *Ledger
	pipeEvents event.Buffer
	oldEvents  event.Buffer
	timestamp  uint64
	accounts   []model.Uint128 // Client accounts, by ledger (index % pipelineDiffLedgers).
	escrow     [pipelineDiffLedgers]model.Uint128
	ids        []model.Uint128 // Client transfer ids used so far (some get reused).
	pending    []model.Uint128 // Pending transfer ids sent so far.
	absent     []model.Uint128 // Unknown account ids whose tags match an account's.
	nextID     uint64
	nextSystem uint64
	statuses   map[model.Status]int // Results of every batch so far.
	// reference applies a batch to old: createTransfersTwoPhase unless set.
	reference func(l *Ledger, client uint64, balances bool, firstTimestamp uint64,
		events []model.Transfer, results []model.TransferResult)
}

func newPipelineDiff(t *testing.T, seed uint64, accountCount int, rules bool,
	events bool) *pipelineDiff {
	d := &pipelineDiff{t: t, random: rand.New(rand.NewPCG(seed, 0x5eed)), timestamp: 1,
		nextID: 1, nextSystem: 1,
		statuses: map[model.Status]int{}}
	// No capacity: both id tables start at their minimum size, so batches of a few
	// hundred transfers grow the transfer table (and the accounts leave the account
	// table part-way through a migration for some counts).
	d.pipe = New(Config{HashSeed: seed})
	d.old = New(Config{HashSeed: seed})
	if events {
		d.pipe.SetEvents(&d.pipeEvents)
		d.old.SetEvents(&d.oldEvents)
	}
	both := func(f func(l *Ledger)) { f(d.pipe); f(d.old) }
	both(func(l *Ledger) {
		if err := l.SetGrants([]model.Grant{
			{Client: pipelineDiffOwner, Scopes: model.ScopeTransfer, Ledger: 1},
			{Client: pipelineDiffOwner, Scopes: model.ScopeTransfer, Ledger: 2}}); err != nil {
			t.Fatal(err)
		}
	})
	for ledger := range pipelineDiffLedgers {
		d.escrow[ledger] = model.Uint128{Hi: 1 << 63, Lo: uint64(ledger) + 1}
	}
	system := make([]model.Account, pipelineDiffLedgers)
	for ledger := range system {
		system[ledger] = model.Account{ID: d.escrow[ledger], Ledger: uint32(ledger) + 1, Code: 1}
	}
	d.createAccounts(func(l *Ledger, ts uint64, a []model.Account, r []model.EventResult) {
		l.CreateSystemAccounts(ts, a, r)
	}, system)
	accounts := make([]model.Account, accountCount)
	for i := range accounts {
		flags := uint16(0)
		switch d.random.IntN(8) {
		case 0:
			flags = model.AccountDebitsMustNotExceedCredits
		case 1:
			flags = model.AccountCreditsMustNotExceedDebits
		case 2:
			flags = model.AccountHistory
		}
		// Sparse ids: neighbours differ in the low bits that pick a slot within a line.
		id := model.Uint128{Hi: uint64(i % 3), Lo: uint64(i)*0x9e3779b97f4a7c15 + 1}
		accounts[i] = model.Account{ID: id, Ledger: uint32(i%pipelineDiffLedgers) + 1, Code: 1,
			Flags: flags}
		d.accounts = append(d.accounts, id)
	}
	// Ids whose 32-bit tags collide with another account's: the pipeline's candidate is
	// then the wrong account and confirmAccounts must fall back to a full probe. The
	// second id of every fourth pair is never created (a collision with an unknown id).
	for i, pair := range tagCollisions(&d.pipe.accountIndex, len(accounts)/8) {
		if i%4 == 3 {
			d.absent = append(d.absent, pair[1])
			pair[1] = model.Uint128{Hi: 9, Lo: d.random.Uint64()}
		}
		for j, id := range pair {
			position := len(accounts) - 1 - 2*i - j // Keep the ledgers of the slots.
			accounts[position].ID, d.accounts[position] = id, id
		}
	}
	// The first half belongs to the owner, the rest to the system.
	half := len(accounts) / 2
	for start := 0; start < len(accounts); start += model.EventsPerRequestMax {
		end := min(start+model.EventsPerRequestMax, len(accounts))
		for _, part := range [][2]int{{start, min(end, max(start, half))},
			{max(start, half), end}} {
			if part[0] >= part[1] {
				continue
			}
			client := uint64(0)
			if part[0] < half {
				client = pipelineDiffOwner
			}
			d.createAccounts(func(l *Ledger, ts uint64, a []model.Account,
				r []model.EventResult) {
				l.CreateAccountsAs(client, ts, a, r)
			}, accounts[part[0]:part[1]])
		}
	}
	both(func(l *Ledger) {
		if err := l.SetGrants([]model.Grant{
			{Client: pipelineDiffGrantee, Scopes: model.ScopeTransfer, Ledger: 1},
			{Client: pipelineDiffGrantee, Scopes: model.ScopeRead, Ledger: 2}}); err != nil {
			t.Fatal(err)
		}
	})
	if rules {
		d.setRules()
	}
	d.compare("setup")
	return d
}

func (d *pipelineDiff) createAccounts(create func(*Ledger, uint64, []model.Account,
	[]model.EventResult), accounts []model.Account) {
	results := make([]model.EventResult, len(accounts))
	for _, l := range []*Ledger{d.pipe, d.old} {
		create(l, d.timestamp, accounts, results)
		for i, r := range results {
			if r.Status != model.StatusOK {
				d.t.Fatalf("account %d: %s", i, r.Status)
			}
		}
	}
	d.timestamp += uint64(len(accounts))
}

// tagCollisions returns count pairs of distinct ids whose hashes in table have the same
// tag (a birthday search over the tag's hashed bits: all 32 of them in the account
// table, whose hash groups nothing).
func tagCollisions(table *idTable, count int) [][2]model.Uint128 {
	var pairs [][2]model.Uint128
	seen := map[uint64]model.Uint128{}
	for lo := uint64(1); len(pairs) < count; lo++ {
		id := model.Uint128{Hi: 5, Lo: lo << 3}
		tag := tagOf(table.hash(id))
		if other, ok := seen[tag]; ok {
			pairs = append(pairs, [2]model.Uint128{other, id})
			delete(seen, tag)
			continue
		}
		seen[tag] = id
	}
	return pairs
}

// setRules puts every kind of rule the counters of confirmAccounts feed in force.
func (d *pipelineDiff) setRules() {
	rules := []model.RiskRule{
		{ID: 1, Kind: model.RiskVelocity, Scope: model.RiskScopeLedger, Ledger: 1,
			WindowNs: 4_000_000, Amount: model.U128(5_000), Count: 40},
		{ID: 2, Kind: model.RiskMaxAmount, Scope: model.RiskScopeLedger, Ledger: 2,
			Amount: model.U128(900)},
		{ID: 3, Kind: model.RiskAnomaly, Scope: model.RiskScopeLedger, Ledger: 1,
			Action: model.RiskHold, Threshold: 32, Warmup: 3, Shift: 2},
		{ID: 4, Kind: model.RiskBlocked, Scope: model.RiskScopeAccount, Account: d.accounts[3]},
		{ID: 5, Kind: model.RiskDailyAmount, Scope: model.RiskScopeClient,
			Client: pipelineDiffGrantee, Ledger: 1, Amount: model.U128(20_000)},
	}
	statuses := make([]model.Status, len(rules))
	for _, l := range []*Ledger{d.pipe, d.old} {
		l.Risk().Set(rules, d.timestamp, statuses)
		for i, status := range statuses {
			if status != model.StatusOK {
				d.t.Fatalf("rule %d: %s", rules[i].ID, status)
			}
		}
	}
	d.timestamp++
}

// account returns a random client account of the ledger (1-based), now and then an
// unknown one.
func (d *pipelineDiff) account(ledger int) model.Uint128 {
	if d.random.IntN(40) == 0 {
		if len(d.absent) > 0 && d.random.IntN(2) == 0 {
			return d.absent[d.random.IntN(len(d.absent))] // Not found, behind a tag match.
		}
		return model.Uint128{Hi: 9, Lo: d.random.Uint64()} // Not found.
	}
	perLedger := len(d.accounts) / pipelineDiffLedgers
	return d.accounts[d.random.IntN(perLedger)*pipelineDiffLedgers+ledger-1]
}

// transferID returns a fresh id, or now and then one used before (in this batch or an
// earlier one): a retry, or an id clash with different fields.
func (d *pipelineDiff) transferID() model.Uint128 {
	if len(d.ids) > 0 && d.random.IntN(8) == 0 {
		// Mostly recent ids, so that repeats land in the next few blocks.
		back := min(len(d.ids), 1+d.random.IntN(64))
		if d.random.IntN(4) == 0 {
			back = 1 + d.random.IntN(len(d.ids))
		}
		return d.ids[len(d.ids)-back]
	}
	id := model.Uint128{Hi: d.nextID >> 40, Lo: d.nextID}
	d.nextID += 1 + uint64(d.random.IntN(3))
	d.ids = append(d.ids, id)
	return id
}

// clientTransfer draws a transfer of any mode.
func (d *pipelineDiff) clientTransfer() model.Transfer {
	ledger := 1 + d.random.IntN(pipelineDiffLedgers)
	t := model.Transfer{ID: d.transferID(), DebitAccountID: d.account(ledger),
		CreditAccountID: d.account(ledger), Amount: model.U128(1 + uint64(d.random.IntN(300))),
		Ledger: uint32(ledger), Code: 1, UserData64: uint64(d.random.IntN(2))}
	switch mode := d.random.IntN(12); {
	case mode < 3:
		t.Flags = model.TransferPending
		t.Timeout = uint32(d.random.IntN(3))
		d.pending = append(d.pending, t.ID)
	case mode < 6 && len(d.pending) > 0:
		// Post or void a pending transfer, often one sent a few events (or blocks) ago.
		back := min(len(d.pending), 1+d.random.IntN(48))
		if d.random.IntN(4) == 0 {
			back = 1 + d.random.IntN(len(d.pending))
		}
		t.PendingID = d.pending[len(d.pending)-back]
		t.Flags = model.TransferPostPending
		if d.random.IntN(3) == 0 {
			t.Flags = model.TransferVoidPending
		}
		t.Amount = []model.Uint128{{}, model.U128(7), model.Uint128Max}[d.random.IntN(3)]
		if d.random.IntN(2) == 0 {
			t.DebitAccountID, t.CreditAccountID, t.Ledger, t.Code = model.Uint128{},
				model.Uint128{}, 0, 0
		}
	case mode == 6:
		t.Flags = []uint16{model.TransferBalancingDebit, model.TransferBalancingCredit,
			model.TransferPending | model.TransferClosingDebit,
			model.TransferPending | model.TransferClosingCredit}[d.random.IntN(4)]
		if t.Flags&model.TransferPending != 0 {
			d.pending = append(d.pending, t.ID)
		}
	case mode == 7:
		t.Amount = model.U128(5_000 + uint64(d.random.IntN(20_000))) // Overdrafts, risk.
	case mode == 8 && d.random.IntN(4) == 0:
		t.CreditAccountID = t.DebitAccountID
	case mode == 9 && d.random.IntN(4) == 0:
		t.Ledger = 3
	}
	if d.random.IntN(5) == 0 {
		t.Flags |= model.TransferLinked
	}
	return t
}

// systemTransfer draws a transfer of a system batch: a reservation (reserve), or a
// transfer with a system id between client accounts and the escrow.
func (d *pipelineDiff) systemTransfer() model.Transfer {
	ledger := 1 + d.random.IntN(pipelineDiffLedgers)
	debit := d.accounts[d.random.IntN(len(d.accounts)/pipelineDiffLedgers)*
		pipelineDiffLedgers+ledger-1]
	t := model.Transfer{DebitAccountID: debit, CreditAccountID: d.escrow[ledger-1],
		Amount: model.U128(1 + uint64(d.random.IntN(50))), Ledger: uint32(ledger), Code: 1}
	if d.random.IntN(2) == 0 {
		t.Flags = SystemReserve
	} else {
		t.ID = model.Uint128{Hi: 1 << 63, Lo: 1_000 + d.nextSystem}
		d.nextSystem++
		if d.random.IntN(2) == 0 {
			t.DebitAccountID, t.CreditAccountID = t.CreditAccountID, t.DebitAccountID
		}
	}
	if d.random.IntN(6) == 0 {
		t.Flags |= model.TransferLinked
	}
	return t
}

// batchLength draws a batch length around the pipeline's block boundaries, now and then
// a long one or the largest.
func (d *pipelineDiff) batchLength() int {
	switch d.random.IntN(10) {
	case 0:
		return 1
	case 1, 2:
		return pipelineBlockEvents*(1+d.random.IntN(4)) - 1 + d.random.IntN(3)
	case 3:
		return prefetchBlockEvents*(1+d.random.IntN(3)) - 1 + d.random.IntN(3)
	case 4:
		if d.random.IntN(8) == 0 {
			return model.EventsPerRequestMax
		}
		return 300 + d.random.IntN(1_500)
	default:
		return 2 + d.random.IntN(120)
	}
}

// batch draws a batch of count events (a random length when 0) and its kind: 0
// releases, 1 system transfers, above that client transfers, each of which vary (when
// not nil) may change, drawing from d.random, as it is made.
func (d *pipelineDiff) batch(count int,
	vary func(events []model.Transfer, i int)) (kind int, events []model.Transfer) {
	if count == 0 {
		count = d.batchLength()
	}
	events = make([]model.Transfer, count)
	kind = d.random.IntN(10)
	switch {
	case kind == 0:
		d.releases(events)
	case kind == 1:
		for i := range events {
			events[i] = d.systemTransfer()
		}
	default:
		for i := range events {
			events[i] = d.clientTransfer()
			if vary != nil {
				vary(events, i)
			}
		}
	}
	return kind, events
}

// caller draws who sends a batch (the system, the accounts' owner or a grantee) and
// whether it asks for balances.
func (d *pipelineDiff) caller() (client uint64, balances bool) {
	client = []uint64{0, pipelineDiffOwner, pipelineDiffGrantee}[d.random.IntN(3)]
	return client, d.random.IntN(2) == 0
}

// step runs one batch (or an expiry pulse, or releases) on both ledgers and compares.
// count is the batch length, or 0 for a random one. It returns the batch, for a retry.
func (d *pipelineDiff) step(label string, count int) (kind int, events []model.Transfer,
	client uint64, balances bool) {
	d.timestamp += uint64(d.random.IntN(3)) * 700_000_000 // Timeouts expire now and then.
	if d.random.IntN(4) == 0 {
		a, b := d.pipe.Expire(d.timestamp, nil), d.old.Expire(d.timestamp, nil)
		if a != b {
			d.t.Fatalf("%s: expired %d with the pipeline, %d without", label, a, b)
		}
		d.timestamp++
	}
	kind, events = d.batch(count, nil)
	client, balances = d.caller()
	d.apply(label, kind, events, client, balances)
	return kind, events, client, balances
}

// apply runs a batch of the kind (as d.batch draws them) on both ledgers, the public
// entry points on pipe and the reference on old, and compares their results, their
// events and their states.
func (d *pipelineDiff) apply(label string, kind int, events []model.Transfer, client uint64,
	balances bool) {
	count := len(events)
	reference := d.reference
	if reference == nil {
		reference = (*Ledger).createTransfersTwoPhase
	}
	pipeEvents, oldEvents := append([]model.Transfer(nil), events...),
		append([]model.Transfer(nil), events...)
	pipeResults, oldResults := make([]model.TransferResult, count),
		make([]model.TransferResult, count)
	// Results written over an earlier batch's (a caller reuses its buffers): every part
	// of every result must be written.
	poisonResults(pipeResults)
	poisonResults(oldResults)
	d.pipeEvents.Reset()
	d.oldEvents.Reset()
	switch {
	case kind <= 1:
		d.pipe.CreateSystemTransfers(d.timestamp, pipeEvents, pipeResults)
		d.old.system = true
		reference(d.old, 0, true, d.timestamp, oldEvents, oldResults)
		d.old.system = false
	case kind == 2:
		d.pipe.CreateSagaTransfersAs(client, d.timestamp, pipeEvents, pipeResults)
		d.old.system, d.old.saga = true, true
		reference(d.old, client, true, d.timestamp, oldEvents, oldResults)
		d.old.system, d.old.saga = false, false
	default:
		d.pipe.CreateTransfersAs(client, balances, d.timestamp, pipeEvents, pipeResults)
		reference(d.old, client, balances, d.timestamp, oldEvents, oldResults)
	}
	d.timestamp += uint64(count)
	for i := range pipeResults {
		d.statuses[pipeResults[i].Status]++
		if pipeResults[i] != oldResults[i] {
			d.t.Fatalf("%s (kind %d, client %d, %d events): event %d %+v: public entry %+v, "+
				"reference %+v", label, kind, client, count, i, events[i], pipeResults[i],
				oldResults[i])
		}
	}
	if !reflect.DeepEqual(d.pipeEvents.Events, d.oldEvents.Events) {
		d.t.Fatalf("%s: the public entry recorded other events than the reference", label)
	}
	d.compare(label)
}

// poisonResults fills results with values no batch answers, as a reused results buffer
// holds an earlier batch's answers.
func poisonResults(results []model.TransferResult) {
	for i := range results {
		results[i] = model.TransferResult{EventResult: model.EventResult{Timestamp: 7,
			Status: 9, Rule: 11}, DebitAccount: model.Balance{DebitsPosted: model.U128(13)},
			CreditAccount: model.Balance{CreditsPending: model.Uint128{Hi: 17}},
			Risk:          model.RiskDetail{Rule: 19, Kind: 1}}
	}
}

// releases fills events with reservation releases of what the accounts reserve now.
func (d *pipelineDiff) releases(events []model.Transfer) {
	var released int
	for index, id := range d.accounts {
		if released == len(events) {
			break
		}
		reserved := d.pipe.Reserved(id)
		if reserved.IsZero() {
			continue
		}
		ledger := index%pipelineDiffLedgers + 1
		events[released] = model.Transfer{DebitAccountID: id,
			CreditAccountID: d.escrow[ledger-1], Amount: reserved, Ledger: uint32(ledger),
			Code: 1, Flags: SystemRelease}
		released++
	}
	for i := released; i < len(events); i++ {
		events[i] = d.systemTransfer()
		events[i].Flags &^= model.TransferLinked // A reserve may fail; a release may not.
	}
}

// compare requires the same state of both ledgers: the snapshot digest (accounts,
// transfers, pending states, failed ids, reservations, grants) and the risk counters.
func (d *pipelineDiff) compare(label string) {
	if a, b := d.pipe.Digest(), d.old.Digest(); a != b {
		d.t.Fatalf("%s: digest %x with the pipeline, %x without", label, a[:8], b[:8])
	}
	var a, b bytes.Buffer
	if _, err := d.pipe.Risk().Snapshot().WriteTo(&a); err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.old.Risk().Snapshot().WriteTo(&b); err != nil {
		d.t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		d.t.Fatalf("%s: risk state differs", label)
	}
	if err := CheckInvariants(d.pipe.Accounts()); err != nil {
		d.t.Fatalf("%s: %v", label, err)
	}
}

// TestPipelineMatchesTwoPhase is a differential test of CreateTransfersAs's software
// pipeline against the two-phase blocks it replaced (createTransfersTwoPhase): seeded
// random batches of every kind (client transfers as the system, the owner and a grantee,
// with and without balances; system batches with reservations; saga steps), of lengths
// around the 16- and 128-event block boundaries up to the largest batch, with ids
// repeated across blocks, pending transfers posted or voided blocks later in the same
// batch, closing transfers, linked chains crossing blocks and rolling back, expiry,
// transfer-table growth inside a batch, an account table part-way through a migration,
// risk rules and events on or off. Results, events, the ledger digest and the risk state
// must agree after every batch.
func TestPipelineMatchesTwoPhase(t *testing.T) {
	scenarios := []struct {
		accounts      int
		rules, events bool
	}{
		{accounts: 12, rules: false, events: true},
		{accounts: 40, rules: true, events: false},
		{accounts: 520, rules: true, events: true}, // The account table is migrating.
		{accounts: 3_000, rules: false, events: false},
		{accounts: 700, rules: true, events: true},
	}
	steps := 60
	if testing.Short() {
		steps = 15
	}
	for n, scenario := range scenarios {
		t.Run(fmt.Sprintf("accounts=%d/rules=%t/events=%t", scenario.accounts, scenario.rules,
			scenario.events), func(t *testing.T) {
			d := newPipelineDiff(t, uint64(n)+1, scenario.accounts, scenario.rules,
				scenario.events)
			if scenario.accounts == 520 && d.pipe.accountIndex.old == nil {
				t.Fatal("the account table is not migrating: the scenario misses its case")
			}
			for step := range steps {
				count := 0
				if step == steps/2 {
					count = model.EventsPerRequestMax // The largest batch, in every scenario.
				}
				d.step(fmt.Sprintf("step %d", step), count)
			}
		})
	}
}
