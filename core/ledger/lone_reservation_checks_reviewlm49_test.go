package ledger

import (
	"fmt"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestChangeSystemReservationAtRefusesWhatIsNotALoneReservation pins the lone entry's own
// checks (ChangeSystemReservationAt), which since session 49 changeReservationOf makes
// when lone is set, out of line: a timestamp out of range (as checkBatch of one event
// says it, and first), an event without a reservation flag or with the linked flag (not
// a lone reservation), then the checks every reservation gets (both flags). Each is a
// bug of the caller: it panics with its own message and changes nothing; an event
// without a reservation flag must not be applied as a reserve. The bounds of the range
// are taken: timestamp 1 and timestampMax-1 reserve.
func TestChangeSystemReservationAtRefusesWhatIsNotALoneReservation(t *testing.T) {
	f := newFixture(t)
	debitIndex, creditIndex := IndexUnknown, IndexUnknown
	reserve := func(timestamp uint64, flags uint16) (status model.Status, message string) {
		event := model.Transfer{DebitAccountID: model.U128(1), CreditAccountID: model.U128(2),
			Amount: model.U128(1), Ledger: 1, Code: 1, Flags: flags}
		defer func() {
			if recovered := recover(); recovered != nil {
				message = fmt.Sprint(recovered)
			}
		}()
		return f.ledger.ChangeSystemReservationAt(timestamp, &event, &debitIndex, &creditIndex), ""
	}
	const outOfRange, notLone, invalid = "out of range", "not a lone reservation event",
		"reservation event invalid"
	for _, c := range []struct {
		timestamp uint64
		flags     uint16
		want      string // The panic's message contains it.
	}{
		{0, SystemReserve, outOfRange},
		{timestampMax, SystemReserve, outOfRange},
		{^uint64(0), SystemRelease, outOfRange},
		{0, 0, outOfRange}, // The timestamp first, as checkBatch came first.
		{0, SystemReserve | model.TransferLinked, outOfRange},
		{f.timestamp, 0, notLone},
		{f.timestamp, model.TransferPending, notLone},
		{f.timestamp, SystemReserve | model.TransferLinked, notLone},
		{f.timestamp, SystemRelease | model.TransferLinked, notLone},
		{f.timestamp, SystemReserve | SystemRelease, invalid},
		{f.timestamp, SystemReserve | model.TransferPending, invalid},
	} {
		digest := f.ledger.Digest()
		status, message := reserve(c.timestamp, c.flags)
		if !strings.Contains(message, c.want) {
			t.Errorf("timestamp %d flags %#x: %s, panic %q; want a panic saying %q",
				c.timestamp, c.flags, status, message, c.want)
		}
		if f.ledger.Digest() != digest || !f.ledger.Reserved(model.U128(1)).IsZero() {
			t.Errorf("timestamp %d flags %#x: the state changed", c.timestamp, c.flags)
		}
	}
	for n, timestamp := range []uint64{1, timestampMax - 1} {
		if status, message := reserve(timestamp, SystemReserve); status != model.StatusOK ||
			message != "" {
			t.Fatalf("reserve at %d: %s, panic %q", timestamp, status, message)
		}
		if reserved := f.ledger.Reserved(model.U128(1)); reserved != model.U128(uint64(n+1)) {
			t.Fatalf("reserve at %d: account 1 reserves %s", timestamp, reserved)
		}
	}
}
