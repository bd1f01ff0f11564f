package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/client"
	"sequent/netio/ops"
	"sequent/tools/clearing"
)

// Accounts of the settlement tests, by ledger: ids below 1000 are on shard 0, from 1000
// on shard 1 (range placement). Partners are 50 and 1050 on ledger 1, 60 and 1060 on
// ledger 2; customers 10, 1010, 20, 1020; the operator's settlement accounts 90 and 1090
// (ledger 1), 91 (ledger 2). Ledger 3 holds 70 (a partner on shard 0) and 1070 (shard 1)
// for the in-flight check alone.
var settleAccounts = map[uint32][]uint64{1: {10, 1010, 50, 1050, 90, 1090}, 2: {20, 1020,
	60, 1060, 91}, 3: {70, 1070}}

var settlePartners = []uint64{50, 1050, 60, 1060}

// settleNode starts a node of shards (1 or 2, range placement at 1000) with the settlement
// tests' accounts, and returns it, a client connected to it and the connection flags.
func settleNode(t *testing.T, shards int) (*runningNode, *client.Client, []string) {
	t.Helper()
	var placement shardmap.Spec
	if shards > 1 {
		placement = shardmap.Spec{Shards: shards, Placement: "range", Ranges: "0,1000"}
	}
	running, keys, dev := startDevNode(t, placement)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialDev(t, ctx, running.server.Address(), dev)
	var accounts []model.Account
	for ledger, ids := range settleAccounts {
		for _, id := range ids {
			accounts = append(accounts, model.Account{ID: model.U128(id), Ledger: ledger,
				Code: 1})
		}
	}
	results, err := c.CreateAccounts(ctx, accounts)
	if err != nil {
		t.Fatal(err)
	}
	for _, result := range results {
		if result.Status != model.StatusOK {
			t.Fatalf("create accounts: %+v", result)
		}
	}
	return running, c, []string{"--addr", running.server.Address(), "--keys", keys}
}

// settleModel is the naive model of netting: per ledger, the signed sum of what the
// partners' accounts were credited minus debited by posted transfers, and what is still
// pending on them.
type settleModel struct {
	net             map[uint32]*big.Int
	inFlightCredits map[uint32]*big.Int
	inFlightDebits  map[uint32]*big.Int
	crossToPartners int // Cross-shard transfers accepted that touch a partner's account.
}

func newSettleModel() *settleModel {
	return &settleModel{net: map[uint32]*big.Int{}, inFlightCredits: map[uint32]*big.Int{},
		inFlightDebits: map[uint32]*big.Int{}}
}

func isPartner(id model.Uint128) bool {
	for _, p := range settlePartners {
		if id == model.U128(p) {
			return true
		}
	}
	return false
}

func addTo(sums map[uint32]*big.Int, ledger uint32, amount int64) {
	if sums[ledger] == nil {
		sums[ledger] = new(big.Int)
	}
	sums[ledger].Add(sums[ledger], big.NewInt(amount))
}

// posted books amount moved from debit to credit on ledger.
func (m *settleModel) posted(t model.Transfer, amount int64) {
	if isPartner(t.CreditAccountID) {
		addTo(m.net, t.Ledger, amount)
	}
	if isPartner(t.DebitAccountID) {
		addTo(m.net, t.Ledger, -amount)
	}
}

