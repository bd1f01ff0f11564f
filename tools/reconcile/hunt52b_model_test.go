package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
	"sequent/tools/clearing"
)

// The differential test below builds a ledger and a statement at random and reconciles
// them twice: with the tool (paging, sorting on disk in runs of a few entries, merging,
// folding) and with a naive model written from the rules in match.go's comment alone,
// which holds everything in memory and decides each reference by brute force. The two
// must report the same differences and the same counts.

// modelPayment is one of our payments as the model sees it.
type modelPayment struct {
	id        model.Uint128
	timestamp uint64
	key       model.Uint128
	amount    model.Uint128
	side      uint8
	status    uint8
}

// modelLine is one readable statement line.
type modelLine struct {
	number uint64
	key    model.Uint128
	amount model.Uint128
	side   uint8
	status uint8
	ledger uint32
}

// modelOutcome is what the model reports.
type modelOutcome struct {
	differences                     []string // kind|reference|line|transfer, sorted.
	matched, matchedDiffering       int
	payments, orphans, unreferenced int
	statementLines                  int
}

// modelPayments folds the stored transfers of the partner's account in the window into
// payments, by the rules: a single-phase transfer is posted; a pending one is posted (for
// what its post posted) or voided by a post or void in the window, else expired when its
// deadline is at or before the cut-off, else pending; a post or void in the window of a
// pending transfer before it is an orphan, not a payment.
func modelPayments(stored []model.Transfer, window clearing.Window, matchBy string) (
	[]modelPayment, int) {
	byID := map[model.Uint128]*model.Transfer{}
	for i := range stored {
		byID[stored[i].ID] = &stored[i]
	}
	in := func(t *model.Transfer) bool {
		return (t.DebitAccountID == partner || t.CreditAccountID == partner) &&
			window.Contains(t.Timestamp)
	}
	var payments []modelPayment
	orphans := 0
	for i := range stored {
		t := &stored[i]
		if !in(t) {
			continue
		}
		if t.Flags&(model.TransferPostPending|model.TransferVoidPending) != 0 {
			if !in(byID[t.PendingID]) {
				orphans++
			}
			continue
		}
		p := modelPayment{id: t.ID, timestamp: t.Timestamp, key: t.UserData128,
			amount: t.Amount, side: sideDebit, status: statusPosted}
		switch matchBy {
		case MatchByUserData64:
			p.key = model.U128(t.UserData64)
		case MatchByID:
			p.key = t.ID
		}
		if t.CreditAccountID == partner {
			p.side = sideCredit
		}
		if t.Flags&model.TransferPending != 0 {
			p.status = statusPending
			if t.Timeout != 0 && t.Timestamp+uint64(t.Timeout)*second <= window.Until {
				p.status = statusExpired
			}
			for j := range stored {
				r := &stored[j]
				if r.PendingID != t.ID || !in(r) {
					continue
				}
				if r.Flags&model.TransferPostPending != 0 {
					p.status, p.amount = statusPosted, r.Amount
				} else {
					p.status = statusVoided
				}
			}
		}
		payments = append(payments, p)
	}
	return payments, orphans
}

