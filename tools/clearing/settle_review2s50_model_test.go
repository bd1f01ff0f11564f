package clearing

import (
	"context"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/ledger"
	"sequent/core/model"
)

// TestReview2S50NeverPaidTwiceAgainstModel: the invariant of `sequent settle --book`,
// model-based. A real in-memory ledger holds partner accounts 50 and 51 (ledger 1) and 60
// (ledger 2), customers 1 and 2, the operator's accounts 90 and 91. Random steps, at a
// strictly increasing log time: customers pay the partners (credits only, so what we owe
// each partner account is its posted balance, never negative when nobody is paid twice);
// the partner confirms (fully or partly) or disputes a booked settlement; the log idles;
// and booking runs exactly as the command does them (Net, SettlementsBookedAfter with the
// command's clock, PlanSettlements, the voids first, Voided, planning again, booking),
// with any partner set, --from (0, a past cut-off + 1, any log time), --until (a past log
// time, the command's now on a clock ahead of or behind the log, a far-future end, an
// earlier run's cut-off again), any --settlement-id (fresh, or on an earlier run's ids) and
// timeout.
//
// Checked after every step, per partner account: its posted balance minus every payable
// settlement the partner could still confirm (active on the ledger, its deadline after
// the next log time) is never negative (for 51, mirrored): otherwise the partner can be
// paid twice for the same movements. Passes (checked fine with -rapid.checks=20000); it
// fails within seconds with either of session 50's review fixes undone (a settlement in
// the window judged expired at the cut-off; expiry after the cut-off judged by the
// command's clock): checked.
func TestReview2S50NeverPaidTwiceAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := newSettleModel(t)
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			switch rapid.IntRange(0, 10).Draw(t, "step") {
			case 0, 1, 2:
				h.movement(t)
			case 10:
				h.resolveMovement(t)
			case 3, 4:
				h.partner(t)
			case 5:
				h.log += uint64(rapid.IntRange(1, 200).Draw(t, "idle")) * second
				h.ledger.Expire(h.log, nil)
				h.ledger2.Expire(h.log2(), nil)
			default:
				h.run(t)
			}
			h.check(t)
		}
	})
}

type settleModel struct {
	ledger      *ledger.Ledger   // Shard 0: ledger 1's accounts.
	ledger2     *ledger.Ledger   // Shard 1: ledger 2's accounts, its log time log + skew.
	log         uint64           // Shard 0's log time of the last entry.
	skew        uint64           // Shard 1's clock − shard 0's (two's complement).
	nextID      uint64           // Next transfer id of a movement or partner action.
	nextFirstID uint64           // Next --settlement-id (runs leave room for their voids).
	cutoffs     []uint64         // Cut-offs of earlier runs.
	pendings    []model.Transfer // Pending movements.
	settlements []*modelSettlement
	trace       []string
}

// modelSettlement is a settlement the ledger took, and what became of it.
type modelSettlement struct {
	transfer model.Transfer // As stored (with its timestamp).
	posted   bool
	voided   bool
}

func newSettleModel(t *rapid.T) *settleModel {
	return newSettleShards(uint64(rapid.IntRange(-300, 300).Draw(t, "shard 1's clock")) *
		second)
}

// newSettleShards returns the model's two shards, shard 1's clock skew ahead of shard 0's.
func newSettleShards(skew uint64) *settleModel {
	h := &settleModel{ledger: ledger.New(ledger.Config{HashSeed: 5}),
		ledger2: ledger.New(ledger.Config{HashSeed: 6}), log: 1_000 * second,
		nextID: 1, nextFirstID: 1_000_000, skew: skew}
	accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 2, Code: 1},
		{ID: model.U128(50), Ledger: 1, Code: 2}, {ID: model.U128(51), Ledger: 1, Code: 2},
		{ID: model.U128(60), Ledger: 2, Code: 2},
		{ID: model.U128(90), Ledger: 1, Code: 3}, {ID: model.U128(91), Ledger: 2, Code: 3}}
	for _, account := range accounts {
		shard, at := h.shard(account.Ledger)
		shard.CreateAccounts(at, []model.Account{account}, make([]model.EventResult, 1))
	}
	return h
}

