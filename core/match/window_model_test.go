package match

import (
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// windowModelSeed seeds the windows of TestWindowAgainstModel; its key pool is crafted
// for this seed.
const windowModelSeed = 0x5eed

// windowModelHomeBits is how many low bits of a key's home the pool fixes: every pool key
// has its home in windowModelHomes at any index of up to 2^windowModelHomeBits buckets.
const windowModelHomeBits = 10

// windowModelHomes are the homes of the pool keys, modulo 2^windowModelHomeBits: the two
// first buckets and the last one, so probes from the last bucket wrap round to the
// crowded bucket 0 whatever the index's size.
var windowModelHomes = [...]uint64{0, 1, 1<<windowModelHomeBits - 1}

// windowModelOutside added to a pool key's client, account or client order id makes a
// key outside the pool, whose fields are all far smaller.
const windowModelOutside = 1 << 40

// windowModelKey is a window key of the model test.
type windowModelKey struct{ client, account, clientOrderID uint64 }

// windowModelPool returns keys whose hashes crowd onto windowModelHomes, in groups of
// eight siblings (consecutive client order ids of one account): most groups have tags
// that differ in their mixed bits, a few have the mixed tag bits all zero (so the pool
// holds keys with tag 0, and keys sharing home and tag with another group), and two pairs
// of groups have the same client order ids and share home and tag but differ in the
// account or in the client alone.
var windowModelPool = sync.OnceValue(func() []windowModelKey {
	const groupsAnyTag, groupsTagZero = 12, 3
	w := clientOrderWindow{seed: windowModelSeed}
	crowded := func(hash uint64) bool {
		return slices.Contains(windowModelHomes[:], hash>>32&(1<<windowModelHomeBits-1))
	}
	var keys []windowModelKey
	anyTag, tagZero := 0, 0
	for group := uint64(1); anyTag < groupsAnyTag || tagZero < groupsTagZero; group++ {
		account := 1 + group%3
		hash := w.hash(7, account, group<<3)
		if !crowded(hash) {
			continue
		}
		zero := windowTag(hash) == 0
		switch {
		case zero && tagZero < groupsTagZero:
			tagZero++
		case !zero && anyTag < groupsAnyTag:
			anyTag++
		default:
			continue
		}
		for sibling := range uint64(8) {
			keys = append(keys, windowModelKey{7, account, group<<3 | sibling})
		}
	}
	// Groups of one client order id group under two owners that differ only in the
	// account, or only in the client, and share home and tag: only the full key compare
	// tells them apart.
	for _, vary := range [...]string{"account", "client"} {
		owners := map[[2]uint64][2]uint64{} // (home, tag) → (client, account).
		for n := uint64(1); ; n++ {
			client, account := uint64(7), n
			if vary == "client" {
				client, account = n, 1
			}
			hash := w.hash(client, account, 1<<3)
			if !crowded(hash) {
				continue
			}
			at := [2]uint64{hash >> 32 & (1<<windowModelHomeBits - 1), uint64(windowTag(hash))}
			other, seen := owners[at]
			if !seen {
				owners[at] = [2]uint64{client, account}
				continue
			}
			for sibling := range uint64(8) {
				keys = append(keys, windowModelKey{other[0], other[1], 1<<3 | sibling},
					windowModelKey{client, account, 1<<3 | sibling})
			}
			break
		}
	}
	return keys
})

// TestWindowAgainstModel drives the idempotency window with keys crafted to crowd onto
// three home buckets (one the last, so probe runs wrap round the table's end), including
// keys with tag 0 and keys sharing home and tag, against a plain map and ring. The window
// is started with an index of one to eight buckets, so it doubles during the run while
// keys overflow (or with its usual index of windowBucketsMin buckets or more, where the
// crowded homes are still the first and last buckets), and steps also force a doubling
// at random and rebuild the window as Restore does (entries remembered oldest first into
// an index of another size). After every step it checks each answer of find, that every
// remembered key is found with its own entry and no forgotten key is, the ring order seen
// by at, and each bucket's overflow count against a recount of the stored keys' probe
// paths. A command also looks up, at random, another key between its own key's find and
// remember, which must not mislead remember's reuse of find's hash. Some steps are
// commands remembered elsewhere (an opted-in account's): while a key is left they take a
// slot without a key (age), and the newest key's life left is checked against the ring.
func TestWindowAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := windowModel{rt: rt, entriesMax: rapid.Uint32Range(1, 90).Draw(rt, "max"),
			value: map[windowModelKey]uint64{}, next: 1}
		m.w = m.newWindow("initial")
		steps := rapid.IntRange(1, 400).Draw(rt, "steps")
		for step := range steps {
			switch op := rapid.IntRange(0, 99).Draw(rt, "op"); {
			case op < 66:
				m.command(step)
			case op < 80:
				m.age()
			case op < 88: // A key outside the pool (pool accounts are small).
				key := rapid.SampledFrom(windowModelPool()).Draw(rt, "probe")
				key.account += windowModelOutside
				if _, found := m.w.find(key.client, key.account, key.clientOrderID); found {
					rt.Fatalf("step %d: key %v never remembered is found", step, key)
				}
			case op < 94: // Double the index now, whatever its load.
				m.w.index.grow(m.w.entries)
			default:
				m.restore(step)
			}
			checkWindowAgainstModel(rt, step, m.w, m.ring, m.value)
		}
	})
}