// modelReconcile decides every reference by the rules of match.go.
func modelReconcile(lines []modelLine, payments []modelPayment, unreadable []uint64,
	accountLedger uint32) modelOutcome {
	var out modelOutcome
	out.payments = len(payments)
	out.statementLines = len(lines) + len(unreadable)
	for _, number := range unreadable {
		out.differences = append(out.differences, fmt.Sprintf("unreadable||%d|", number))
	}
	keys := map[model.Uint128]bool{}
	for _, l := range lines {
		keys[l.key] = true
	}
	for _, p := range payments {
		keys[p.key] = true
	}
	report := func(kind string, key model.Uint128, line uint64, transfer model.Uint128) {
		reference, id := key.String(), ""
		if key.IsZero() {
			reference = ""
		}
		if !transfer.IsZero() {
			id = transfer.String()
		}
		out.differences = append(out.differences, fmt.Sprintf("%s|%s|%d|%s", kind,
			reference, line, id))
	}
	for key := range keys {
		var theirs []modelLine
		var ours []modelPayment
		for _, l := range lines {
			if l.key == key {
				theirs = append(theirs, l)
			}
		}
		for _, p := range payments {
			if p.key == key {
				ours = append(ours, p)
			}
		}
		slices.SortFunc(theirs, func(a, b modelLine) int { return int(a.number) - int(b.number) })
		slices.SortFunc(ours, func(a, b modelPayment) int {
			if a.timestamp < b.timestamp {
				return -1
			}
			return 1
		})
		if key.IsZero() {
			for _, p := range ours {
				out.unreferenced++
				report(KindMissingTheirs, key, 0, p.id)
			}
			continue
		}
		agree := func(l modelLine, p modelPayment) bool {
			return l.amount == p.amount && l.side == p.side &&
				(l.ledger == 0 || l.ledger == accountLedger) &&
				(l.status == 0 || l.status == p.status)
		}
		linePaired := make([]bool, len(theirs))
		paymentPaired := make([]bool, len(ours))
		for _, stated := range []bool{true, false} {
			for i, l := range theirs {
				if linePaired[i] || (l.status != 0) != stated {
					continue
				}
				for j, p := range ours {
					if !paymentPaired[j] && agree(l, p) {
						linePaired[i], paymentPaired[j] = true, true
						out.matched++
						break
					}
				}
			}
		}
		j := 0
		for i, l := range theirs {
			if linePaired[i] {
				continue
			}
			for j < len(ours) && paymentPaired[j] {
				j++
			}
			if j == len(ours) {
				break
			}
			p := ours[j]
			linePaired[i], paymentPaired[j] = true, true
			out.matchedDiffering++
			if l.amount != p.amount || l.side != p.side {
				report(KindAmount, key, l.number, p.id)
			}
			if l.ledger != 0 && l.ledger != accountLedger {
				report(KindCurrency, key, l.number, p.id)
			}
			if l.status != 0 && l.status != p.status {
				report(KindStatus, key, l.number, p.id)
			}
		}
		first := len(ours) == 0
		for i, l := range theirs {
			if !linePaired[i] {
				kind := KindDuplicateTheirs
				if first {
					kind, first = KindMissingOurs, false
				}
				report(kind, key, l.number, model.Uint128{})
			}
		}
		first = len(theirs) == 0
		for j, p := range ours {
			if !paymentPaired[j] {
				kind := KindDuplicateOurs
				if first {
					kind, first = KindMissingTheirs, false
				}
				report(kind, key, 0, p.id)
			}
		}
	}
	slices.Sort(out.differences)
	return out
}

