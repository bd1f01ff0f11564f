package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math/big"
	"math/rand/v2"
	"testing"

	"sequent/core/event"
	"sequent/core/model"
)

// reservationPathsTraceDigest is the SHA-256 of the trace TestReservationPathsTracePinned
// writes, computed on 069d12a6 (before book47 wrote the reservation's release, fill,
// limit check and undo records out in place). A pure speed change of these paths must
// leave it as it is.
const reservationPathsTraceDigest = "60b4da53aa84fc9ea8fb44e9893d7fb812b5670d8e06db57f39e4bceb3c1caad"

// reservationPaths is one scenario of TestReservationPathsTracePinned: a ledger with
// payers of every limit-flag combination, escrows with and without a limit flag, and
// sources and sinks that move the payers' balances to the edges of the low word.
type reservationPaths struct {
	t         *testing.T
	random    *rand.Rand
	ledger    *Ledger
	events    event.Buffer
	trace     hash.Hash
	timestamp uint64
	payers    []model.Uint128
	escrows   []model.Uint128
	sources   []model.Uint128
	sink      model.Uint128
	held      map[[2]int]model.Uint128 // What each payer reserves through each escrow.
	pending   []model.Uint128          // System pending transfers sent (some resolved).
	nextID    uint64
	places    [2]uint32 // ChangeSystemReservationAt's places (any value: it checks them).
	statuses  map[model.Status]int
	// Lone reservations the in-place limit check decided (small amounts, the payer's limit
	// flag alone), by status.
	inPlace map[model.Status]int
}

var reservationPathsPayerFlags = []uint16{
	model.AccountDebitsMustNotExceedCredits,
	model.AccountDebitsMustNotExceedCredits | model.AccountHistory,
	0, model.AccountCreditsMustNotExceedDebits, model.AccountHistory,
	model.AccountCreditsMustNotExceedDebits | model.AccountHistory,
	model.AccountDebitsMustNotExceedCredits, model.AccountDebitsMustNotExceedCredits,
}

var reservationPathsEscrowFlags = []uint16{0, model.AccountCreditsMustNotExceedDebits,
	model.AccountHistory, model.AccountDebitsMustNotExceedCredits,
	model.AccountCreditsMustNotExceedDebits | model.AccountHistory}

func newReservationPaths(t *testing.T, seed uint64) *reservationPaths {
	p := &reservationPaths{t: t, random: rand.New(rand.NewPCG(seed, 0xb0047)),
		ledger: New(Config{HashSeed: seed}), trace: sha256.New(), timestamp: 1_000,
		held: map[[2]int]model.Uint128{}, nextID: 1, statuses: map[model.Status]int{},
		inPlace: map[model.Status]int{}}
	p.ledger.SetEvents(&p.events)
	var accounts []model.Account
	for i, flags := range reservationPathsPayerFlags {
		id := model.Uint128{Lo: 100 + uint64(i)}
		p.payers = append(p.payers, id)
		accounts = append(accounts, model.Account{ID: id, Ledger: 1, Code: 1, Flags: flags})
	}
	for i := range 24 {
		id := model.Uint128{Lo: 200 + uint64(i)}
		p.sources = append(p.sources, id)
		accounts = append(accounts, model.Account{ID: id, Ledger: 1, Code: 1})
	}
	p.sink = model.Uint128{Lo: 300}
	accounts = append(accounts, model.Account{ID: p.sink, Ledger: 1, Code: 1})
	results := make([]model.EventResult, len(accounts))
	p.ledger.CreateAccounts(p.timestamp, accounts, results)
	p.timestamp += uint64(len(accounts))
	var escrows []model.Account
	for i, flags := range reservationPathsEscrowFlags {
		id := model.Uint128{Hi: 1 << 63, Lo: 400 + uint64(i)}
		p.escrows = append(p.escrows, id)
		escrows = append(escrows, model.Account{ID: id, Ledger: 1, Code: 1, Flags: flags})
	}
	escrowResults := make([]model.EventResult, len(escrows))
	p.ledger.CreateSystemAccounts(p.timestamp, escrows, escrowResults)
	p.timestamp += uint64(len(escrows))
	for i, r := range append(results, escrowResults...) {
		if r.Status != model.StatusOK {
			t.Fatalf("account %d: %s", i, r.Status)
		}
	}
	return p
}

