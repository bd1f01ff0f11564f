package core

import (
	"testing"

	"sequent/core/model"
)

// checkShapeReference is CheckShape as it read model.Operation.Info (a map) before
// operationShapes: the reference the array must match.
func checkShapeReference(operation model.Operation, flags uint8, body []byte,
	internal bool) model.Status {
	info, ok := operation.Info()
	switch {
	case !ok, info.Internal != internal:
		return model.StatusUnknownOperation
	case flags&^requestFlagsKnown != 0:
		return model.StatusInvalidBody
	case flags&RequestFlagReplyBalances != 0 && !info.BalancesResult:
		return model.StatusInvalidBody
	case info.EventSize == 0 && len(body) != 0:
		return model.StatusInvalidBody
	case info.EventSize == 0:
		return model.StatusOK
	case len(body)%info.EventSize != 0:
		return model.StatusInvalidBody
	case len(body) == 0:
		return model.StatusEmptyRequest
	case len(body)/info.EventSize > info.EventsMax:
		return model.StatusTooManyEvents
	}
	return model.StatusOK
}

// TestCheckShapeMatchesOperationInfo runs CheckShape on every operation number (defined
// or not), internal or not, every flag value, and bodies of zero, one, a whole number
// of, the most, and one more than the most events (and one byte off each), and compares
// it with the map-based reference.
func TestCheckShapeMatchesOperationInfo(t *testing.T) {
	checked := 0
	for operation := range 1 << 8 {
		info, _ := model.Operation(operation).Info()
		body := make([]byte, max(16, (info.EventsMax+1)*info.EventSize+1))
		lengths := []int{0, 1, 4, 8, 16}
		if size := info.EventSize; size > 0 {
			for _, events := range []int{1, 2, info.EventsMax, info.EventsMax + 1} {
				lengths = append(lengths, events*size-1, events*size, events*size+1)
			}
		}
		for flags := range 1 << 8 {
			for _, internal := range []bool{false, true} {
				for _, length := range lengths {
					if length < 0 {
						continue
					}
					got := CheckShape(model.Operation(operation), uint8(flags), body[:length], internal)
					want := checkShapeReference(model.Operation(operation), uint8(flags),
						body[:length], internal)
					if got != want {
						t.Fatalf("operation %d flags %#x internal %v length %d: %s, want %s",
							operation, flags, internal, length, got, want)
					}
					checked++
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

// TestOperationWritesMatchesOperationInfo compares OperationWrites with Info's Write on
// every operation number, defined or not (an undefined one writes nothing).
func TestOperationWritesMatchesOperationInfo(t *testing.T) {
	writes := 0
	for number := range 1 << 8 {
		operation := model.Operation(number)
		info, _ := operation.Info()
		if got := OperationWrites(operation); got != info.Write {
			t.Errorf("operation %d (%s): OperationWrites %v, Info().Write %v", number,
				operation, got, info.Write)
		}
		if info.Write {
			writes++
		}
	}
	if writes == 0 {
		t.Fatal("no operation writes: the comparison checked only false")
	}
}
