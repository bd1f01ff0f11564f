package shard

import (
	"slices"
	"testing"
)

// TestWaitingCancelsKeepOrderOncePerClient: the list shared by the ring's waiting cancels
// and the cancels a full log refused keeps clients in the order they came, each once
// while it waits, takes a client again once its cancel is done, keeps the order when it
// reuses the room of those done, and refuses one more past cancelsPendingMax.
func TestWaitingCancelsKeepOrderOncePerClient(t *testing.T) {
	var cancels waitingCancels
	if cancels.any() || cancels.count() != 0 {
		t.Fatal("a new list has cancels waiting")
	}
	for _, client := range []uint64{7, 9, 7, 11} {
		if !cancels.add(client) {
			t.Fatalf("add %d refused", client)
		}
	}
	if got := cancels.waiting(); !slices.Equal(got, []uint64{7, 9, 11}) {
		t.Fatalf("waiting %v, want [7 9 11]", got)
	}
	cancels.done(1)
	if !cancels.add(7) { // Done: a new cancel of client 7 waits again, last.
		t.Fatal("add 7 after done refused")
	}
	if got := cancels.waiting(); !slices.Equal(got, []uint64{9, 11, 7}) {
		t.Fatalf("waiting %v, want [9 11 7]", got)
	}
	cancels.done(3)
	if cancels.any() || cancels.count() != 0 || len(cancels.held) != 0 {
		t.Fatalf("%d waiting, %d held after all were done", cancels.count(), len(cancels.held))
	}

	// Fill to capacity, finish the first two, then add: the room of those done is reused
	// without reordering the rest.
	cancels.clients = make([]uint64, 0, 4)
	for client := uint64(1); client <= 4; client++ {
		cancels.add(client)
	}
	cancels.done(2)
	cancels.add(5)
	if got := cancels.waiting(); !slices.Equal(got, []uint64{3, 4, 5}) || cap(cancels.clients) != 4 {
		t.Fatalf("waiting %v (capacity %d), want [3 4 5] in the same room", got,
			cap(cancels.clients))
	}
	if dropped := cancels.drop(); dropped != 3 || cancels.any() || len(cancels.held) != 0 {
		t.Fatalf("drop returned %d, %d left waiting", dropped, cancels.count())
	}

	for client := uint64(1); client <= cancelsPendingMax; client++ {
		if !cancels.add(client) {
			t.Fatalf("add %d refused below the bound", client)
		}
	}
	if cancels.add(cancelsPendingMax + 1) {
		t.Fatal("a cancel past cancelsPendingMax was added")
	}
	if !cancels.add(1) {
		t.Fatal("a client already waiting was refused at the bound")
	}
}
