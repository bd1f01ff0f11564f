package match

import (
	"testing"

	"pgregory.net/rapid"
)

// referenceBucket and referenceIndex are the window's index as it was before session 42
// (merge 36e746d's first parent), kept as a reference model: ten 16-bit tags compared one
// by one, and a freed slot keeping its stale tag. Session 42 packed the tags two to a
// word, compared them four at a time and cleared a freed slot's tag; it claims every key
// still sits where it sat before and every lookup answers as before.
type referenceBucket struct {
	tags      [windowBucketSlots]uint16
	overflow  uint32
	positions [windowBucketSlots]uint32
}

type referenceIndex struct {
	buckets []referenceBucket
	mask    uint64
	count   uint32
}

func newReferenceIndex(buckets int) referenceIndex {
	return referenceIndex{buckets: make([]referenceBucket, buckets),
		mask: uint64(buckets - 1)}
}

func (x *referenceIndex) home(hash uint64) uint64 { return hash >> 32 & x.mask }

func (x *referenceIndex) insert(hash uint64, position uint32, entries []windowEntry) {
	if uint64(x.count+1) > uint64(len(x.buckets))*windowKeysPerBucketMax {
		x.grow(entries)
	}
	x.place(hash, position)
	x.count++
}

func (x *referenceIndex) place(hash uint64, position uint32) {
	for b := x.home(hash); ; b = (b + 1) & x.mask {
		bucket := &x.buckets[b]
		for i := range windowBucketSlots {
			if bucket.positions[i] == 0 {
				bucket.tags[i], bucket.positions[i] = windowTag(hash), position+1
				return
			}
		}
		bucket.overflow++
	}
}

func (x *referenceIndex) remove(hash uint64, position uint32) {
	for b, passed := x.home(hash), uint64(0); passed <= x.mask; b, passed = (b+1)&x.mask,
		passed+1 {
		bucket := &x.buckets[b]
		for i := range windowBucketSlots {
			if bucket.positions[i] == position+1 {
				bucket.positions[i] = 0 // The tag is left as it was.
				x.count--
				return
			}
		}
		if bucket.overflow == 0 {
			break
		}
		bucket.overflow--
	}
	panic("reference: entry missing from its index")
}

func (x *referenceIndex) grow(entries []windowEntry) {
	old := x.buckets
	x.buckets = make([]referenceBucket, 2*len(old))
	x.mask = uint64(len(x.buckets) - 1)
	for b := range old {
		for i := range windowBucketSlots {
			if position := old[b].positions[i]; position != 0 {
				x.place(entries[position-1].hash, position-1)
			}
		}
	}
}

// find is the lookup of before session 42, over the window's own entries: the position
// of the key's entry, if stored.
func (x *referenceIndex) find(entries []windowEntry, hash, client, account,
	clientOrderID uint64) (uint32, bool) {
	tag := windowTag(hash)
	for b, passed := x.home(hash), uint64(0); passed <= x.mask; b, passed = (b+1)&x.mask,
		passed+1 {
		bucket := &x.buckets[b]
		for i := range windowBucketSlots {
			if bucket.tags[i] != tag || bucket.positions[i] == 0 {
				continue
			}
			entry := &entries[bucket.positions[i]-1]
			if entry.clientOrderID == clientOrderID && entry.client == client &&
				entry.account == account {
				return bucket.positions[i] - 1, true
			}
		}
		if bucket.overflow == 0 {
			return 0, false
		}
	}
	return 0, false
}

// referenceRun is a run of TestWindowMatchesReferenceIndex: the window, and the
// reference index fed the same inserts, removals and doublings.
type referenceRun struct {
	rt        *rapid.T
	max       uint32
	w         *clientOrderWindow
	reference referenceIndex
	next      uint64
}

// newWindow returns an empty window (its index of one to eight buckets, or the usual)
// and a reference index of the same size.
func (r *referenceRun) newWindow(label string) {
	r.w = &clientOrderWindow{}
	r.w.init(r.max, rapid.Uint32Range(0, r.max).Draw(r.rt, label+" capacity"),
		windowModelSeed)
	if rapid.Bool().Draw(r.rt, label+" tiny index") {
		buckets := 1 << rapid.IntRange(0, 3).Draw(r.rt, label+" buckets log2")
		r.w.index = windowIndex{buckets: make([]windowBucket, buckets),
			mask: uint64(buckets - 1)}
	}
	r.reference = newReferenceIndex(len(r.w.index.buckets))
}