// windowModel is a run of TestWindowAgainstModel: the window and its model.
type windowModel struct {
	rt         *rapid.T
	entriesMax uint32
	w          *clientOrderWindow
	ring       []windowModelKey // Oldest first; the zero key is a slot without a key.
	value      map[windowModelKey]uint64
	next       uint64 // The order id of the next remembered key.
}

// newWindow returns an empty window, with an index of one to eight buckets or the usual.
func (m *windowModel) newWindow(label string) *clientOrderWindow {
	w := &clientOrderWindow{}
	w.init(m.entriesMax, rapid.Uint32Range(0, m.entriesMax).Draw(m.rt, label+" capacity"),
		windowModelSeed)
	if rapid.Bool().Draw(m.rt, label+" tiny index") {
		buckets := 1 << rapid.IntRange(0, 3).Draw(m.rt, label+" buckets log2")
		w.index = windowIndex{buckets: make([]windowBucket, buckets),
			mask: uint64(buckets - 1)}
	}
	return w
}

// command looks a key up, checks the answer, and remembers the key when it is absent.
func (m *windowModel) command(step int) {
	key := rapid.SampledFrom(windowModelPool()).Draw(m.rt, "key")
	entry, found := m.w.find(key.client, key.account, key.clientOrderID)
	want, present := m.value[key]
	if found != present || (found && entry.orderID != want) {
		m.rt.Fatalf("step %d: find %v = %v %+v, model %v %d", step, key, found, entry,
			present, want)
	}
	if found {
		return
	}
	if rapid.Bool().Draw(m.rt, "another find first") {
		// As a cancel by client order id looks the original key up between its own
		// key's find and remember: another key, or one that differs in a single field.
		other := rapid.SampledFrom(windowModelPool()).Draw(m.rt, "other key")
		switch rapid.IntRange(0, 3).Draw(m.rt, "other differs in") {
		case 1:
			other = key
			other.client += windowModelOutside
		case 2:
			other = key
			other.account += windowModelOutside
		case 3:
			other = key
			other.clientOrderID += windowModelOutside
		}
		m.w.find(other.client, other.account, other.clientOrderID)
	}
	m.takeSlot(key)
	m.value[key] = m.next
	m.w.remember(windowEntry{client: key.client, account: key.account,
		clientOrderID: key.clientOrderID, orderID: m.next, timestamp: m.next})
	m.next++
}

// takeSlot gives key (the zero key: none) the model ring's next slot, forgetting the
// oldest slot when the ring holds entriesMax.
func (m *windowModel) takeSlot(key windowModelKey) {
	if uint32(len(m.ring)) == m.entriesMax {
		delete(m.value, m.ring[0])
		m.ring = m.ring[1:]
	}
	m.ring = append(m.ring, key)
}

// age is a command remembered elsewhere (an opted-in account's): it takes a slot without
// a key while the window holds a key, as rememberCommand calls it.
func (m *windowModel) age() {
	if m.w.index.count == 0 {
		return
	}
	m.takeSlot(windowModelKey{})
	m.w.age()
}

