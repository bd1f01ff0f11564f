package ledger

import (
	"math/rand/v2"
	"testing"
)

// TestCandidateInMatchesTheTwoTests holds candidateIn, which spells out slotIndex's one
// compare apart from it (TestSlotIndexMatchesTagAndLive tests slotIndex alone), and
// nextCandidate to the probe they replaced (the first slot of the run that is live with
// the hash's tag), on small tables of the slots a table may hold (empty, tombstones,
// live slots of the hash's tag and of the tags next to it, with the smallest and largest
// index parts) and hashes with the tags at both ends: a tombstone (tag all ones, index
// part 0) is one past the last live slot of the tag below it, 0xfffffffe, so a compare
// off by one there took it for that tag's index 2^32-1, indexNone, and ended the probe
// before a later slot with the tag.
func TestCandidateInMatchesTheTwoTests(t *testing.T) {
	random := rand.New(rand.NewPCG(46, 2))
	const slotCount = 16
	parts := []uint64{1, 2, 0x7fffffff, 0xfffffffe, 0xffffffff}
	tags := []uint64{0, 1, 2, 0x7fffffff, 0xfffffffd, 0xfffffffe, 0xffffffff}
	for round := range 20_000 {
		hashTag := tags[random.IntN(len(tags))]
		if round%4 == 0 {
			hashTag = random.Uint64() >> 32
		}
		hash := hashTag<<32 | random.Uint64()>>32
		slots := make([]uint64, slotCount)
		for i := range slots {
			switch kind := random.IntN(8); {
			case kind == 0:
				slots[i] = 0
			case kind <= 2:
				slots[i] = tombstone
			default:
				tag := (hashTag + uint64(random.IntN(3)) - 1) & 0xffffffff
				slots[i] = tag<<32 | parts[random.IntN(len(parts))]
			}
		}
		slots[random.IntN(slotCount)] = 0 // Every run ends.
		mask := uint64(slotCount - 1)
		want, wantPosition := indexNone, uint64(0)
		for position := home(hash, mask); ; position = (position + 1) & mask {
			slot := slots[position]
			if slot == 0 {
				wantPosition = position
				break
			}
			if live(slot) && slot&^0xffffffff == tagOf(hash) {
				want, wantPosition = uint32(slot)-1, position
				break
			}
		}
		if got := candidateIn(slots, mask, hash); got != want {
			t.Fatalf("slots %#x, hash %#x: candidateIn %#x, want %#x", slots, hash, got, want)
		}
		table := idTable{slots: slots, mask: mask}
		if got, position := table.nextCandidate(home(hash, mask), hash); got != want ||
			position != wantPosition {
			t.Fatalf("slots %#x, hash %#x: nextCandidate (%#x, %d), want (%#x, %d)", slots,
				hash, got, position, want, wantPosition)
		}
	}
}