// hunt52bWorld books random payments on the partner's account: single-phase credits and
// debits, pending ones later posted (in part, in full, or by the maximum amount), voided,
// left open or expiring, linked chains that fail whole, under references from a small
// pool (so several payments share one) or none, with random ids (not in time order) and
// amounts up to 2^104. It returns every transfer stored.
func hunt52bWorld(tb testing.TB, t *rapid.T, random *rand.Rand) (*world, []model.Transfer) {
	w := newWorld(tb)
	var ids []model.Uint128
	used := map[model.Uint128]bool{}
	newID := func() model.Uint128 {
		for {
			id := model.Uint128{Hi: random.Uint64N(3), Lo: 1 + random.Uint64N(1<<40)}
			if !used[id] {
				used[id] = true
				ids = append(ids, id)
				return id
			}
		}
	}
	references := []model.Uint128{{}, model.U128(1), model.U128(2), model.U128(3),
		{Hi: 1 << 63, Lo: 5}, {Hi: ^uint64(0), Lo: ^uint64(0)}}
	var open []model.Transfer // Pending transfers that may still be resolved.
	try := func(transfers ...model.Transfer) {
		w.timestamp += second
		w.ledger.Expire(w.timestamp, nil)
		results := make([]model.TransferResult, len(transfers))
		w.ledger.CreateTransfers(w.timestamp, transfers, results)
	}
	steps := rapid.IntRange(0, 60).Draw(t, "steps")
	for range steps {
		if len(open) > 0 && random.IntN(3) == 0 {
			index := random.IntN(len(open))
			p := open[index]
			open = slices.Delete(open, index, index+1)
			resolution := model.Transfer{ID: newID(), PendingID: p.ID,
				Flags: model.TransferVoidPending}
			switch random.IntN(4) {
			case 0, 1:
				resolution.Flags = model.TransferPostPending
				resolution.Amount = p.Amount
				if random.IntN(2) == 0 {
					resolution.Amount = model.U128(1 + random.Uint64N(p.Amount.Lo|1))
					if p.Amount.Less(resolution.Amount) {
						resolution.Amount = p.Amount
					}
				}
			case 2:
				resolution.Flags = model.TransferPostPending
				resolution.Amount = model.Uint128{Hi: ^uint64(0), Lo: ^uint64(0)}
			}
			if random.IntN(3) == 0 { // A post's own reference does not count.
				resolution.UserData128 = references[random.IntN(len(references))]
				resolution.UserData64 = references[random.IntN(len(references))].Lo
			}
			try(resolution)
			continue
		}
		amount := model.U128(1 + random.Uint64N(1000))
		if random.IntN(8) == 0 {
			amount = model.Uint128{Hi: random.Uint64N(1 << 40), Lo: random.Uint64()}
		}
		debit, credit := customer, partner
		if random.IntN(3) == 0 {
			debit, credit = partner, customer
		}
		transfer := model.Transfer{ID: newID(), DebitAccountID: debit, CreditAccountID: credit,
			Amount: amount, UserData128: references[random.IntN(len(references))],
			UserData64: references[random.IntN(len(references))].Lo, Ledger: 1, Code: 1}
		switch random.IntN(5) {
		case 0, 1:
			transfer.Flags = model.TransferPending
			if random.IntN(2) == 0 {
				transfer.Timeout = uint32(1 + random.IntN(4))
			}
			open = append(open, transfer)
		case 2: // A linked chain whose second transfer fails: neither is stored.
			transfer.Flags = model.TransferLinked
			try(transfer, model.Transfer{ID: newID(), DebitAccountID: customer,
				CreditAccountID: model.U128(999), Amount: model.U128(1), Ledger: 1, Code: 1})
			continue
		}
		try(transfer)
	}
	return w, w.ledger.LookupTransfers(ids, nil)
}

