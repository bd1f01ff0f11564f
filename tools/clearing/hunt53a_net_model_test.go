package clearing

import (
	"context"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/ledger"
	"sequent/core/model"
)

// TestHunt53aNetAgainstNaiveModel: Net's positions against a naive netting written from
// the definition (settle.go, README "Settlement netting"), on random books. A real
// in-memory ledger holds partner accounts 50 and 51 (ledger 1) and 60 (ledger 2),
// customers 1 and 3 (ledger 1) and 2 (ledger 2). Random entries at a growing log time (one to
// three transfers each): single-phase transfers between any two accounts of a ledger
// (partner to partner too), pending transfers with or without a timeout, posts (full,
// partial, of 0) and voids of earlier pending transfers, with amounts from 0 to
// 2^128-1, so that the ledger refuses overflows and two partner accounts of one ledger
// sum past 128 bits. The model keeps what the ledger accepted, in its own terms (the
// posted amount from the pending's, not the stored record), and computes per ledger the
// credits and debits posted in the window, the in-flight pending amounts (made in the
// window, not posted or voided by the cut-off, deadline after it), the net, the
// direction and the transfers counted; the report must agree for a random partner set
// and window.
func TestHunt53aNetAgainstNaiveModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		book := newNetModel()
		for range rapid.IntRange(1, 30).Draw(t, "entries") {
			book.log += rapid.SampledFrom([]uint64{1, 3, 1_000, 10_000_000_000,
				60_000_000_000}).Draw(t, "gap")
			book.ledger.Expire(book.log, nil)
			var batch []model.Transfer
			for range rapid.IntRange(1, 3).Draw(t, "batch") {
				batch = append(batch, book.drawTransfer(t))
			}
			book.apply(t, batch)
			book.log += uint64(len(batch) - 1) // Event i was applied at log + i.
		}
		partners := rapid.SliceOfNDistinct(rapid.SampledFrom([]uint64{50, 51, 60}), 1, 3,
			rapid.ID[uint64]).Draw(t, "partners")
		var query NettingQuery
		for _, partner := range partners {
			query.Partners = append(query.Partners, model.U128(partner))
		}
		// The window's ends are drawn among the book's edges too (timestamps, deadlines,
		// one either side), where an off-by-one shows.
		edges := book.edges()
		from := rapid.Uint64Range(0, book.log+1).Draw(t, "from")
		if rapid.Bool().Draw(t, "from at an edge?") {
			from = rapid.SampledFrom(edges).Draw(t, "from edge")
		}
		until := rapid.Uint64Range(max(from, 1), max(from, 1, book.log+2)).Draw(t, "until")
		if rapid.Bool().Draw(t, "until at an edge?") {
			until = max(from, 1, rapid.SampledFrom(edges).Draw(t, "until edge"))
		}
		query.Window = Window{From: from, Until: until}
		query.ListMax = rapid.IntRange(0, 5).Draw(t, "list")
		ledgers, err := NewLedgers([]LedgerInfo{{Ledger: 1, Name: "USD", Scale: 2},
			{Ledger: 2, Name: "EUR", Scale: 2}})
		if err != nil {
			t.Fatalf("ledgers: %v", err)
		}
		report, err := Net(context.Background(), MemoryReader{book.ledger}, ledgers, query)
		if err != nil {
			t.Fatalf("Net: %v", err)
		}
		want, counted := book.net(query)
		if report.TransfersCounted != counted {
			for _, a := range book.accepted {
				t.Logf("model: %s %s %d→%d ts %d", a.kind, a.transfer.ID, a.debit, a.credit,
					a.transfer.Timestamp)
			}
			for _, partner := range query.Partners {
				found, _ := book.ledger.GetAccountTransfers(&model.AccountFilter{
					AccountID: partner, Limit: 100,
					Flags: model.FilterDebits | model.FilterCredits}, nil)
				for _, f := range found {
					t.Logf("ledger: %s %s→%s ts %d flags %x", f.ID, f.DebitAccountID,
						f.CreditAccountID, f.Timestamp, f.Flags)
				}
			}
			t.Fatalf("%d transfers counted, the model counts %d", report.TransfersCounted,
				counted)
		}
		if len(report.Positions) != len(want) {
			t.Fatalf("%d positions, the model has %d: %+v", len(report.Positions), len(want),
				report.Positions)
		}
		for _, got := range report.Positions {
			w := want[got.Ledger]
			if w == nil {
				t.Fatalf("position on ledger %d, which the model has not", got.Ledger)
			}
			if got.CreditsPosted.Big().Cmp(w.creditsPosted) != 0 ||
				got.DebitsPosted.Big().Cmp(w.debitsPosted) != 0 ||
				got.InFlightCredits.Big().Cmp(w.inFlightCredits) != 0 ||
				got.InFlightDebits.Big().Cmp(w.inFlightDebits) != 0 {
				t.Fatalf("ledger %d: posted %s/%s in flight %s/%s, the model %s/%s %s/%s",
					got.Ledger, got.CreditsPosted, got.DebitsPosted, got.InFlightCredits,
					got.InFlightDebits, w.creditsPosted, w.debitsPosted, w.inFlightCredits,
					w.inFlightDebits)
			}
			net := new(big.Int).Sub(w.creditsPosted, w.debitsPosted)
			direction := DirectionFlat
			switch net.Sign() {
			case 1:
				direction = DirectionPayable
			case -1:
				direction = DirectionReceivable
			}
			if got.Net != net.String() || got.Direction != direction {
				t.Fatalf("ledger %d: net %s %s, the model %s %s", got.Ledger, got.Net,
					got.Direction, net, direction)
			}
			// Major units (both ledgers have scale 2) when |net| fits 128 bits, else none.
			wantMajor := ""
			if magnitude := new(big.Int).Abs(net); magnitude.BitLen() <= 128 {
				var units model.Uint128
				units.Lo, units.Hi = new(big.Int).And(magnitude, maxUint64).Uint64(),
					new(big.Int).Rsh(magnitude, 64).Uint64()
				wantMajor = FormatAmount(units, 2)
				if net.Sign() < 0 {
					wantMajor = "-" + wantMajor
				}
			}
			if got.NetMajor != wantMajor {
				t.Fatalf("ledger %d: net %s in major units %q, want %q", got.Ledger, got.Net,
					got.NetMajor, wantMajor)
			}
			if got.Transfers != w.transfers {
				t.Fatalf("ledger %d: %d transfers, the model %d", got.Ledger, got.Transfers,
					w.transfers)
			}
		}
	})
}

