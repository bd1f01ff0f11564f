package reconcile

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// The merge walks both sides in reference order, one reference at a time, and decides
// that reference's payments and lines:
//
//  1. Our records are folded into payments (a pending transfer with its post or void).
//  2. Pairs that agree on everything stated (amount, direction, currency, status) are
//     matched first, so a duplicate line with a wrong amount is the duplicate, not the
//     original; lines stating a status before those that do not (a stated currency
//     narrows nothing: our payments are all on the account's ledger).
//  3. The rest are paired in order (statement line order, our time order) and each field
//     that differs is one difference: amount (amount or direction), currency, status.
//  4. What is left on one side: if the other side has nothing under the reference, the
//     first is missing on the other side and any more are duplicates; otherwise all are
//     duplicates of that side.
//
// A reference's entries are held in memory while it is decided, at most groupEntriesMax
// per side (a reference shared by more is refused: match by another field). Our payments
// without a reference (key 0) cannot be matched: each is missing_theirs, decided one
// payment at a time (so there may be any number).

// groupEntriesMax bounds the entries of one reference on one side.
const groupEntriesMax = 65_536

type merger struct {
	ctx          context.Context // Looked at every contextCheckEvery references.
	theirs, ours iterator
	sink         *sink
	summary      *Summary
	ledgers      *clearing.Ledgers
	account      clearing.LedgerInfo
	// Lookahead: the next entry of each side (valid while its flag is set).
	theirsNext, oursNext   entry
	theirsValid, oursValid bool
	theirsGroup            []entry
	oursGroup              []entry
	payments               []payment
	theirsPaired           []bool // Scratch of pair, reused across references.
	oursPaired             []bool
}

// resetFlags returns flags resized to count, all false, reusing its array.
func resetFlags(flags []bool, count int) []bool {
	flags = flags[:0]
	for range count {
		flags = append(flags, false)
	}
	return flags
}

func (m *merger) run() error {
	var err error
	if m.theirsValid, err = m.advance(m.theirs, &m.theirsNext); err != nil {
		return err
	}
	if m.oursValid, err = m.advance(m.ours, &m.oursNext); err != nil {
		return err
	}
	for references := 0; m.theirsValid || m.oursValid; references++ {
		if err := m.interrupted(references); err != nil {
			return err
		}
		key := m.nextKey()
		if m.theirsGroup, err = m.collect(m.theirs, &m.theirsNext, &m.theirsValid, key,
			m.theirsGroup[:0]); err != nil {
			return err
		}
		if key.IsZero() {
			if err := m.unreferenced(); err != nil {
				return err
			}
			continue
		}
		if m.oursGroup, err = m.collect(m.ours, &m.oursNext, &m.oursValid, key,
			m.oursGroup[:0]); err != nil {
			return err
		}
		m.decide(key)
	}
	return nil
}

// interrupted returns the context's cause once its step count comes to a look at the
// context (every contextCheckEvery steps) and the run's context has ended.
func (m *merger) interrupted(steps int) error {
	if steps%contextCheckEvery == 0 && m.ctx != nil && m.ctx.Err() != nil {
		return fmt.Errorf("reconcile: merge: %w", context.Cause(m.ctx))
	}
	return nil
}

// unreferenced decides our payments without a reference one payment (a transfer, or a
// pending one with its post or void: adjacent in the sort) at a time: each is missing on
// the statement, so none waits for another, and there may be any number of them. Held as
// one group they were bounded by groupEntriesMax, past which the whole run failed
// (TestHunt52bManyUnreferencedPaymentsAreReported).
func (m *merger) unreferenced() error {
	for payments := 1; m.oursValid && m.oursNext.key.IsZero(); payments++ {
		if err := m.interrupted(payments); err != nil {
			return err
		}
		origin := m.oursNext.origin
		m.oursGroup = m.oursGroup[:0]
		for m.oursValid && m.oursNext.key.IsZero() && m.oursNext.origin == origin {
			m.oursGroup = append(m.oursGroup, m.oursNext)
			var err error
			if m.oursValid, err = m.advance(m.ours, &m.oursNext); err != nil {
				return err
			}
		}
		m.decide(model.Uint128{})
	}
	return nil
}