// settleScript sends the same seeded transfers to c (ids from 1): single-phase transfers
// between any two accounts of a ledger (so on two shards many cross shards, partner to
// partner included), and two-phase ones between accounts of one shard, later posted
// (in part or whole) or voided, or left pending. It returns the model of what the ledger
// accepted.
func settleScript(t *testing.T, c *client.Client) *settleModel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	random := rand.New(rand.NewPCG(40, 7))
	m := newSettleModel()
	send := func(transfer model.Transfer) model.Status {
		results, err := c.CreateTransfers(ctx, []model.Transfer{transfer})
		if err != nil {
			t.Fatal(err)
		}
		return results[0].Status
	}
	id := uint64(1)
	var pendings []model.Transfer
	for range 120 {
		ledger := uint32(1 + random.IntN(2))
		ids := settleAccounts[ledger]
		debit := ids[random.IntN(len(ids))]
		credit := ids[random.IntN(len(ids))]
		if debit == credit {
			continue
		}
		transfer := model.Transfer{ID: model.U128(id), DebitAccountID: model.U128(debit),
			CreditAccountID: model.U128(credit), Amount: model.U128(uint64(1 +
				random.IntN(1000))), Ledger: ledger, Code: 1}
		id++
		sameShard := (debit < 1000) == (credit < 1000)
		if sameShard && random.IntN(3) == 0 {
			transfer.Flags = model.TransferPending
		}
		if status := send(transfer); status != model.StatusOK {
			t.Fatalf("transfer %+v: %s", transfer, status)
		}
		if transfer.Flags&model.TransferPending != 0 {
			pendings = append(pendings, transfer)
			continue
		}
		m.posted(transfer, int64(transfer.Amount.Lo))
		if !sameShard && (isPartner(transfer.DebitAccountID) ||
			isPartner(transfer.CreditAccountID)) {
			m.crossToPartners++
		}
	}
	for i, pending := range pendings {
		resolve := model.Transfer{ID: model.U128(id), PendingID: pending.ID,
			DebitAccountID: pending.DebitAccountID, CreditAccountID: pending.CreditAccountID,
			Ledger: pending.Ledger, Code: 1}
		id++
		switch i % 3 {
		case 0: // Posted in part.
			resolve.Flags, resolve.Amount = model.TransferPostPending,
				model.U128(pending.Amount.Lo/2+1)
			m.posted(pending, int64(resolve.Amount.Lo))
		case 1:
			resolve.Flags = model.TransferVoidPending
		default: // Left pending: in flight at the cut-off.
			if isPartner(pending.CreditAccountID) {
				addTo(m.inFlightCredits, pending.Ledger, int64(pending.Amount.Lo))
			}
			if isPartner(pending.DebitAccountID) {
				addTo(m.inFlightDebits, pending.Ledger, int64(pending.Amount.Lo))
			}
			continue
		}
		if status := send(resolve); status != model.StatusOK {
			t.Fatalf("resolve %+v: %s", resolve, status)
		}
	}
	return m
}

