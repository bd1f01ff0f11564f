package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// outcomeLoad is a load that has recorded one batch per outcome the client can give,
// ids 1001 to 1012, without a server.
func outcomeLoad(t *testing.T) *load {
	t.Helper()
	l := newLoad(nil, 16, 0, 1000, 0)
	now := time.Unix(1_800_000_000, 0)
	batch := func(count int, results []model.Status, err error) {
		first := l.nextID + 1
		l.nextID += uint64(count)
		l.sentCount += uint64(count)
		transfers := make([]model.Transfer, count)
		for i := range transfers {
			transfers[i] = l.transferFor(first + uint64(i))
		}
		var eventResults []model.EventResult
		for _, status := range results {
			eventResults = append(eventResults, model.EventResult{Status: status})
		}
		l.mutex.Lock()
		l.recordLocked(first, transfers, eventResults, err, now, now)
		l.mutex.Unlock()
	}
	// 1001..1004: answered ok, with an event refused (1003) and one held for review (1004:
	// stored as a pending transfer, PROTOCOL.md §12).
	batch(4, []model.Status{model.StatusOK, model.StatusExists, model.StatusExceedsCredits,
		model.StatusRiskHeldForReview}, nil)
	// 1005, 1006: the request refused at once with busy (PROTOCOL.md §6).
	batch(2, nil, &client.StatusError{Operation: model.OperationCreateTransfers, Number: 2,
		Status: model.StatusBusy})
	// 1007, 1008: a resend answered not_primary after a copy was lost (§7): unknown.
	batch(2, nil, fmt.Errorf("batch: %w", &client.OutcomeUnknownError{
		Operation: model.OperationCreateTransfers, Number: 3, Status: model.StatusNotPrimary}))
	// 1009: request_too_old: look the ids up (§7), not a refusal.
	batch(1, nil, &client.StatusError{Operation: model.OperationCreateTransfers, Number: 4,
		Status: model.StatusRequestTooOld})
	// 1010: the batch's deadline.
	batch(1, nil, context.DeadlineExceeded)
	// 1011: request_number_reused: applied on the shards that never applied it (§18).
	batch(1, nil, &client.StatusError{Operation: model.OperationCreateTransfers, Number: 5,
		Status: model.StatusRequestNumberReused})
	// 1012: closed while a copy was on its way.
	batch(1, nil, &client.OutcomeUnknownError{Operation: model.OperationCreateTransfers,
		Number: 6, Status: model.StatusOutcomeUnknown, Err: client.ErrClosed})
	return l
}

// TestRecordFilesOutcomeClasses: each transfer lands in the one class its client's answer
// puts it in: created/exists acknowledged; an event refusal or a request-level status
// that means "not applied" refused; everything that leaves the outcome open unknown.
func TestRecordFilesOutcomeClasses(t *testing.T) {
	l := outcomeLoad(t)
	want := map[uint64]string{1001: "acknowledged", 1002: "acknowledged", 1003: "refused",
		1004: "acknowledged", 1005: "refused", 1006: "refused", 1007: "unknown",
		1008: "unknown", 1009: "unknown", 1010: "unknown", 1011: "unknown", 1012: "unknown"}
	for id := uint64(1001); id <= 1012; id++ {
		var classes []string
		if l.isAcknowledged(id) {
			classes = append(classes, "acknowledged")
		}
		if l.isRefused(id) {
			classes = append(classes, "refused")
		}
		if l.unknown.has(id - l.firstID - 1) {
			classes = append(classes, "unknown")
		}
		if len(classes) != 1 || classes[0] != want[id] {
			t.Errorf("transfer %d filed as %v, want [%s]", id, classes, want[id])
		}
	}
	if l.acknowledged.count != 3 || l.refusedIDs.count != 3 || l.unknown.count != 6 {
		t.Errorf("counts acknowledged %d refused %d unknown %d, want 3, 3, 6",
			l.acknowledged.count, l.refusedIDs.count, l.unknown.count)
	}
	if r, kept := l.refusalOf(1006); !kept || r.status != model.StatusBusy || !r.requestLevel {
		t.Errorf("refusal kept for 1006: %+v %v, want busy, request level", r, kept)
	}
}

// storedLookup is a lookup_transfers that finds the given ids, as the drill sent them.
func storedLookup(l *load, stored ...uint64) func(context.Context, []model.Uint128) (
	[]model.Transfer, error) {
	return func(_ context.Context, ids []model.Uint128) ([]model.Transfer, error) {
		var found []model.Transfer
		for _, id := range ids {
			for _, s := range stored {
				if id.Lo == s {
					found = append(found, l.transferFor(s))
				}
			}
		}
		return found, nil
	}
}