// maxUint64 masks the low 64 bits of a big.Int.
var maxUint64 = new(big.Int).SetUint64(^uint64(0))

// netModel is the ledger under test and what it accepted, in the model's terms.
type netModel struct {
	ledger   *ledger.Ledger
	log      uint64
	nextID   uint64
	accepted []modelTransfer
	pendings []int // Indexes in accepted of pending transfers.
}

// modelTransfer is an accepted transfer: its accounts, its timestamp and, for a post,
// the amount the model says it posted.
type modelTransfer struct {
	transfer   model.Transfer // As sent; Timestamp set to when it was applied.
	kind       string         // single, pending, post, void.
	moved      *big.Int       // Single: the amount; post: the amount posted; pending: reserved.
	debit      uint64
	credit     uint64
	ledger     uint32
	resolvedBy int // Pending: index in accepted of its post or void, -1 none.
}

func newNetModel() *netModel {
	m := &netModel{ledger: ledger.New(ledger.Config{HashSeed: 1}), log: 1_000 * second,
		nextID: 1000}
	accounts := []model.Account{{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 2, Code: 1}, {ID: model.U128(3), Ledger: 1, Code: 1},
		{ID: model.U128(50), Ledger: 1, Code: 2},
		{ID: model.U128(51), Ledger: 1, Code: 2}, {ID: model.U128(60), Ledger: 2, Code: 2}}
	results := make([]model.EventResult, len(accounts))
	m.ledger.CreateAccounts(1, accounts, results)
	for i, result := range results {
		if result.Status != model.StatusOK {
			panic("account " + accounts[i].ID.String() + ": " + result.Status.String())
		}
	}
	return m
}

// amounts are drawn among small values and the edges of 128 bits.
func drawAmount(t *rapid.T, label string) model.Uint128 {
	switch rapid.IntRange(0, 4).Draw(t, label+" kind") {
	case 0:
		return model.Uint128Max.MustSub(model.U128(uint64(rapid.IntRange(0, 2).Draw(t, label))))
	case 1:
		return model.Uint128{Hi: 1 << 63}
	}
	return model.U128(uint64(rapid.IntRange(0, 1_000).Draw(t, label)))
}

func (m *netModel) drawTransfer(t *rapid.T) model.Transfer {
	m.nextID++
	id := model.U128(m.nextID)
	if len(m.pendings) > 0 && rapid.IntRange(0, 3).Draw(t, "resolve?") == 0 {
		p := m.accepted[m.pendings[rapid.IntRange(0, len(m.pendings)-1).Draw(t, "pending")]]
		resolution := model.Transfer{ID: id, PendingID: p.transfer.ID,
			Flags: model.TransferPostPending}
		switch rapid.IntRange(0, 3).Draw(t, "resolution") {
		case 0:
			resolution.Flags = model.TransferVoidPending
		case 1:
			resolution.Amount = model.Uint128Max // The whole pending amount.
		default:
			resolution.Amount = drawAmount(t, "posted")
		}
		return resolution
	}
	ledgerNumber := uint32(rapid.IntRange(1, 2).Draw(t, "ledger"))
	accounts := []uint64{1, 3, 50, 51}
	if ledgerNumber == 2 {
		accounts = []uint64{2, 60}
	}
	debit := rapid.SampledFrom(accounts).Draw(t, "debit")
	credit := rapid.SampledFrom(accounts).Draw(t, "credit")
	if ledgerNumber == 1 && rapid.IntRange(0, 3).Draw(t, "funnel?") == 0 {
		// Each customer into its own partner account: the two partners' sum can pass
		// 128 bits, which random pairs rarely reach.
		debit = rapid.SampledFrom([]uint64{1, 3}).Draw(t, "customer")
		credit = 50 + debit/2
	}
	transfer := model.Transfer{ID: id, DebitAccountID: model.U128(debit),
		CreditAccountID: model.U128(credit), Amount: drawAmount(t, "amount"),
		Ledger: ledgerNumber, Code: 1}
	if rapid.IntRange(0, 2).Draw(t, "pending?") == 0 {
		transfer.Flags = model.TransferPending
		transfer.Timeout = uint32(rapid.SampledFrom([]int{0, 1, 10, 100}).Draw(t, "timeout"))
	}
	return transfer
}

