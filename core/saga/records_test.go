package saga

import (
	"bytes"
	"testing"

	"sequent/core/model"
)

// filled returns a value whose every byte is non-zero and distinct from its neighbours,
// so that a field dropped from an encoding, or two fields swapped, shows.
func filled(seed uint64) model.Uint128 {
	return model.Uint128{Lo: 0x0102030405060708 * seed, Hi: 0x1112131415161718 * seed}
}

func filledBalance(seed uint64) model.Balance {
	return model.Balance{DebitsPending: filled(seed), DebitsPosted: filled(seed + 1),
		CreditsPending: filled(seed + 2), CreditsPosted: filled(seed + 3)}
}

func filledTransfer(seed uint64) model.Transfer {
	return model.Transfer{ID: filled(seed), DebitAccountID: filled(seed + 1),
		CreditAccountID: filled(seed + 2), Amount: filled(seed + 3), PendingID: filled(seed + 4),
		UserData128: filled(seed + 5), UserData64: 0x2122232425262728 * seed,
		UserData32: 0x31323334 * uint32(seed), Timeout: 0x41424344, Ledger: 0x51525354,
		Code: 0x6162, Flags: 0x7172, Timestamp: 0x8182838485868788 * seed}
}

// recordCodec is one fixed-size record type, seen through its encoding.
type recordCodec struct {
	name     string
	size     int
	encode   func(b []byte)
	decode   func(b []byte) (equal, ok bool) // equal: decodes to the encoded value
	reserved func(i, bit int) bool           // A bit the decoder must refuse when set.
}

func recordCodecs() []recordCodec {
	credit := Credit{Transfer: filledTransfer(1), Sequence: 0x9192939495969798, From: 0xa1a2,
		To: 0xb1b2, Abort: true, PayerBound: true, Client: 0xc1c2c3c4c5c6c7c8}
	decision := Decision{Sequence: 0x9192939495969798, From: 0xa1a2, To: 0xb1b2,
		Status: model.StatusExceedsCredits, Amount: filled(3), Credit: filledBalance(4),
		Timestamp: 0xd1d2d3d4d5d6d7d8, Transfer: filled(9)}
	forget := Forget{From: 0xa1a2, Below: 0x9192939495969798}
	return []recordCodec{
		{name: "credit", size: model.SagaCreditSize, encode: credit.Encode,
			decode: func(b []byte) (bool, bool) {
				var c Credit
				ok := c.Decode(b)
				return c == credit, ok
			},
			reserved: func(i, bit int) bool {
				return (i == 140 && bit > 1) || i == 141 || i == 142 || i == 143 || i >= 152
			}},
		{name: "decision", size: model.SagaDecisionSize, encode: decision.Encode,
			decode: func(b []byte) (bool, bool) {
				var d Decision
				ok := d.Decode(b)
				return d == decision, ok
			},
			reserved: func(i, bit int) bool { return i >= 120 }},
		{name: "forget", size: model.SagaForgetSize, encode: forget.Encode,
			decode: func(b []byte) (bool, bool) {
				var f Forget
				ok := f.Decode(b)
				return f == forget, ok
			},
			reserved: func(i, bit int) bool { return i >= 2 && i < 8 }},
	}
}

// Every record (the bodies of saga_credit, saga_finish and saga_forget, which arrive
// from the log and from other shards) decodes to what was encoded, every field included;
// flipping any single bit either changes what it decodes to or, for a reserved bit, makes
// Decode refuse the record. The encoder clears the reserved bytes of a dirty buffer.
func TestRecordEncodingsAreExactAndStrict(t *testing.T) {
	for _, codec := range recordCodecs() {
		encoded := bytes.Repeat([]byte{0xee}, codec.size)
		codec.encode(encoded)
		if equal, ok := codec.decode(encoded); !equal || !ok {
			t.Fatalf("%s: round trip equal %v, ok %v", codec.name, equal, ok)
		}
		for i := range codec.size {
			for bit := range 8 {
				flipped := bytes.Clone(encoded)
				flipped[i] ^= 1 << bit
				equal, ok := codec.decode(flipped)
				if codec.reserved(i, bit) && ok {
					t.Errorf("%s: reserved bit %d of byte %d accepted", codec.name, bit, i)
				}
				if !codec.reserved(i, bit) && (equal || !ok) {
					t.Errorf("%s: bit %d of byte %d: equal %v, ok %v", codec.name, bit, i, equal, ok)
				}
			}
		}
	}
}