func (m *merger) advance(side iterator, next *entry) (bool, error) {
	e, ok, err := side.next()
	if ok {
		*next = *e
	}
	return ok, err
}

// nextKey is the smaller of the two sides' next references.
func (m *merger) nextKey() model.Uint128 {
	switch {
	case !m.oursValid:
		return m.theirsNext.key
	case !m.theirsValid:
		return m.oursNext.key
	}
	return minKey(m.theirsNext.key, m.oursNext.key)
}

func minKey(a, b model.Uint128) model.Uint128 {
	if b.Less(a) {
		return b
	}
	return a
}

// collect appends one side's entries under key to group.
func (m *merger) collect(side iterator, next *entry, valid *bool, key model.Uint128,
	group []entry) ([]entry, error) {
	for *valid && next.key == key {
		if len(group) == groupEntriesMax {
			return nil, fmt.Errorf("reconcile: reference %s is on more than %d entries of one "+
				"side; match by another field", key, groupEntriesMax)
		}
		group = append(group, *next)
		var err error
		if *valid, err = m.advance(side, next); err != nil {
			return nil, err
		}
	}
	return group, nil
}

// decide reports one reference.
func (m *merger) decide(key model.Uint128) {
	m.payments = fold(m.oursGroup, m.payments[:0])
	kept := 0
	for i := range m.payments {
		if m.payments[i].orphan {
			m.summary.ResolutionsBeforeWindow++
			continue
		}
		m.payments[kept] = m.payments[i]
		kept++
	}
	ours := m.payments[:kept]
	// Folding leaves the payments in transfer id order (the sort's, which brings a
	// pending transfer and its post or void together); steps 2 and 3 take them in time
	// order, and ids need not follow time (TestHunt52bPairsOurPaymentsInTimeOrder).
	slices.SortFunc(ours, byTime)
	m.summary.OurPayments += len(ours)
	if key.IsZero() {
		for i := range ours {
			m.summary.Unreferenced++
			m.sink.add(Difference{Kind: KindMissingTheirs, TransferID: ours[i].origin.String(),
				Ours: m.describe(&ours[i].entry), Detail: "no reference on our transfer"})
		}
		return
	}
	m.pair(key, m.theirsGroup, ours)
}

// byTime orders payments by their transfer's timestamp (distinct on one account).
func byTime(a, b payment) int { return cmp.Compare(a.order, b.order) }

// pair matches a reference's lines with its payments (steps 2 to 4 above).
func (m *merger) pair(key model.Uint128, theirs []entry, ours []payment) {
	m.theirsPaired = resetFlags(m.theirsPaired, len(theirs))
	m.oursPaired = resetFlags(m.oursPaired, len(ours))
	theirsPaired, oursPaired := m.theirsPaired, m.oursPaired
	// Lines that state a status pair first: a line without one agrees with every payment
	// a line with one agrees with and more, so taken first it could take the one payment
	// a line stating a status agrees with and leave that line a difference
	// (TestHunt49LineWithoutStatusDoesNotTakeAnotherLinesPayment). Our payments are all
	// on the account's ledger, so a stated currency narrows nothing (a line stating the
	// account's agrees with all of them, one stating another with none): what a line
	// agrees with is set by its status alone, a line with one agreeing with the payments
	// of that status, one without with all of them, and this order pairs as many lines
	// as any would. Counting a currency as stated too put a line with a currency but no
	// status beside one with a status and no currency, in line order
	// (TestReviewHN49CurrencyOnlyLineDoesNotTakeAStatusLinesPayment).
	for _, statusStated := range [2]bool{true, false} {
		for i := range theirs {
			if theirsPaired[i] || (theirs[i].status != 0) != statusStated {
				continue
			}
			for j := range ours {
				if !oursPaired[j] && agree(&theirs[i], &ours[j].entry) {
					theirsPaired[i], oursPaired[j] = true, true
					m.summary.Matched++
					break
				}
			}
		}
	}
	j := 0
	for i := range theirs {
		if theirsPaired[i] {
			continue
		}
		for j < len(ours) && oursPaired[j] {
			j++
		}
		if j == len(ours) {
			break
		}
		theirsPaired[i], oursPaired[j] = true, true
		m.compare(key, &theirs[i], &ours[j].entry)
	}
	m.leftovers(key, theirs, ours, theirsPaired, oursPaired)
}