// apply sends one entry to the ledger and keeps what it accepted.
func (m *netModel) apply(t *rapid.T, batch []model.Transfer) {
	results := make([]model.TransferResult, len(batch))
	m.ledger.CreateTransfers(m.log, batch, results)
	for i, result := range results {
		if result.Status != model.StatusOK {
			continue
		}
		sent := batch[i]
		sent.Timestamp = m.log + uint64(i)
		accepted := modelTransfer{transfer: sent, kind: "single", resolvedBy: -1,
			moved: sent.Amount.Big()}
		switch {
		case sent.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0:
			index := slices.IndexFunc(m.pendings, func(k int) bool {
				return m.accepted[k].transfer.ID == sent.PendingID
			})
			if index < 0 {
				t.Fatalf("the ledger resolved %s, which the model does not hold pending",
					sent.PendingID)
			}
			p := &m.accepted[m.pendings[index]]
			m.pendings = slices.Delete(m.pendings, index, index+1)
			p.resolvedBy = len(m.accepted)
			accepted.debit, accepted.credit, accepted.ledger = p.debit, p.credit, p.ledger
			accepted.kind = "void"
			if sent.Flags&model.TransferPostPending != 0 {
				accepted.kind = "post"
				if sent.Amount.IsMax() {
					accepted.moved = p.moved
				}
			}
		default:
			accepted.debit, accepted.credit = sent.DebitAccountID.Lo, sent.CreditAccountID.Lo
			accepted.ledger = sent.Ledger
			if sent.Flags&model.TransferPending != 0 {
				accepted.kind = "pending"
				m.pendings = append(m.pendings, len(m.accepted))
			}
		}
		m.accepted = append(m.accepted, accepted)
	}
	// A pending transfer the ledger expired cannot be resolved any more.
	m.pendings = slices.DeleteFunc(m.pendings, func(k int) bool {
		p := m.accepted[k].transfer
		return p.Timeout != 0 && p.Timestamp+uint64(p.Timeout)*second <= m.log+uint64(len(batch))
	})
}

// modelPosition is one ledger's position as the model computes it.
type modelPosition struct {
	creditsPosted, debitsPosted, inFlightCredits, inFlightDebits *big.Int
	transfers                                                    int
}

// net computes the positions of a query from the accepted transfers, and the number of
// (transfer, partner account) pairs in the window.
func (m *netModel) net(query NettingQuery) (map[uint32]*modelPosition, int) {
	positions := map[uint32]*modelPosition{}
	counted := 0
	for _, partner := range query.Partners {
		for _, a := range m.accepted {
			side := 0 // 1: the partner's account is credited; -1 debited.
			switch partner.Lo {
			case a.credit:
				side = 1
			case a.debit:
				side = -1
			}
			if side == 0 || !query.Window.Contains(a.transfer.Timestamp) {
				continue
			}
			counted++
			p := positions[a.ledger]
			if p == nil {
				p = &modelPosition{creditsPosted: new(big.Int), debitsPosted: new(big.Int),
					inFlightCredits: new(big.Int), inFlightDebits: new(big.Int)}
				positions[a.ledger] = p
			}
			p.transfers++
			posted, inFlight := p.creditsPosted, p.inFlightCredits
			if side < 0 {
				posted, inFlight = p.debitsPosted, p.inFlightDebits
			}
			switch a.kind {
			case "single", "post":
				posted.Add(posted, a.moved)
			case "pending":
				if a.resolvedBy >= 0 &&
					m.accepted[a.resolvedBy].transfer.Timestamp <= query.Window.Until {
					continue // Posted or voided by the cut-off: its post counts.
				}
				timeout := uint64(a.transfer.Timeout) * second
				if timeout != 0 && a.transfer.Timestamp+timeout <= query.Window.Until {
					continue // Expired by the cut-off.
				}
				inFlight.Add(inFlight, a.moved)
			}
		}
	}
	return positions, counted
}

// edges are the times where a window's end changes what it holds: every accepted
// transfer's timestamp and every pending deadline, and one either side.
func (m *netModel) edges() []uint64 {
	edges := []uint64{0, 1}
	for _, a := range m.accepted {
		times := []uint64{a.transfer.Timestamp}
		if a.transfer.Timeout != 0 {
			times = append(times, a.transfer.Timestamp+uint64(a.transfer.Timeout)*second)
		}
		for _, at := range times {
			edges = append(edges, at-1, at, at+1)
		}
	}
	return edges
}