// saga_lookup's State and saga_outbox's summary carry every field (no reserved bits: a
// flipped bit changes the value).
func TestStateAndSummaryRoundTrip(t *testing.T) {
	state := State{ID: filled(1), Phase: PhaseFinal, Result: model.TransferResult{
		EventResult:  model.EventResult{Timestamp: 0xd1d2d3d4d5d6d7d8, Status: model.StatusSagaTimedOut},
		DebitAccount: filledBalance(2), CreditAccount: filledBalance(6)}}
	var encoded [model.SagaStateSize]byte
	state.Encode(encoded[:])
	for i := range encoded {
		var got State
		got.Decode(encoded[:])
		if got != state {
			t.Fatalf("state %+v became %+v", state, got)
		}
		encoded[i] ^= 0x10
		if got.Decode(encoded[:]); got == state {
			t.Errorf("state byte %d is not read", i)
		}
		encoded[i] ^= 0x10
	}
	summary := OutboxSummary{Next: 0x0102030405060708, Lowest: 0x1112131415161718, Running: 0x2122232425262728}
	summaryBytes := bytes.Repeat([]byte{0xee}, model.SagaOutboxSummarySize)
	summary.Encode(summaryBytes)
	var got OutboxSummary
	got.Decode(summaryBytes)
	if got != summary || !model.AllZero(summaryBytes[24:]) {
		t.Fatalf("summary %+v became %+v (% x)", summary, got, summaryBytes)
	}
	query := bytes.Repeat([]byte{0xee}, model.SagaOutboxQuerySize)
	EncodeOutboxQuery(query, 0x0102030405060708)
	if !bytes.Equal(query, []byte{8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("outbox query % x", query)
	}
}

// A decision carries the client's transfer id (bytes 104..119): it matches only that
// transfer; a zero id (a decision written before the field existed, in an old log or
// snapshot) matches any.
func TestDecisionTransferID(t *testing.T) {
	mine, other := model.U128(7), model.U128(8)
	for _, c := range []struct {
		transfer model.Uint128
		id       model.Uint128
		want     bool
	}{{mine, mine, true}, {mine, other, false}, {model.Uint128{}, mine, true},
		{model.Uint128{}, other, true}, {model.Uint128{Hi: 7}, mine, false}} {
		d := Decision{Sequence: 1, Transfer: c.transfer}
		var encoded [model.SagaDecisionSize]byte
		d.Encode(encoded[:])
		var got Decision
		if !got.Decode(encoded[:]) || got.Transfer != c.transfer {
			t.Fatalf("transfer id %s became %s", c.transfer, got.Transfer)
		}
		if got.Matches(c.id) != c.want {
			t.Errorf("decision for %s matches %s: %v, want %v", c.transfer, c.id, !c.want, c.want)
		}
	}
	var old [model.SagaDecisionSize]byte // An old record: bytes 104..127 were zero.
	var got Decision
	if !got.Decode(old[:]) || !got.Transfer.IsZero() || !got.Matches(mine) {
		t.Fatal("a decision without a transfer id is refused or matches nothing")
	}
}

// fuzzRecord: any bytes Decode accepts encode back to the same bytes (the reserved bytes
// are exactly the ones it checks), and no input makes it panic.
func fuzzRecord(f *testing.F, codec recordCodec, decode func(b []byte) (reencoded []byte, ok bool)) {
	seed := make([]byte, codec.size)
	codec.encode(seed)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < codec.size {
			return
		}
		data = data[:codec.size]
		reencoded, ok := decode(data)
		if ok && !bytes.Equal(reencoded, data) {
			t.Fatalf("%s accepted % x and encodes it as % x", codec.name, data, reencoded)
		}
	})
}

func FuzzCreditDecode(f *testing.F) {
	fuzzRecord(f, recordCodecs()[0], func(b []byte) ([]byte, bool) {
		var c Credit
		ok := c.Decode(b)
		out := make([]byte, model.SagaCreditSize)
		c.Encode(out)
		return out, ok
	})
}

func FuzzDecisionDecode(f *testing.F) {
	fuzzRecord(f, recordCodecs()[1], func(b []byte) ([]byte, bool) {
		var d Decision
		ok := d.Decode(b)
		out := make([]byte, model.SagaDecisionSize)
		d.Encode(out)
		return out, ok
	})
}

func FuzzForgetDecode(f *testing.F) {
	fuzzRecord(f, recordCodecs()[2], func(b []byte) ([]byte, bool) {
		var g Forget
		ok := g.Decode(b)
		out := make([]byte, model.SagaForgetSize)
		g.Encode(out)
		return out, ok
	})
}