func (h *settleModel) log2() uint64 { return h.log + h.skew }

// shard returns the shard of a ledger's accounts and its log time.
func (h *settleModel) shard(ledgerNumber uint32) (*ledger.Ledger, uint64) {
	if ledgerNumber == 2 {
		return h.ledger2, h.log2()
	}
	return h.ledger, h.log
}

// accountShard returns the shard holding an account (ledger 2: 20s and 60s, 91).
func (h *settleModel) accountShard(id model.Uint128) (*ledger.Ledger, uint64) {
	if id == model.U128(2) || id == model.U128(60) || id == model.U128(91) {
		return h.shard(2)
	}
	return h.shard(1)
}

// GetAccountTransfers, LookupAccounts, LookupTransfers and LedgerTotals make the model
// a Reader of its two shards, each read routed to the account's shard as the node does.
func (h *settleModel) GetAccountTransfers(ctx context.Context, filter model.AccountFilter) (
	[]model.Transfer, error) {
	shard, _ := h.accountShard(filter.AccountID)
	return MemoryReader{shard}.GetAccountTransfers(ctx, filter)
}

func (h *settleModel) LookupAccounts(_ context.Context, ids []model.Uint128) (
	[]model.Account, error) {
	return append(h.ledger.LookupAccounts(ids, nil), h.ledger2.LookupAccounts(ids, nil)...),
		nil
}

func (h *settleModel) LookupTransfers(_ context.Context, ids []model.Uint128) (
	[]model.Transfer, error) {
	return append(h.ledger.LookupTransfers(ids, nil), h.ledger2.LookupTransfers(ids, nil)...),
		nil
}

func (h *settleModel) LedgerTotals(context.Context, model.LedgerFilter) (
	[]model.LedgerTotals, error) {
	return nil, nil
}

// apply applies one transfer at the next log time of its ledger's shard (a post or void
// names its pending transfer's ledger: ids are unique per shard only) and returns the
// ledger's answer.
func (h *settleModel) apply(transfer model.Transfer) model.Status {
	h.log += second
	h.ledger.Expire(h.log, nil)
	h.ledger2.Expire(h.log2(), nil)
	shard, at := h.shard(transfer.Ledger)
	results := make([]model.TransferResult, 1)
	shard.CreateTransfers(at, []model.Transfer{transfer}, results)
	return results[0].Status
}

func (h *settleModel) id() uint64 {
	h.nextID++
	return h.nextID
}

func (h *settleModel) movement(t *rapid.T) {
	partner := rapid.SampledFrom([]uint64{50, 51, 60}).Draw(t, "paid")
	customer, ledgerNumber := uint64(1), uint32(1)
	if partner == 60 {
		customer, ledgerNumber = 2, 2
	}
	amount := uint64(rapid.IntRange(1, 100).Draw(t, "amount"))
	transfer := move(h.id(), customer, partner, amount, ledgerNumber)
	if partner == 51 { // 51 is only debited: it owes us.
		transfer.DebitAccountID, transfer.CreditAccountID = model.U128(51), model.U128(1)
	}
	kind := "move"
	if rapid.Bool().Draw(t, "pending") { // Posted (or voided) later, or expiring.
		transfer.Flags = model.TransferPending
		transfer.Timeout = rapid.SampledFrom([]uint32{0, 30, 300}).Draw(t, "its timeout")
		h.pendings = append(h.pendings, transfer)
		kind = fmt.Sprintf("pending %s (timeout %d)", transfer.ID, transfer.Timeout)
	}
	status := h.apply(transfer)
	h.trace = append(h.trace, fmt.Sprintf("@%d %s %d to %d: %s", h.log/second, kind,
		amount, partner, status))
}