// agree reports whether a line and a payment agree on everything the line states.
func agree(theirs, ours *entry) bool {
	return theirs.amount == ours.amount && theirs.side == ours.side &&
		(theirs.ledger == 0 || theirs.ledger == ours.ledger) &&
		(theirs.status == 0 || theirs.status == ours.status)
}

// compare reports each field in which a paired line and payment differ.
func (m *merger) compare(key model.Uint128, theirs, ours *entry) {
	if agree(theirs, ours) {
		m.summary.Matched++ // Cannot happen after step 2, but would be no difference.
		return
	}
	m.summary.MatchedWithProblem++
	base := Difference{Reference: key.String(), Line: theirs.order,
		TransferID: ours.origin.String()}
	if theirs.amount != ours.amount || theirs.side != ours.side {
		d := base
		d.Kind, d.Ours, d.Theirs = KindAmount, m.signed(ours), m.signed(theirs)
		m.sink.add(d)
	}
	if theirs.ledger != 0 && theirs.ledger != ours.ledger {
		d := base
		d.Kind, d.Ours, d.Theirs = KindCurrency, m.ledgers.Name(ours.ledger),
			m.ledgers.Name(theirs.ledger)
		m.sink.add(d)
	}
	if theirs.status != 0 && theirs.status != ours.status {
		d := base
		d.Kind, d.Ours, d.Theirs = KindStatus, statusNames[ours.status],
			statusNames[theirs.status]
		m.sink.add(d)
	}
}

// leftovers reports what was not paired (step 4 above).
func (m *merger) leftovers(key model.Uint128, theirs []entry, ours []payment,
	theirsPaired, oursPaired []bool) {
	first := len(ours) == 0 // The first leftover line is missing on our side.
	for i := range theirs {
		if theirsPaired[i] {
			continue
		}
		d := Difference{Kind: KindDuplicateTheirs, Reference: key.String(),
			Line: theirs[i].order, Theirs: m.describe(&theirs[i])}
		if first {
			d.Kind, first = KindMissingOurs, false
		}
		m.sink.add(d)
	}
	first = len(theirs) == 0
	for j := range ours {
		if oursPaired[j] {
			continue
		}
		d := Difference{Kind: KindDuplicateOurs, Reference: key.String(),
			TransferID: ours[j].origin.String(), Ours: m.describe(&ours[j].entry)}
		if first {
			d.Kind, first = KindMissingTheirs, false
		}
		m.sink.add(d)
	}
}

// signed writes an entry's amount with its direction: credits positive, debits negative,
// in minor units.
func (m *merger) signed(e *entry) string {
	if e.side == sideDebit {
		return "-" + e.amount.String()
	}
	return e.amount.String()
}

// describe summarises an entry: signed amount, currency and status (what is stated).
func (m *merger) describe(e *entry) string {
	parts := []string{m.signed(e)}
	ledger := e.ledger
	if ledger == 0 {
		ledger = m.account.Ledger
	}
	parts = append(parts, m.ledgers.Name(ledger))
	if e.status != 0 {
		parts = append(parts, statusNames[e.status])
	}
	return strings.Join(parts, " ")
}