// edgeAmount draws an amount at or near a carry of the low word, in or out of the range
// smallAmounts accepts (high words below 2^62).
func (p *reservationPaths) edgeAmount() model.Uint128 {
	lows := []uint64{0, 1, 2, 1<<63 - 1, 1 << 63, ^uint64(0) - 1, ^uint64(0)}
	highs := []uint64{0, 0, 0, 1, 2, smallAmountHighWordLimit/4 - 1,
		smallAmountHighWordLimit - 1, smallAmountHighWordLimit, 1<<63 - 1}
	switch p.random.IntN(4) {
	case 0:
		return model.U128(1 + uint64(p.random.IntN(1_000)))
	case 1:
		return model.Uint128{Lo: lows[p.random.IntN(len(lows))]}
	default:
		return model.Uint128{Hi: highs[p.random.IntN(len(highs))],
			Lo: lows[p.random.IntN(len(lows))]}
	}
}

func (p *reservationPaths) record(id model.Uint128) *accountRecord {
	index, found := p.ledger.findAccount(id)
	if !found {
		p.t.Fatalf("account %s missing", id)
	}
	return p.ledger.accounts.at(index)
}

// headroom is what the payer may still reserve under debits_must_not_exceed_credits:
// credits_posted - debits_pending - debits_posted (0 when none is left), big.
func headroom(r *accountRecord) *big.Int {
	room := toBig(r.CreditsPosted)
	room.Sub(room, toBig(r.DebitsPending))
	room.Sub(room, toBig(r.DebitsPosted))
	if room.Sign() < 0 {
		room.SetInt64(0)
	}
	return room
}

func toBig(v model.Uint128) *big.Int {
	b := new(big.Int).SetUint64(v.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(v.Lo))
}

func fromBig(b *big.Int) model.Uint128 {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	if b.Sign() < 0 || b.Cmp(limit) >= 0 {
		return model.Uint128Max
	}
	low := new(big.Int).And(b, new(big.Int).SetUint64(^uint64(0)))
	return model.Uint128{Hi: new(big.Int).Rsh(b, 64).Uint64(), Lo: low.Uint64()}
}

// reserveAmount draws a reservation amount for the payer: at its headroom, one below,
// one above (the limit's equal and one-over edges), or an edge amount.
func (p *reservationPaths) reserveAmount(payer int) model.Uint128 {
	room := headroom(p.record(p.payers[payer]))
	switch p.random.IntN(5) {
	case 0:
		return fromBig(room)
	case 1:
		return fromBig(room.Add(room, big.NewInt(1)))
	case 2:
		if room.Sign() > 0 {
			return fromBig(room.Sub(room, big.NewInt(1)))
		}
		return model.U128(1)
	default:
		return p.edgeAmount()
	}
}

func (p *reservationPaths) id() model.Uint128 {
	p.nextID++
	return model.Uint128{Hi: 1 << 63, Lo: 10_000 + p.nextID}
}

// reserveEvent and the others draw one system event of each kind; change says how it
// changes what a payer holds through an escrow, applied when it succeeds.
type heldChange struct {
	pair    [2]int
	amount  model.Uint128
	reserve bool
}

func (p *reservationPaths) reserveEvent() (model.Transfer, *heldChange) {
	payer, escrow := p.random.IntN(len(p.payers)), p.random.IntN(len(p.escrows))
	if p.random.IntN(3) != 0 { // Mostly a trader's account: a payer with the limit flag.
		payer = []int{0, 1, 6, 7}[p.random.IntN(4)]
	}
	amount := p.reserveAmount(payer)
	t := model.Transfer{DebitAccountID: p.payers[payer], CreditAccountID: p.escrows[escrow],
		Amount: amount, Ledger: 1, Flags: SystemReserve}
	return t, &heldChange{pair: [2]int{payer, escrow}, amount: amount, reserve: true}
}