// resolveMovement posts or voids a pending movement (the ledger refuses once expired).
func (h *settleModel) resolveMovement(t *rapid.T) {
	if len(h.pendings) == 0 {
		return
	}
	pending := rapid.SampledFrom(h.pendings).Draw(t, "movement")
	pendingID, void := pending.ID.Lo, rapid.Bool().Draw(t, "void it")
	resolution := resolve(h.id(), pendingID, postAll, void)
	resolution.Ledger = pending.Ledger
	status := h.apply(resolution)
	h.trace = append(h.trace, fmt.Sprintf("@%d %s %d: %s", h.log/second,
		map[bool]string{false: "post", true: "void"}[void], pendingID, status))
}

// partner confirms (fully or partly) or voids a settlement the ledger took.
func (h *settleModel) partner(t *rapid.T) {
	if len(h.settlements) == 0 {
		return
	}
	s := rapid.SampledFrom(h.settlements).Draw(t, "settlement")
	action := rapid.IntRange(0, 2).Draw(t, "action")
	amount := postAll
	if action == 1 && s.transfer.Amount.Lo > 1 {
		amount = s.transfer.Amount.Lo - 1
	}
	resolution := resolve(h.id(), s.transfer.ID.Lo, amount, action == 2)
	resolution.Ledger = s.transfer.Ledger
	status := h.apply(resolution)
	if status == model.StatusOK {
		s.posted, s.voided = action != 2, action == 2
	}
	h.trace = append(h.trace, fmt.Sprintf("@%d partner %s settlement %s (ledger %d): %s",
		h.log/second, []string{"confirms", "confirms part of", "voids"}[action],
		s.transfer.ID, s.transfer.Ledger, status))
}

// run books a settlement as `sequent settle --book` does.
func (h *settleModel) run(t *rapid.T) {
	partners := rapid.SampledFrom([][]model.Uint128{{model.U128(50)}, {model.U128(60)},
		{model.U128(51)}, {model.U128(50), model.U128(60)},
		{model.U128(51), model.U128(60)}}).Draw(t, "partners")
	now := h.log + uint64(rapid.IntRange(0, 400).Draw(t, "clock"))*second - 200*second
	var until uint64
	switch rapid.IntRange(0, 3).Draw(t, "until") {
	case 0:
		until = uint64(rapid.Uint64Range(1_000, h.log/second).Draw(t, "past")) * second
	case 1:
		until = now
	case 2:
		until = h.log + 10_000*second
	default:
		if len(h.cutoffs) == 0 {
			return
		}
		until = rapid.SampledFrom(h.cutoffs).Draw(t, "again")
	}
	var from uint64
	switch rapid.IntRange(0, 2).Draw(t, "from") {
	case 1:
		if len(h.cutoffs) != 0 {
			from = rapid.SampledFrom(h.cutoffs).Draw(t, "after") + 1
		}
	case 2:
		from = uint64(rapid.Uint64Range(1_000, h.log/second).Draw(t, "start")) * second
	}
	if from > until {
		return
	}
	timeout := rapid.SampledFrom([]uint32{0, 5, 60, 600}).Draw(t, "timeout")
	h.cutoffs = append(h.cutoffs, until)
	h.trace = append(h.trace, fmt.Sprintf("@%d run %v [%d, %d] clock %d timeout %d",
		h.log/second, partners, from/second, until/second, int64(now-h.log)/int64(second),
		timeout))
	h.book(t, partners, Window{From: from, Until: until}, now, timeout)
}

