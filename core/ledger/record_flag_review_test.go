package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"sequent/core/model"
)

// TestAccountFlagOfTheMarkerStaysReserved: bit 15 of an account's flags is the ledger's
// in-memory accountPendingZero, no flag a client may set. A creation carrying it is
// refused with reserved_flag, also when it retries an existing (marked) account: that
// check comes before the existence check, so the bit never reaches the comparison with
// the stored record (where, compared as held in memory, it would match the marker and
// answer exists); and a snapshot whose account has it is refused.
func TestAccountFlagOfTheMarkerStaysReserved(t *testing.T) {
	f := newFixture(t)
	f.accounts(model.StatusReservedFlag,
		model.Account{ID: model.U128(40), Ledger: 1, Code: 10, Flags: 1 << 15})
	if !f.markedPendingZero(1) {
		t.Fatal("account 1, without pending balances, is not marked")
	}
	f.accounts(model.StatusReservedFlag,
		model.Account{ID: model.U128(1), Ledger: 1, Code: 10, Flags: 1 << 15})
	f.accounts(model.StatusExists, model.Account{ID: model.U128(1), Ledger: 1, Code: 10})

	var encoded bytes.Buffer
	if _, err := f.ledger.Snapshot().WriteTo(&encoded); err != nil {
		t.Fatal(err)
	}
	body := encoded.Bytes()
	// Account 1 is the first record; its flags are bytes 118-119 of the wire record.
	flags := body[snapshotHeaderSize+118 : snapshotHeaderSize+120]
	var a model.Account
	a.Decode(body[snapshotHeaderSize : snapshotHeaderSize+model.AccountSize])
	if a.ID != model.U128(1) || binary.LittleEndian.Uint16(flags) != a.Flags {
		t.Fatalf("the first snapshot record is not account 1 with its flags at 118: %+v", a)
	}
	binary.LittleEndian.PutUint16(flags, a.Flags|1<<15)
	if _, err := Restore(Config{HashSeed: 7}, bytes.NewReader(body)); !errors.Is(err, ErrSnapshotInvalid) {
		t.Fatalf("a snapshot account with flag bit 15 restored: %v", err)
	}
}