// takeEvent releases or fills (from_reservation) part or all of what a pair holds, at most
// what is left after the earlier events of its batch (taken).
func (p *reservationPaths) takeEvent(taken map[[2]int]model.Uint128) (model.Transfer,
	*heldChange, bool) {
	var pairs [][2]int
	for pair, amount := range p.held {
		if amount.Less(taken[pair]) || amount == taken[pair] {
			continue
		}
		pairs = append(pairs, pair)
	}
	if len(pairs) == 0 {
		return model.Transfer{}, nil, false
	}
	// Map order is random: sort for a deterministic draw.
	for i := 1; i < len(pairs); i++ {
		for j := i; j > 0 && (pairs[j][0] < pairs[j-1][0] ||
			pairs[j][0] == pairs[j-1][0] && pairs[j][1] < pairs[j-1][1]); j-- {
			pairs[j], pairs[j-1] = pairs[j-1], pairs[j]
		}
	}
	pair := pairs[p.random.IntN(len(pairs))]
	left := p.held[pair].MustSub(taken[pair])
	amount := left
	switch p.random.IntN(4) {
	case 0:
		amount = model.U128(1)
	case 1:
		if left.Hi > 0 {
			amount = model.Uint128{Hi: left.Hi - 1, Lo: ^uint64(0)}
		}
	case 2:
		amount = model.Uint128{Lo: left.Lo}
		if amount.IsZero() {
			amount = left
		}
	}
	taken[pair] = taken[pair].MustAdd(amount)
	t := model.Transfer{DebitAccountID: p.payers[pair[0]], CreditAccountID: p.escrows[pair[1]],
		Amount: amount, Ledger: 1}
	if p.random.IntN(2) == 0 {
		t.Flags = SystemRelease
	} else {
		t.ID, t.Code, t.Flags = p.id(), 1, model.TransferFromReservation
	}
	return t, &heldChange{pair: pair, amount: amount}, true
}

// otherEvent draws a system transfer that moves balances around the reservations:
// funding a payer, a payer paying the sink, an escrow paying out (its debits, which an
// escrow with credits_must_not_exceed_debits needs), a pending transfer between a payer
// and an escrow, a post or void of one, or an event that fails (an unknown account).
func (p *reservationPaths) otherEvent() model.Transfer {
	payer := p.payers[p.random.IntN(len(p.payers))]
	escrow := p.escrows[p.random.IntN(len(p.escrows))]
	t := model.Transfer{ID: p.id(), Ledger: 1, Code: 1, Amount: p.edgeAmount()}
	switch choice := p.random.IntN(9); {
	case choice < 3:
		t.DebitAccountID, t.CreditAccountID = p.sources[p.random.IntN(len(p.sources))], payer
	case choice == 3:
		t.DebitAccountID, t.CreditAccountID = payer, p.sink
		t.Amount = p.reserveAmount(p.random.IntN(len(p.payers)))
	case choice == 4:
		t.DebitAccountID, t.CreditAccountID = escrow, p.sink
	case choice == 5:
		t.DebitAccountID, t.CreditAccountID = payer, escrow
		if p.random.IntN(2) == 0 {
			t.DebitAccountID, t.CreditAccountID = escrow, payer
		}
		t.Flags = model.TransferPending
		p.pending = append(p.pending, t.ID)
	case choice == 6 && len(p.pending) > 0:
		t.PendingID = p.pending[p.random.IntN(len(p.pending))]
		t.Flags = model.TransferPostPending
		if p.random.IntN(2) == 0 {
			t.Flags = model.TransferVoidPending
		}
		t.Amount = []model.Uint128{{}, model.U128(1), model.Uint128Max}[p.random.IntN(3)]
	case choice == 7:
		t.DebitAccountID, t.CreditAccountID = payer, model.Uint128{Lo: 999_999} // Unknown.
	default:
		t.DebitAccountID, t.CreditAccountID = payer, p.sink
		t.Amount = model.U128(1 + uint64(p.random.IntN(50)))
	}
	return t
}

// batch draws a system batch: a linked chain of reservations, takes and other events
// (failing now and then at any position), or unlinked events.
func (p *reservationPaths) batch() ([]model.Transfer, []*heldChange) {
	count := 1 + p.random.IntN(8)
	events := make([]model.Transfer, 0, count)
	changes := make([]*heldChange, 0, count)
	taken := map[[2]int]model.Uint128{}
	linked := p.random.IntN(3) != 0
	for range count {
		var t model.Transfer
		var change *heldChange
		switch choice := p.random.IntN(10); {
		case choice < 4:
			t, change = p.reserveEvent()
		case choice < 7:
			var ok bool
			if t, change, ok = p.takeEvent(taken); !ok {
				t, change = p.reserveEvent()
			}
		default:
			t = p.otherEvent()
		}
		if linked {
			t.Flags |= model.TransferLinked
		}
		events = append(events, t)
		changes = append(changes, change)
	}
	if linked && p.random.IntN(2) == 0 {
		events[len(events)-1].Flags &^= model.TransferLinked
	}
	return events, changes
}