func checkedDrill(t *testing.T, stored ...uint64) *drill {
	t.Helper()
	d := &drill{load: outcomeLoad(t), kills: []string{"12:00:00.000000"}}
	d.report = Report{Refused: map[string]int{}, DigestsEqual: true, Reconciled: true}
	if _, _, err := d.checkStored(context.Background(), storedLookup(d.load, stored...)); err != nil {
		t.Fatal(err)
	}
	d.summarize()
	return d
}

// TestCheckFlagsRefusedButStored: a transfer stored although its client was told busy is
// counted, named with the status it was refused with, and fails the drill; unknown ones
// pass stored or not, and so does the same run without the refused one stored.
func TestCheckFlagsRefusedButStored(t *testing.T) {
	acknowledged := []uint64{1001, 1002, 1004}
	d := checkedDrill(t, append(acknowledged, 1005, 1007, 1009)...)
	if d.report.RefusedButStored != 1 || d.report.Lost != 0 {
		t.Errorf("refused_but_stored %d lost %d, want 1 and 0", d.report.RefusedButStored,
			d.report.Lost)
	}
	if d.report.OK {
		t.Error("the drill passed with a refused transfer stored")
	}
	if d.report.Unknown != 6 || d.report.Acknowledged != 3 || d.report.Sent != 12 {
		t.Errorf("unknown %d acknowledged %d sent %d, want 6, 3, 12", d.report.Unknown,
			d.report.Acknowledged, d.report.Sent)
	}
	problems := strings.Join(d.report.Problems, "\n")
	if !strings.Contains(problems, "[1005]") || !strings.Contains(problems, "busy") {
		t.Errorf("problems do not name transfer 1005 and its busy refusal: %q", problems)
	}

	// The per-event refusal too.
	d = checkedDrill(t, append(acknowledged, 1003)...)
	if d.report.RefusedButStored != 1 || d.report.OK ||
		!strings.Contains(strings.Join(d.report.Problems, "\n"), "exceeds_credits") {
		t.Errorf("event-refused 1003 stored: refused_but_stored %d ok %v problems %q",
			d.report.RefusedButStored, d.report.OK, d.report.Problems)
	}

	// Every unknown one stored, no refused one: a clean run.
	d = checkedDrill(t, append(acknowledged, 1007, 1008, 1009, 1010, 1011, 1012)...)
	if d.report.RefusedButStored != 0 || d.report.Lost != 0 || !d.report.OK {
		t.Errorf("clean run: refused_but_stored %d lost %d ok %v problems %q",
			d.report.RefusedButStored, d.report.Lost, d.report.OK, d.report.Problems)
	}

	// An acknowledged one missing is still lost.
	d = checkedDrill(t, 1001, 1004)
	if d.report.Lost != 1 || d.report.OK {
		t.Errorf("1002 missing: lost %d ok %v", d.report.Lost, d.report.OK)
	}
}

// TestDefinitelyRefusedUnwraps: a StatusError wrapped by the caller still counts, and an
// OutcomeUnknownError is unknown whatever it wraps.
func TestDefinitelyRefusedUnwraps(t *testing.T) {
	refused := &client.StatusError{Status: model.StatusRateLimited}
	if status, ok := definitelyRefused(fmt.Errorf("x: %w", refused)); !ok ||
		status != model.StatusRateLimited {
		t.Errorf("wrapped rate_limited: %v %v", status, ok)
	}
	unknown := &client.OutcomeUnknownError{Status: model.StatusRateLimited, Err: refused}
	if _, ok := definitelyRefused(unknown); ok {
		t.Error("an OutcomeUnknownError wrapping a StatusError read as a refusal")
	}
	if _, ok := definitelyRefused(errors.New("connection reset")); ok {
		t.Error("a plain error read as a refusal")
	}
}

// TestReadmeListsEveryJSONField: tools/drill/README.md's field list names every field of
// the report and of a cycle's report, so a new one (refused_but_stored, unknown) cannot be
// added without being described.
func TestReadmeListsEveryJSONField(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range []any{Report{}, Cycle{}, Distribution{}} {
		kind := reflect.TypeOf(value)
		for i := range kind.NumField() {
			name, _, _ := strings.Cut(kind.Field(i).Tag.Get("json"), ",")
			if name != "" && !strings.Contains(string(readme), "`"+name+"`") {
				t.Errorf("README.md does not list %s's field `%s`", kind.Name(), name)
			}
		}
	}
}