// TestHunt52bReconcileAgainstModel: random ledgers and statements (references shared by
// several payments and lines, partial posts, voids, expiries, posts of payments made
// before the window, windows starting and ending exactly on a transfer, 128-bit amounts
// and references, stated and unstated statuses and currencies, unreadable lines), sort
// runs of one to a few entries: the tool reports what the model reports.
func TestHunt52bReconcileAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		random := rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 2))
		w, stored := hunt52bWorld(t, rt, random)
		var timestamps []uint64
		for _, s := range stored {
			timestamps = append(timestamps, s.Timestamp)
		}
		slices.Sort(timestamps)
		var deadlines []uint64
		for _, s := range stored {
			if s.Timeout != 0 {
				deadlines = append(deadlines, s.Timestamp+uint64(s.Timeout)*second)
			}
		}
		window := clearing.Window{Until: w.timestamp + 10*second}
		switch rapid.IntRange(0, 2).Draw(rt, "window") {
		case 1: // From and until exactly on transfers.
			if len(timestamps) > 0 {
				from := rapid.IntRange(0, len(timestamps)-1).Draw(rt, "from")
				until := rapid.IntRange(from, len(timestamps)-1).Draw(rt, "until")
				window = clearing.Window{From: timestamps[from], Until: timestamps[until]}
			}
		case 2: // The cut-off exactly on a pending transfer's deadline.
			if len(deadlines) > 0 {
				window.Until = deadlines[rapid.IntRange(0, len(deadlines)-1).Draw(rt, "deadline")]
			}
		}
		matchBy := rapid.SampledFrom([]string{MatchByUserData128, MatchByUserData64,
			MatchByID}).Draw(rt, "match")
		payments, orphans := modelPayments(stored, window, matchBy)

		// The statement: each payment's line, right or changed, once, twice or not at all,
		// lines of references we do not have, and lines that cannot be read.
		var lines []modelLine
		var text []string
		var unreadable []uint64
		add := func(l modelLine, currency string) {
			l.number = uint64(len(text) + 1)
			fields := []string{fmt.Sprintf(`"reference":"%s"`, l.key)}
			sign := ""
			if l.side == sideDebit {
				sign = "-"
			}
			fields = append(fields, fmt.Sprintf(`"amount":"%s%s"`, sign, l.amount))
			if l.status != 0 {
				fields = append(fields, fmt.Sprintf(`"status":%q`, statusNames[l.status]))
			}
			if currency != "" {
				fields = append(fields, fmt.Sprintf(`"currency":%q`, currency))
			}
			random.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
			text = append(text, "{"+strings.Join(fields, ",")+"}")
			lines = append(lines, l)
		}
		var pending []func()
		for _, p := range payments {
			if p.key.IsZero() {
				continue
			}
			for range random.IntN(3) + random.IntN(2) {
				l := modelLine{key: p.key, amount: p.amount, side: p.side}
				if random.IntN(2) == 0 {
					l.status = p.status
				}
				currency := ""
				switch random.IntN(6) {
				case 0:
					l.amount, _ = l.amount.Add(model.U128(1))
				case 1:
					l.side = sideCredit + sideDebit - l.side
				case 2:
					l.status = 1 + uint8(random.IntN(4))
				case 3:
					currency, l.ledger = "USD", 1
					if random.IntN(2) == 0 {
						currency, l.ledger = "EUR", 2
					}
				}
				pending = append(pending, func() { add(l, currency) })
			}
		}
		for range random.IntN(4) {
			l := modelLine{key: model.U128(1 + random.Uint64N(4)), amount: model.U128(1 +
				random.Uint64N(1000)), side: sideCredit}
			pending = append(pending, func() { add(l, "") })
		}
		for range random.IntN(3) {
			pending = append(pending, func() {
				text = append(text, `{"reference":"2","amount":"1e3"}`)
				unreadable = append(unreadable, uint64(len(text)))
			})
		}
		random.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
		for _, write := range pending {
			write()
		}
		want := modelReconcile(lines, payments, unreadable, 1)
		want.orphans = orphans

		path := filepath.Join(t.TempDir(), "statement.jsonl")
		if err := os.WriteFile(path, []byte(strings.Join(text, "\n")+"\n"), 0o600); err != nil {
			rt.Fatal(err)
		}
		runEntries := rapid.SampledFrom([]int{1, 2, 3, 7, RunEntriesDefault}).Draw(rt, "run")
		var jsonOutput bytes.Buffer
		report, err := Run(context.Background(), Options{
			Reader: clearing.MemoryReader{Ledger: w.ledger}, Ledgers: testLedgers(t),
			Account: partner, Statement: path, Window: window, RunEntries: runEntries,
			MatchBy: matchBy,
			Mapping: Mapping{AmountUnit: AmountUnitMinor}, JSON: &jsonOutput})
		if err != nil {
			rt.Fatal(err)
		}
		var document struct {
			Differences []Difference `json:"differences"`
		}
		if err := json.Unmarshal(jsonOutput.Bytes(), &document); err != nil {
			rt.Fatalf("JSON output: %v", err)
		}
		var got []string
		for _, d := range document.Differences {
			transfer := d.TransferID
			if d.Kind == KindMissingOurs || d.Kind == KindDuplicateTheirs {
				transfer = ""
			}
			got = append(got, fmt.Sprintf("%s|%s|%d|%s", d.Kind, d.Reference, d.Line, transfer))
		}
		slices.Sort(got)
		s := report.Summary
		if !slices.Equal(got, want.differences) {
			rt.Fatalf("differences:\n tool  %v\n model %v\nstatement:\n%s", got,
				want.differences, strings.Join(text, "\n"))
		}
		if s.Matched != want.matched || s.MatchedWithProblem != want.matchedDiffering ||
			s.OurPayments != want.payments || s.ResolutionsBeforeWindow != want.orphans ||
			s.Unreferenced != want.unreferenced || s.StatementLines != want.statementLines ||
			report.OK != (len(want.differences) == 0) {
			rt.Fatalf("summary %+v, ok %v; model %+v", *s, report.OK, want)
		}
	})
}