// settlementOf asks the node's settlement endpoint (its source, as the operators' HTTP
// server calls it) for the partners' position until the cut-off.
func settlementOf(t *testing.T, running *runningNode, partners []uint64, from,
	until string) (*clearing.NettingReport, error) {
	t.Helper()
	sources := &ops.Sources{}
	ledgers, _ := clearing.NewLedgers(nil)
	running.clearingSources(sources, ledgers)
	query := ops.SettlementQuery{From: from, Until: until, Transfers: 1000}
	for _, p := range partners {
		query.Partners = append(query.Partners, fmt.Sprint(p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	report, err := sources.Settlement(ctx, query)
	if err != nil {
		return nil, err
	}
	return report.(*clearing.NettingReport), nil
}

// positionFigures renders a report's positions as "ledger: net credits-in-flight
// debits-in-flight" lines, the figures a naive model can give too.
func positionFigures(report *clearing.NettingReport) string {
	var lines []string
	for _, p := range report.Positions {
		lines = append(lines, fmt.Sprintf("%d: net %s in flight +%s -%s", p.Ledger, p.Net,
			p.InFlightCredits, p.InFlightDebits))
	}
	return strings.Join(lines, "\n")
}

func (m *settleModel) figures() string {
	var lines []string
	for ledger := uint32(1); ledger <= 2; ledger++ {
		value := func(sums map[uint32]*big.Int) *big.Int {
			if sums[ledger] == nil {
				return new(big.Int)
			}
			return sums[ledger]
		}
		lines = append(lines, fmt.Sprintf("%d: net %s in flight +%s -%s", ledger,
			value(m.net), value(m.inFlightCredits), value(m.inFlightDebits)))
	}
	return strings.Join(lines, "\n")
}

// TestSettlementNettingOnTwoShards: the same seeded transfers (many of them cross-shard
// sagas, partner to partner among them) on a node of two shards and on a node of one;
// the settlement endpoint and `sequent settle` on the two-shard node give, per ledger,
// the net and the in-flight amounts of the naive model, and the same as the one-shard
// node's endpoint. Each cross-shard transfer counts once: on the debit shard through its
// post (the pending transfer into the pair's settlement account is "resolved"), on the
// credit shard as the credit out of it.
func TestSettlementNettingOnTwoShards(t *testing.T) {
	running, c, common := settleNode(t, 2)
	model2 := settleScript(t, c)
	one, c1, _ := settleNode(t, 1)
	model1 := settleScript(t, c1)
	if model2.crossToPartners < 20 {
		t.Fatalf("%d cross-shard transfers touch a partner: the script tests too little",
			model2.crossToPartners)
	}
	if model1.figures() != model2.figures() {
		t.Fatalf("the script is not deterministic:\n%s\n%s", model1.figures(), model2.figures())
	}

	report, err := settlementOf(t, running, settlePartners, "", "now")
	if err != nil {
		t.Fatalf("settlement on two shards: %v", err)
	}
	if got, want := positionFigures(report), model2.figures(); got != want {
		t.Errorf("two shards' endpoint:\n%s\nwant (model):\n%s", got, want)
	}
	oneReport, err := settlementOf(t, one, settlePartners, "", "now")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := positionFigures(oneReport), positionFigures(report); got != want {
		t.Errorf("one shard's endpoint:\n%s\ntwo shards':\n%s", got, want)
	}

	args := []string{"--until", "now"}
	for _, p := range settlePartners {
		args = append(args, "--partner", fmt.Sprint(p))
	}
	if got, want := settleCommandFigures(t, common, args...), model2.figures(); got != want {
		t.Errorf("sequent settle on two shards:\n%s\nwant (model):\n%s", got, want)
	}
}

// settleCommandFigures runs `sequent settle --json` with args and renders its positions
// as positionFigures does.
func settleCommandFigures(t *testing.T, common []string, args ...string) string {
	t.Helper()
	output, err := runRoot(t, append(append([]string{"settle", "--json"}, args...),
		common...)...)
	if err != nil {
		t.Fatalf("settle: %v\n%s", err, output)
	}
	var command struct {
		Positions []struct {
			Ledger          uint32 `json:"ledger"`
			Net             string `json:"net"`
			InFlightCredits string `json:"in_flight_credits"`
			InFlightDebits  string `json:"in_flight_debits"`
		} `json:"positions"`
	}
	if err := json.Unmarshal([]byte(output), &command); err != nil {
		t.Fatalf("settle --json: %v\n%s", err, output)
	}
	var lines []string
	for _, p := range command.Positions {
		lines = append(lines, fmt.Sprintf("%d: net %s in flight +%s -%s", p.Ledger, p.Net,
			p.InFlightCredits, p.InFlightDebits))
	}
	return strings.Join(lines, "\n")
}

// TestSettlementOfASagaInFlight: a cross-shard transfer X from partner 70 (shard 0) to
// 1070 (shard 1). At a cut-off at X's own timestamp (step 1 of its saga, before its
// credit and post), X is in flight on 70's side and nothing on 1070's; at a cut-off after
// the saga, it counts once as posted on each side, at its amount, and X itself (the
// pending transfer) is listed as resolved by its post. A saga the credit shard refuses
// moves nothing.
func TestSettlementOfASagaInFlight(t *testing.T) {
	running, c, common := settleNode(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x := model.Transfer{ID: model.U128(5000), DebitAccountID: model.U128(70),
		CreditAccountID: model.U128(1070), Amount: model.U128(500), Ledger: 3, Code: 1}
	if results, err := c.CreateTransfers(ctx, []model.Transfer{x}); err != nil ||
		results[0].Status != model.StatusOK {
		t.Fatalf("cross-shard transfer: %v %+v", err, results)
	}
	// X's timestamp on shard 0 (step 1): the client's lookup shows the transfer as one
	// operation, so read the pending transfer from 70's own history.
	after, err := settlementOf(t, running, []uint64{70}, "", "now")
	if err != nil {
		t.Fatal(err)
	}
	started := ""
	for _, line := range after.Transfers {
		if line.ID == "5000" && line.Kind == "pending" {
			started = fmt.Sprint(line.Timestamp)
		}
	}
	if started == "" {
		t.Fatalf("70's transfers do not hold X's pending step: %+v", after.Transfers)
	}

	atStart, err := settlementOf(t, running, []uint64{70, 1070}, "", started)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := positionFigures(atStart), "3: net 0 in flight +0 -500"; got != want {
		t.Errorf("at the saga's start: %s, want %s", got, want)
	}
	if got, want := settleCommandFigures(t, common, "--partner", "70", "--partner", "1070",
		"--until", started), "3: net 0 in flight +0 -500"; got != want {
		t.Errorf("sequent settle at the saga's start: %s, want %s", got, want)
	}
	if got, want := positionFigures(after), "3: net -500 in flight +0 -0"; got != want {
		t.Errorf("debit side after the saga: %s, want %s", got, want)
	}
	states := map[string]string{}
	for _, line := range after.Transfers {
		states[line.Kind] = line.State
	}
	if len(after.Transfers) != 2 || states["pending"] != "resolved" ||
		states["post"] != "posted" {
		t.Errorf("debit side's transfers: %+v, want the pending one resolved by its post",
			after.Transfers)
	}
	credit, err := settlementOf(t, running, []uint64{1070}, "", "now")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := positionFigures(credit), "3: net 500 in flight +0 -0"; got != want {
		t.Errorf("credit side after the saga: %s, want %s", got, want)
	}
	both, err := settlementOf(t, running, []uint64{70, 1070}, "", "now")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := positionFigures(both), "3: net 0 in flight +0 -0"; got != want {
		t.Errorf("both sides after the saga: %s, want %s", got, want)
	}

	// A saga the credit shard refuses (no account 1999 on shard 1) is voided on shard 0:
	// its pending step moves nothing, as the refused transfer does on one shard.
	refused := model.Transfer{ID: model.U128(5001), DebitAccountID: model.U128(70),
		CreditAccountID: model.U128(1999), Amount: model.U128(80), Ledger: 3, Code: 1}
	if results, err := c.CreateTransfers(ctx, []model.Transfer{refused}); err != nil ||
		results[0].Status != model.StatusCreditAccountNotFound {
		t.Fatalf("cross-shard transfer to a missing account: %v %+v", err, results)
	}
	voided, err := settlementOf(t, running, []uint64{70}, "", "now")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := positionFigures(voided), "3: net -500 in flight +0 -0"; got != want {
		t.Errorf("debit side after a voided saga: %s, want %s", got, want)
	}
	states = map[string]string{}
	for _, line := range voided.Transfers {
		if line.ID == "5001" || line.PendingID == "5001" {
			states[line.Kind] = line.State
		}
	}
	if len(states) != 2 || states["pending"] != "resolved" || states["void"] != "voided" {
		t.Errorf("the voided saga's transfers: %+v, want its pending step resolved by a void",
			voided.Transfers)
	}
	if _, err := settlementOf(t, running, []uint64{70}, "", "x"); !errors.Is(err,
		ops.ErrBadQuery) {
		t.Errorf("a bad cut-off: %v, want a bad query", err)
	}
}

// TestSettleBookingAcrossShards: `sequent settle --book` on a node of two shards. Partner
// 50 (shard 0) is owed 700 on ledger 1 and partner 60 (shard 0) 300 on ledger 2; with the
// ledger-2 settlement account on shard 1 (1020) the booking is refused before anything is
// sent, saying which account is on which shard — without the check, ledger 1's settlement
// was booked and ledger 2's refused (pending_transfer_spans_shards); with both settlement
// accounts on the partner's shard both are booked, pending; given one per ledger and
// shard, the partner's shard's is chosen.
func TestSettleBookingAcrossShards(t *testing.T) {
	_, c, common := settleNode(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := c.CreateTransfers(ctx, []model.Transfer{
		{ID: model.U128(1), DebitAccountID: model.U128(10), CreditAccountID: model.U128(50),
			Amount: model.U128(700), Ledger: 1, Code: 1},
		{ID: model.U128(2), DebitAccountID: model.U128(1020), CreditAccountID: model.U128(60),
			Amount: model.U128(300), Ledger: 2, Code: 1}})
	if err != nil || results[0].Status != model.StatusOK || results[1].Status != model.StatusOK {
		t.Fatalf("transfers: %v %+v", err, results)
	}
	book := []string{"settle", "--partner", "50", "--partner", "60", "--until", "now",
		"--book", "--settlement-id", "9000", "--code", "7", "--via", "90"}
	output, err := runRoot(t, append(append(book, "--via", "1020"), common...)...)
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(),
		"account 1020 on shard 1") || !strings.Contains(err.Error(),
		"pending_transfer_spans_shards") {
		t.Fatalf("booking across shards: %v, want a usage error naming the shards\n%s", err,
			output)
	}
	booked, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(9000), model.U128(9001)})
	if err != nil || len(booked) != 0 {
		t.Fatalf("a refused booking booked %+v (%v)", booked, err)
	}
	// One settlement account per ledger and shard (ledger 1's shard-1 one first, ledger
	// 2's last): shard 0's, the partners' shard, are used.
	output, err = runRoot(t, append([]string{"settle", "--partner", "50", "--partner", "60",
		"--until", "now", "--book", "--settlement-id", "9000", "--code", "7", "--via", "1090",
		"--via", "90", "--via", "91", "--via", "1020"}, common...)...)
	if err != nil {
		t.Fatalf("booking on the partner's shard: %v\n%s", err, output)
	}
	booked, err = c.LookupTransfers(ctx, []model.Uint128{model.U128(9000), model.U128(9001)})
	if err != nil || len(booked) != 2 || booked[0].Flags&model.TransferPending == 0 ||
		booked[0].CreditAccountID != model.U128(90) ||
		booked[1].CreditAccountID != model.U128(91) || booked[1].Amount != model.U128(300) {
		t.Fatalf("settlements booked: %+v (%v)", booked, err)
	}
}

// TestConvertAcrossShardsRefusedBeforeSending: a conversion whose payee is on shard 1
// while the other accounts are on shard 0 is refused by `sequent client convert` before
// anything is sent, naming each account's shard (without the check the node answered
// linked_chain_spans_shards: a refused event, not a usage error); the same conversion to
// a payee on shard 0 is applied.
func TestConvertAcrossShardsRefusedBeforeSending(t *testing.T) {
	_, c, common := settleNode(t, 2)
	convert := []string{"convert", "--id", "800", "--payer", "10", "--source-liquidity",
		"90", "--target-liquidity", "91", "--source-ledger", "1", "--target-ledger", "2",
		"--source-scale", "2", "--target-scale", "2", "--rate", "1.5", "--quote-id", "3",
		"--code", "4", "--amount", "1000"}
	output, err := runClient(t, append(append(convert, "--payee", "1020"), common...)...)
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "payee 1020 on shard 1") ||
		!strings.Contains(err.Error(), "linked_chain_spans_shards") {
		t.Fatalf("conversion across shards: %v, want a usage error naming the shards\n%s",
			err, output)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if found, err := c.LookupTransfers(ctx, []model.Uint128{model.U128(800)}); err != nil ||
		len(found) != 0 {
		t.Fatalf("a conversion refused before sending left %+v (%v)", found, err)
	}
	output, err = runClient(t, append(append(convert, "--payee", "20"), common...)...)
	if err != nil || !strings.Contains(output, "conversion applied at 1.5") {
		t.Fatalf("conversion on one shard: %v\n%s", err, output)
	}
}

// TestSettlementWithLedgerPlacement: with accounts placed by ledger (ledger 3 on shard 1)
// an account filter does not say where the account is; the endpoint asks both shards and
// nets partner 13 (ledger 3, shard 1) with partner 11 (ledger 1, shard 0).
func TestSettlementWithLedgerPlacement(t *testing.T) {
	running, _, run, _ := twoShardNode(t)
	run("create-accounts", "30", "--ledger", "3", "--code", "1")
	run("create-accounts", "31", "--ledger", "1", "--code", "1")
	run("transfer", "--id", "1", "--debit", "30", "--credit", "13", "--amount", "40",
		"--ledger", "3", "--code", "1")
	run("transfer", "--id", "2", "--debit", "11", "--credit", "31", "--amount", "15",
		"--ledger", "1", "--code", "1")
	report, err := settlementOf(t, running, []uint64{11, 13}, "", "now")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := positionFigures(report),
		"1: net -15 in flight +0 -0\n3: net 40 in flight +0 -0"; got != want {
		t.Errorf("positions:\n%s\nwant:\n%s", got, want)
	}
}