func (h *settleModel) book(t *rapid.T, partners []model.Uint128, window Window,
	now uint64, timeout uint32) {
	ctx, reader := context.Background(), h
	ledgers, _ := NewLedgers(nil)
	report, err := Net(ctx, reader, ledgers, NettingQuery{Partners: partners, Window: window})
	if err != nil {
		t.Fatalf("net: %v", err)
	}
	booking := Booking{Via: map[uint32]model.Uint128{1: model.U128(90), 2: model.U128(91)},
		FirstID: model.U128(h.nextFirstID), Code: 7, Timeout: timeout}
	if h.nextFirstID > 1_000_000 && rapid.IntRange(0, 3).Draw(t, "reuse") == 0 {
		// An earlier run's --settlement-id, or one next to it (on its voids' ids).
		earlier := (h.nextFirstID - 1_000_000) / 100
		booking.FirstID = model.U128(1_000_000 + 100*uint64(rapid.IntRange(0,
			int(earlier)-1).Draw(t, "earlier run")) + uint64(rapid.IntRange(0, 3).Draw(t,
			"offset")))
	} else {
		h.nextFirstID += 100
	}
	if booking.BookedAfter, err = SettlementsBookedAfter(ctx, reader, partners,
		report.Until, now); err != nil {
		t.Fatalf("booked after: %v", err)
	}
	plan, err := report.PlanSettlements(booking)
	if err != nil {
		h.trace = append(h.trace, fmt.Sprintf("  refused: %v", err))
		return
	}
	if len(plan.Voids) != 0 {
		if rapid.IntRange(0, 3).Draw(t, "race") == 0 { // The partner acts meanwhile.
			h.partner(t)
		}
		for _, void := range plan.Voids {
			status := h.apply(void)
			h.trace = append(h.trace, fmt.Sprintf("  @%d void %s of %s: %s", h.log/second,
				void.ID, void.PendingID, status))
			if status == model.StatusOK {
				h.settlement(void.Ledger, void.PendingID).voided = true
			}
			booking.Voided(void, status)
		}
		if plan, err = report.PlanSettlements(booking); err != nil {
			h.trace = append(h.trace, fmt.Sprintf("  refused after the voids: %v", err))
			return
		}
	}
	for _, transfer := range plan.Transfers {
		status := h.apply(transfer)
		h.trace = append(h.trace, fmt.Sprintf("  @%d book %s on ledger %d of %s: %s",
			h.log/second, transfer.ID, transfer.Ledger, transfer.Amount, status))
		if status == model.StatusOK {
			shard, _ := h.shard(transfer.Ledger)
			stored := shard.LookupTransfers([]model.Uint128{transfer.ID}, nil)
			h.settlements = append(h.settlements, &modelSettlement{transfer: stored[0]})
		}
	}
}

func (h *settleModel) settlement(ledger uint32, id model.Uint128) *modelSettlement {
	for _, s := range h.settlements {
		if s.transfer.ID == id && s.transfer.Ledger == ledger {
			return s
		}
	}
	return &modelSettlement{}
}

// check: no partner account can be paid more than it is owed (50 and 60), nor pay more
// than it owes (51, only debited: its settlements credit it).
func (h *settleModel) check(t *rapid.T) {
	for _, partner := range []uint64{50, 51, 60} {
		shard, at := h.accountShard(model.U128(partner))
		account := shard.LookupAccounts([]model.Uint128{model.U128(partner)}, nil)[0]
		owed := int64(account.CreditsPosted.Lo) - int64(account.DebitsPosted.Lo)
		settled := func(p *model.Transfer) bool { return p.DebitAccountID == model.U128(partner) }
		if partner == 51 {
			owed = -owed
			settled = func(p *model.Transfer) bool {
				return p.CreditAccountID == model.U128(partner)
			}
		}
		confirmable := int64(0)
		var ids []string
		for _, s := range h.settlements {
			p := &s.transfer
			deadline := p.Timestamp + uint64(p.Timeout)*second
			if s.posted || s.voided || !settled(p) ||
				(p.Timeout != 0 && deadline <= at+1) {
				continue
			}
			confirmable += int64(p.Amount.Lo)
			ids = append(ids, p.ID.String())
		}
		if owed < 0 || owed-confirmable < 0 {
			t.Fatalf("partner %d is owed %d but may still confirm %d more (settlements %v) "+
				"at log time %d: paid twice\n%s", partner, owed, confirmable, ids,
				h.log/second, joinLines(h.trace))
		}
	}
}

func joinLines(lines []string) string {
	out := ""
	for _, line := range lines {
		out += line + "\n"
	}
	return out
}