// observe writes a step's outcome and the whole state into the trace: the statuses and
// balances of the results, every account record as stored (flags with the in-memory
// marker, the newest-transfer link), the reserved totals, the ledger totals, the change
// events and the digest; and checks the invariants (CheckReservations: the marker is set
// only when both pending balances are zero; it may be missing, as after a reservation of
// zero, which clears it: it only saves reads).
func (p *reservationPaths) observe(label string, results []model.TransferResult) {
	p.t.Helper()
	fmt.Fprintf(p.trace, "%s %+v\n", label, results)
	for i := uint32(0); i < p.ledger.accounts.count; i++ {
		fmt.Fprintf(p.trace, "%+v %s\n", *p.ledger.accounts.at(i), p.ledger.reserved.get(i))
	}
	totals, _ := p.ledger.LedgerTotals(&model.LedgerFilter{Limit: 10}, nil)
	fmt.Fprintf(p.trace, "%+v\n", totals)
	fmt.Fprintf(p.trace, "%+v %+v %+v\n", p.events.Events, p.events.Accounts,
		p.events.Transfers)
	p.events.Reset()
	digest := p.ledger.Digest()
	p.trace.Write(digest[:])
	if err := CheckInvariants(p.ledger.Accounts()); err != nil {
		p.t.Fatalf("%s: %v", label, err)
	}
	if err := p.ledger.CheckReservations(); err != nil {
		p.t.Fatalf("%s: %v", label, err)
	}
}

// applyChanges updates what each pair holds after a batch whose results are given.
func (p *reservationPaths) applyChanges(changes []*heldChange, results []model.TransferResult) {
	for i, change := range changes {
		if change == nil || results[i].Status != model.StatusOK {
			continue
		}
		if change.reserve {
			p.held[change.pair] = p.held[change.pair].MustAdd(change.amount)
		} else {
			p.held[change.pair] = p.held[change.pair].MustSub(change.amount)
		}
	}
}

// lone applies one reservation event through ChangeSystemReservationAt and checks its
// status against the reference (limitReference).
func (p *reservationPaths) lone(label string) {
	p.t.Helper()
	var t model.Transfer
	var change *heldChange
	if p.random.IntN(3) == 0 {
		var ok bool
		if t, change, ok = p.takeEvent(map[[2]int]model.Uint128{}); !ok ||
			t.Flags&SystemRelease == 0 {
			t, change = p.reserveEvent()
		}
	} else {
		t, change = p.reserveEvent()
	}
	want := model.StatusOK
	if change.reserve {
		want = p.reserveReference(&t)
		debit, credit := p.record(t.DebitAccountID), p.record(t.CreditAccountID)
		if smallAmounts(t.Amount, debit, credit) &&
			debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 &&
			credit.Flags&model.AccountCreditsMustNotExceedDebits == 0 {
			p.inPlace[want]++
		}
	}
	status := p.ledger.ChangeSystemReservationAt(p.timestamp, &t, &p.places[0], &p.places[1])
	p.timestamp++
	if status != want {
		p.t.Fatalf("%s: reservation %+v: %s, want %s", label, t, status, want)
	}
	p.statuses[status]++
	results := []model.TransferResult{{EventResult: model.EventResult{Status: status}}}
	p.applyChanges([]*heldChange{change}, results)
	p.observe(label, results)
}

// reserveReference is a reservation's status from first principles (issuing unchecked,
// no account closed): the overflow checks of a pending transfer, then each account's
// limit flag, in 129-bit arithmetic.
func (p *reservationPaths) reserveReference(t *model.Transfer) model.Status {
	debit, credit := p.record(t.DebitAccountID), p.record(t.CreditAccountID)
	debitAccount, creditAccount := exportAccount(debit), exportAccount(credit)
	if status := checkAmountReference(t.Amount, true, &debitAccount, &creditAccount); status != model.StatusOK {
		return status
	}
	amount := toBig(t.Amount)
	if debit.Flags&model.AccountDebitsMustNotExceedCredits != 0 {
		debits := new(big.Int).Add(toBig(debit.DebitsPending), toBig(debit.DebitsPosted))
		if debits.Add(debits, amount).Cmp(toBig(debit.CreditsPosted)) > 0 {
			return model.StatusExceedsCredits
		}
	}
	if credit.Flags&model.AccountCreditsMustNotExceedDebits != 0 {
		credits := new(big.Int).Add(toBig(credit.CreditsPending), toBig(credit.CreditsPosted))
		if credits.Add(credits, amount).Cmp(toBig(credit.DebitsPosted)) > 0 {
			return model.StatusExceedsDebits
		}
	}
	return model.StatusOK
}

