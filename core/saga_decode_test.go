package core

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"

	"sequent/core/model"
	"sequent/core/saga"
)

// decodeCredits and decodeDecisions decode into reused slots without zeroing them first, which is right
// only while Decode sets every field of its record. Method: random bodies of Credit and
// Decision records (a few malformed, so that slots are skipped and reused) are decoded
// into slots whose every byte is 1 and into fresh zero slots; the two must be equal. A
// field Decode left alone would keep its ones.
func TestDecodeRecordsOverwriteEveryField(t *testing.T) {
	random := rand.New(rand.NewPCG(41, 41))
	body := func(count, size int, reserved int) []byte {
		b := make([]byte, count*size)
		for i := range b {
			b[i] = byte(random.Uint32())
		}
		for r := range count {
			record := b[r*size : (r+1)*size]
			clear(record[reserved:]) // Valid records have their reserved tail zero.
			if size == model.SagaCreditSize {
				record[140], record[141] = record[140]&1, 0 // Flags: abort or none.
				clear(record[142:144])
			}
			if r%5 == 3 {
				record[size-1] = 1 // Malformed: skipped.
			}
		}
		return b
	}
	credits := body(20, model.SagaCreditSize, 152)
	want := decodeCredits(nil, credits)
	used := make([]saga.Credit, 20)
	fill(unsafe.Slice((*byte)(unsafe.Pointer(&used[0])), len(used)*int(unsafe.Sizeof(used[0]))))
	got := decodeCredits(used, credits)
	if len(want) != 16 || !reflect.DeepEqual(got, want) {
		t.Fatalf("credits: %d decoded, reused slots differ: %t", len(want), !reflect.DeepEqual(got, want))
	}
	decisions := body(20, model.SagaDecisionSize, 120)
	wantDecisions := decodeDecisions(nil, decisions)
	usedDecisions := make([]saga.Decision, 20)
	fill(unsafe.Slice((*byte)(unsafe.Pointer(&usedDecisions[0])),
		len(usedDecisions)*int(unsafe.Sizeof(usedDecisions[0]))))
	gotDecisions := decodeDecisions(usedDecisions, decisions)
	if len(wantDecisions) != 16 || !reflect.DeepEqual(gotDecisions, wantDecisions) {
		t.Fatalf("decisions: %d decoded, reused slots differ: %t", len(wantDecisions),
			!reflect.DeepEqual(gotDecisions, wantDecisions))
	}
}

// fill sets every byte to 1 (so that a bool reads true and every number is nonzero).
func fill(b []byte) {
	for i := range b {
		b[i] = 1
	}
}