// slot mirrors takeSlot into the reference: the position the next slot takes, after
// removing the oldest keyed entry from the reference when the ring is full.
func (r *referenceRun) slot() uint32 {
	w := r.w
	if uint32(len(w.entries)) < w.max {
		return uint32(len(w.entries))
	}
	if oldest := &w.entries[w.oldest]; oldest.account != 0 {
		r.reference.remove(oldest.hash, w.oldest)
	}
	return w.oldest
}

func (r *referenceRun) remember(entry windowEntry) {
	position := r.slot()
	r.w.remember(entry)
	r.reference.insert(r.w.entries[position].hash, position, r.w.entries)
}

func (r *referenceRun) age() {
	if r.w.index.count == 0 {
		return // As rememberCommand: nothing to age.
	}
	r.slot()
	r.w.age()
}

// check compares the two indexes slot by slot (the reference's free slots keep stale
// tags, the window's must be 0), then the answer of find for every pool key and for a
// key outside the pool.
func (r *referenceRun) check(step int) {
	x, y := &r.w.index, &r.reference
	if len(x.buckets) != len(y.buckets) || x.count != y.count {
		r.rt.Fatalf("step %d: %d buckets %d keys, reference %d buckets %d keys", step,
			len(x.buckets), x.count, len(y.buckets), y.count)
	}
	for b := range x.buckets {
		got, want := &x.buckets[b], &y.buckets[b]
		if got.overflow != want.overflow || got.positions != want.positions {
			r.rt.Fatalf("step %d: bucket %d overflow %d positions %v, reference %d %v", step,
				b, got.overflow, got.positions, want.overflow, want.positions)
		}
		for i := range windowBucketSlots {
			wantTag := want.tags[i]
			if want.positions[i] == 0 {
				wantTag = 0
			}
			if got.tag(i) != wantTag {
				r.rt.Fatalf("step %d: bucket %d slot %d tag %#04x, want %#04x", step, b, i,
					got.tag(i), wantTag)
			}
		}
	}
	probe := rapid.SampledFrom(windowModelPool()).Draw(r.rt, "outside key")
	probe.clientOrderID += windowModelOutside
	for _, key := range append(windowModelPool(), probe) {
		hash := r.w.hash(key.client, key.account, key.clientOrderID)
		position, present := y.find(r.w.entries, hash, key.client, key.account,
			key.clientOrderID)
		entry, found := r.w.find(key.client, key.account, key.clientOrderID)
		if found != present || (found && entry != &r.w.entries[position]) {
			r.rt.Fatalf("step %d: find %v = %v, reference %v at %d", step, key, found,
				present, position)
		}
	}
}

// TestWindowMatchesReferenceIndex drives the window of session 42 and the index of
// session 41 (above) with the same commands, on TestWindowAgainstModel's crowded key pool
// (keys of tag 0, keys sharing home and tag, probe runs wrapping round the table),
// forced doublings and restores mid-stream (a fresh window, of another index size,
// remembering the ring's keyed slots oldest first, as Restore does). After every step
// the two indexes must hold the same positions in the same slots with the same overflow
// counts and tags, and find must answer every key as the reference lookup does: a miss
// where the reference hits would apply a resent command twice, a hit where it misses
// would answer a new command as a resend.
func TestWindowMatchesReferenceIndex(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		r := referenceRun{rt: rt, max: rapid.Uint32Range(1, 90).Draw(rt, "max"), next: 1}
		r.newWindow("initial")
		for step := range rapid.IntRange(1, 300).Draw(rt, "steps") {
			switch op := rapid.IntRange(0, 99).Draw(rt, "op"); {
			case op < 70:
				key := rapid.SampledFrom(windowModelPool()).Draw(rt, "key")
				if _, found := r.w.find(key.client, key.account, key.clientOrderID); !found {
					r.remember(windowEntry{client: key.client, account: key.account,
						clientOrderID: key.clientOrderID, orderID: r.next, timestamp: r.next})
					r.next++
				}
			case op < 85:
				r.age()
			case op < 92:
				r.w.index.grow(r.w.entries)
				r.reference.grow(r.w.entries)
			default:
				old := r.w
				r.newWindow("restored")
				for i := old.firstKeyed(); i < old.count(); i++ {
					if entry := *old.at(i); entry.account == 0 {
						r.age()
					} else {
						r.remember(entry)
					}
				}
			}
			r.check(step)
		}
	})
}