// TestReservationPathsTracePinned drives a reservation-heavy ledger (payers of every
// limit-flag combination, escrows with and without limits, balances and amounts at the
// low word's carries and at smallAmounts' bound, reservations at the payer's headroom,
// one below and one above) through lone reservations (each checked against a reference
// made from first principles), system batches (CreateSystemTransfers and
// CreateSystemTransfersAt) and linked chains of reservations, releases, fills from a
// reservation and pending transfers that fail at any position, and checks after every
// step the invariants, the reservations (with the pending-zero marker), and that a failed chain leaves every account
// record, reserved total and the digest as they were. The whole trace (results, raw
// records, reserved totals, ledger totals, change events, digests) is pinned by its
// SHA-256 taken before book47: the reservation paths written out in place must give
// the same results, state and events bit for bit.
func TestReservationPathsTracePinned(t *testing.T) {
	trace := sha256.New()
	inPlace, chainsFailed := map[model.Status]int{}, 0
	statuses := map[model.Status]int{}
	for seed := range uint64(4) {
		p := newReservationPaths(t, 47+seed)
		p.trace = trace
		if seed == 3 {
			p.ledger.SetIssuingChecked(true)
		}
		for step := range 1000 {
			label := fmt.Sprintf("seed %d step %d", seed, step)
			if p.random.IntN(2) == 0 && seed != 3 {
				p.lone(label)
				continue
			}
			events, changes := p.batch()
			before := p.stateOf()
			results := make([]model.TransferResult, len(events))
			switch p.random.IntN(2) {
			case 0:
				p.ledger.CreateSystemTransfers(p.timestamp, events, results)
			default:
				places := make([]uint32, 2*len(events))
				for i := range places {
					places[i] = uint32(p.random.IntN(48))
				}
				p.ledger.CreateSystemTransfersAt(p.timestamp, events, places, results)
			}
			p.timestamp += uint64(len(events))
			failed := false
			for i := range results {
				p.statuses[results[i].Status]++
				if results[i].Status == model.StatusLinkedEventFailed {
					failed = true
				}
			}
			if failed && events[0].Flags&model.TransferLinked != 0 &&
				results[0].Status != model.StatusOK {
				// The first chain of the batch failed: if it is the whole batch, nothing
				// may have changed.
				whole := true
				for i := range events[:len(events)-1] {
					if events[i].Flags&model.TransferLinked == 0 {
						whole = false
					}
				}
				if whole {
					chainsFailed++
					if after := p.stateOf(); after != before {
						t.Fatalf("%s: a failed chain left a change:\n%s\n%s", label, before, after)
					}
				}
			}
			p.applyChanges(changes, results)
			p.observe(label, results)
		}
		for status, count := range p.inPlace {
			inPlace[status] += count
		}
		for status, count := range p.statuses {
			statuses[status] += count
		}
	}
	t.Logf("statuses %v; lone reservations decided in place %v; whole chains failed %d",
		statuses, inPlace, chainsFailed)
	for _, status := range []model.Status{model.StatusOK, model.StatusExceedsCredits,
		model.StatusExceedsDebits, model.StatusLinkedEventFailed,
		model.StatusOverflowsDebits} {
		if statuses[status] == 0 {
			t.Errorf("no event answered %s: the scenario misses a case", status)
		}
	}
	if inPlace[model.StatusOK] < 50 || inPlace[model.StatusExceedsCredits] < 50 ||
		chainsFailed < 100 {
		t.Errorf("in place %d, failed chains %d: too few to judge", inPlace, chainsFailed)
	}
	got := hex.EncodeToString(trace.Sum(nil))
	if got != reservationPathsTraceDigest {
		t.Fatalf("trace digest %s, pinned %s", got, reservationPathsTraceDigest)
	}
}

// stateOf renders every account record as stored and every reserved total, and the
// digest. The pending-zero marker is left out: a rollback sets it from the balances it
// restores, where a reservation of zero may have cleared it before the chain.
func (p *reservationPaths) stateOf() string {
	state := ""
	for i := uint32(0); i < p.ledger.accounts.count; i++ {
		record := *p.ledger.accounts.at(i)
		record.Flags &^= accountPendingZero
		state += fmt.Sprintf("%+v %s\n", record, p.ledger.reserved.get(i))
	}
	return state + fmt.Sprintf("%x", p.ledger.Digest())
}