// restore rebuilds the window as Restore does: a fresh window, whose index may have
// another size, remembers the slots from the oldest keyed one on (what a snapshot
// holds), each key looked up first, each slot without a key aged.
func (m *windowModel) restore(step int) {
	restored := m.newWindow("restored")
	for i := m.w.firstKeyed(); i < m.w.count(); i++ {
		entry := *m.w.at(i)
		if entry.account == 0 {
			restored.age()
			continue
		}
		if _, found := restored.find(entry.client, entry.account, entry.clientOrderID); found {
			m.rt.Fatalf("step %d: restored key found before it is remembered", step)
		}
		restored.remember(entry)
	}
	for len(m.ring) != 0 && m.ring[0] == (windowModelKey{}) {
		m.ring = m.ring[1:] // Leading slots without a key change nothing: not carried.
	}
	m.w = restored
}

func checkWindowAgainstModel(rt *rapid.T, step int, w *clientOrderWindow,
	ring []windowModelKey, value map[windowModelKey]uint64) {
	keyed, newestKeyed := 0, -1
	for i, key := range ring {
		if key != (windowModelKey{}) {
			keyed, newestKeyed = keyed+1, i
		}
	}
	if w.count() != uint32(len(ring)) || w.index.count != uint32(keyed) {
		rt.Fatalf("step %d: %d slots, %d indexed, model %d slots, %d keyed", step, w.count(),
			w.index.count, len(ring), keyed)
	}
	// The newest key is forgotten when the window has taken max slots after its own.
	lifeLeft := uint32(0)
	if newestKeyed >= 0 {
		lifeLeft = w.max - uint32(len(ring)-1-newestKeyed)
	}
	if w.keyedLifeLeft() != lifeLeft {
		rt.Fatalf("step %d: newest key's life left %d, model %d", step, w.keyedLifeLeft(),
			lifeLeft)
	}
	for i, key := range ring {
		entry := w.at(uint32(i))
		if key == (windowModelKey{}) {
			if *entry != (windowEntry{}) {
				rt.Fatalf("step %d: at(%d) = %+v, model a slot without a key", step, i, entry)
			}
			continue
		}
		if (windowModelKey{entry.client, entry.account, entry.clientOrderID}) != key ||
			entry.orderID != value[key] {
			rt.Fatalf("step %d: at(%d) = %+v, model %v %d", step, i, entry, key, value[key])
		}
		found, ok := w.find(key.client, key.account, key.clientOrderID)
		if !ok || found != entry {
			rt.Fatalf("step %d: key %v (the %d-th oldest) unreachable: %v %+v", step, key, i,
				ok, found)
		}
	}
	for _, key := range windowModelPool() {
		if _, remembered := value[key]; remembered {
			continue
		}
		if entry, found := w.find(key.client, key.account, key.clientOrderID); found {
			rt.Fatalf("step %d: forgotten key %v found: %+v", step, key, entry)
		}
	}
	// Recount each bucket's overflow from the stored keys' paths.
	x := &w.index
	overflow := make([]uint32, len(x.buckets))
	seen := map[uint32]bool{}
	for b := range x.buckets {
		for i := range windowBucketSlots {
			p := x.buckets[b].positions[i]
			if p == 0 {
				if x.buckets[b].tag(i) != 0 {
					rt.Fatalf("step %d: bucket %d slot %d is free with tag %#04x: place sets tags "+
						"by an or", step, b, i, x.buckets[b].tag(i))
				}
				continue
			}
			position := p - 1
			if position >= uint32(len(w.entries)) || seen[position] ||
				x.buckets[b].tag(i) != windowTag(w.entries[position].hash) {
				rt.Fatalf("step %d: bucket %d slot %d holds position %d wrongly", step, b, i,
					position)
			}
			seen[position] = true
			for h := x.home(w.entries[position].hash); h != uint64(b); h = (h + 1) & x.mask {
				overflow[h]++
			}
		}
	}
	for b := range x.buckets {
		if x.buckets[b].overflow != overflow[b] {
			rt.Fatalf("step %d: bucket %d of %d: overflow %d, want %d", step, b,
				len(x.buckets), x.buckets[b].overflow, overflow[b])
		}
	}
}
