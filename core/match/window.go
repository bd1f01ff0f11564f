package match

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"sequent/core/internal/hugepage"
	"sequent/core/internal/prefetch"
	"sequent/core/model"
)

// commandKind names an order command in the idempotency window.
type commandKind uint8

const (
	commandPlace      commandKind = 1
	commandCancel     commandKind = 2
	commandReplace    commandKind = 3
	commandMassCancel commandKind = 4
	commandKindEnd    commandKind = 5
)

// windowEntry is the remembered outcome of one order command. An entry of account 0 (a
// key never remembered: refused first) is a slot without a key (age): a command of an opted-in trading account, remembered in its
// own ring, that took its turn in the window so that the window ages by every command.
type windowEntry struct {
	client        uint64
	account       uint64
	clientOrderID uint64
	orderID       uint64 // The order concerned; for a mass cancel, how many it canceled.
	timestamp     uint64 // The command's timestamp.
	digest        uint64 // The command's other fields (see placeDigest and the like).
	hash          uint64 // Its hash in the index (see windowHash; not in snapshots).
	status        model.Status
	kind          commandKind
}

// clientOrderWindow remembers the outcomes of the most recent order commands, keyed by
// (client, account, client order id), so that a resend answers the original result. It is
// a ring of at most max slots (the oldest is forgotten first) with a hash index of the
// keyed ones. Every remembered command takes a slot: a window command its entry, a
// command of an opted-in trading account (remembered in its own ring) a slot without a
// key (age), so a key is forgotten after max commands of all clients, whoever sends
// them. While no keyed slot is left the keyless ones are not taken (nothing could be
// forgotten earlier or later by them), so opted-in traffic then costs the window nothing.
type clientOrderWindow struct {
	entries []windowEntry // Grows to max, then wraps.
	oldest  uint32        // Position of the oldest entry once the ring is full.
	max     uint32        // Entries remembered (Config.ClientOrderIDsMax).
	index   windowIndex   // Key → position in entries.
	seed    uint64
	// remembered counts the slots taken since the window was made or restored (keyed or
	// not), and newestKeyedAt its value when the newest keyed entry took its slot: that
	// entry, and every older one, is forgotten when remembered reaches newestKeyedAt +
	// max. Trading accounts with increasing client order ids measure from them when their
	// entries from before the opt-in are gone (increasingAccount.windowUntil).
	remembered    uint64
	newestKeyedAt uint64

	// The key find hashed last and its hash: a command looks its key up, then remembers
	// its outcome under the same key, so remember reuses the hash instead of hashing again.
	lastClient, lastAccount, lastClientOrderID uint64
	lastHash                                   uint64
}

func (w *clientOrderWindow) init(entriesMax uint32, capacity uint32, seed uint64) {
	w.max, w.seed = entriesMax, seed
	w.entries = make([]windowEntry, 0, capacity)
	hugepage.Advise(w.entries[:capacity])
	clear(w.entries[:capacity]) // Fault the pages in now, not on the hot path.
	w.index = newWindowIndex(capacity)
}

// hash hashes a key. Clients number their orders consecutively, so the three low bits of
// the client order id are kept as the hash's low bits (hence its bucket tag's), and only
// the rest is mixed: the eight consecutive ids of one account share one bucket, one
// 64-byte line, so an account's recent commands (found, inserted, and a window later
// forgotten) cost about one cache miss per eight instead of one each. The tag still
// differs between those siblings, and groups are spread by the seeded mix.
func (w *clientOrderWindow) hash(client, account, clientOrderID uint64) uint64 {
	return hash192(client, account, clientOrderID>>3, w.seed)&^7 | clientOrderID&7
}

// find returns the remembered outcome of the command with the key.
func (w *clientOrderWindow) find(client, account, clientOrderID uint64) (*windowEntry, bool) {
	hash := w.hash(client, account, clientOrderID)
	w.lastClient, w.lastAccount, w.lastClientOrderID, w.lastHash = client, account,
		clientOrderID, hash
	x := &w.index
	tag := tagLanes(windowTag(hash))
	// At most one pass over the table, as remove: the walk ends at the first bucket
	// nothing overflowed past, and with oldest-first forgetting some bucket always has
	// a zero count (all N buckets marked at once would need 10N keys inserted within the
	// last two window lengths, and at two keys per bucket those hold at most 4N),
	// but the bound makes termination independent of that argument. A key absent from
	// every bucket is absent.
	for b, passed := x.home(hash), uint64(0); passed <= x.mask; b, passed = (b+1)&x.mask,
		passed+1 {
		bucket := &x.buckets[b]
		// The slots whose tag is the key's, four at a time (see tagLanesEqual): mostly
		// none, where comparing ten tags one by one cost ~60 instructions a bucket.
		low := tagLanesEqual(uint64(bucket.tags[0])|uint64(bucket.tags[1])<<32, tag)
		high := tagLanesEqual(uint64(bucket.tags[2])|uint64(bucket.tags[3])<<32, tag)
		last := tagLanesEqual(uint64(bucket.tags[4]), tag) & 0x8000_8000 // Two lanes.
		// One bit per slot: slot 4*word+lane at bit 16*lane+word (word 0 low, 1 high,
		// 2 last).
		for slots := low>>15 | high>>14 | last>>13; slots != 0; slots &= slots - 1 {
			bit := bits.TrailingZeros64(slots)
			i := bit%16*4 + bit/16
			if bucket.positions[i] == 0 {
				continue // A free slot (tag 0).
			}
			entry := &w.entries[bucket.positions[i]-1]
			if entry.clientOrderID == clientOrderID && entry.client == client &&
				entry.account == account {
				return entry, true
			}
		}
		if bucket.overflow == 0 {
			break
		}
	}
	// A new key: its outcome will be remembered, which forgets the oldest entry once the
	// ring is full. The prefetches for the commands to come are made here, after the
	// walk, rather than before it: no value of the walk is then live across their calls
	// (spilled and reloaded around them), and a resend, which remembers nothing, makes
	// none. The next group's first (1 in 8 commands), so that prefetchForget's call is
	// the last and nothing is kept across it. Callgrind, session 53: −8.3 instructions
	// per book-only command of the 200,000-command recipe, −7.3 per command of
	// BenchmarkWindow's steady state (bench/PERFORMANCE.md, "Session 53").
	if clientOrderID&7 == 7 {
		w.prefetchNextGroup(client, account, clientOrderID)
	}
	w.prefetchForget()
	return nil, false
}

// tagLanes returns tag in each of four 16-bit lanes, for tagLanesEqual.
func tagLanes(tag uint16) uint64 { return uint64(tag) * 0x0001_0001_0001_0001 }

// tagLanesEqual returns, of the four 16-bit lanes of slots, those equal to the tag in
// every lane of tags (tagLanes), each as its lane's top bit (bit 15, 31, 47 or 63).
// Exact: a lane is marked only if it equals the tag (the low fifteen bits of each lane
// are added without carrying into the next).
func tagLanesEqual(slots, tags uint64) uint64 {
	const low15, high = 0x7fff_7fff_7fff_7fff, 0x8000_8000_8000_8000
	x := slots ^ tags // Lanes equal to the tag are now zero.
	// A lane's top bit ends set iff the lane is non-zero: its low fifteen bits plus
	// 0x7fff carry into bit 15 unless they are all zero, and x keeps bit 15's own value.
	return ^((x&low15 + low15) | x) & high
}

// prefetchForget prefetches the index bucket of the entry remember will forget
// windowForgetAhead commands from now. That bucket and the one find reads are both often
// cache misses (keys a window apart, at random places in the index); the forget key is
// known a whole window ahead (the ring's oldest entries keep their hashes), so its line
// is requested early and arrives while other commands run, without stalling this one.
// A prefetch is only a hint and changes no state: nothing observable depends on it, and
// when commands do not forget (a ring not yet full, a keyless slot: hash 0, a new key
// refused before it is remembered) the line is merely fetched for nothing. find calls
// it for a new key only: a resend remembers nothing.
func (w *clientOrderWindow) prefetchForget() {
	if uint32(len(w.entries)) < w.max {
		return // Nothing is forgotten until the ring is full.
	}
	position := w.slotAhead(windowForgetAhead)
	// The ring entry whose hash is read here was itself prefetched windowRingAhead -
	// windowForgetAhead slots taken ago (below): the ring is a window's length of 64-byte
	// entries, read in order but a whole window after they were written, so each entry's
	// line is otherwise a miss of its own, taken by this load. Both lines are requested
	// in one call: a call of prefetch.Line each cost ~8 instructions a command more (the
	// values kept across the first assembly call spilled and reloaded; BenchmarkWindow
	// under callgrind, session 53).
	x := &w.index
	prefetch.TwoLines(uintptr(unsafe.Pointer(&w.entries[w.slotAhead(windowRingAhead)])),
		uintptr(unsafe.Pointer(&x.buckets[x.home(w.entries[position].hash)])))
}

// slotAhead is the ring slot ahead slots after the oldest (modulo max, any max >= 1),
// dividing only when it wraps: rare, ahead of every max commands.
func (w *clientOrderWindow) slotAhead(ahead uint32) uint32 {
	slot := w.oldest + ahead
	if slot >= w.max {
		slot %= w.max
	}
	return slot
}

// remember records the outcome of a command whose key is not in the window, forgetting
// the oldest entry when the window is full.
func (w *clientOrderWindow) remember(entry windowEntry) {
	w.rememberFrom(&entry)
}

// rememberFrom is remember of the entry at entry (not one of the window's own), which
// it copies into the ring once: the engine's commands pass their 64-byte entry down by
// pointer instead of copying it at each call.
func (w *clientOrderWindow) rememberFrom(entry *windowEntry) {
	hash := w.lastHash
	if entry.client != w.lastClient || entry.account != w.lastAccount ||
		entry.clientOrderID != w.lastClientOrderID {
		hash = w.hash(entry.client, entry.account, entry.clientOrderID)
	}
	position := w.takeSlot()
	stored := &w.entries[position]
	*stored = *entry
	stored.hash = hash
	w.newestKeyedAt = w.remembered
	w.index.insert(hash, position, w.entries)
}

// prefetchNextGroup prefetches the home bucket of the group of eight ids after the one
// clientOrderID (the last of its group) ends. Clients number their commands
// consecutively (the window's hash is built on it), so the account's next command most
// likely has the next id, the first of a new group, whose bucket is at a random place in
// the index and was last touched a window ago: the one cache miss left on find's path
// for a new key (the seven siblings after it find their bucket cached). Requested now,
// the line arrives while other commands run. Only a hint: a client that numbers
// otherwise merely had a line fetched for nothing (the id after the largest wraps to 0,
// likewise), and nothing observable depends on it. find calls it rather than
// rememberFrom, where the same call cost ~7 instructions a command more in spills.
func (w *clientOrderWindow) prefetchNextGroup(client, account, clientOrderID uint64) {
	x := &w.index
	hash := w.hash(client, account, clientOrderID+1)
	prefetch.Line(uintptr(unsafe.Pointer(&x.buckets[x.home(hash)])))
}

// age gives a command remembered elsewhere (in an opted-in account's ring) its slot:
// the window forgets its oldest slot as a window command would. The caller skips it
// when no keyed entry is left (w.index.count == 0): then it could change nothing.
func (w *clientOrderWindow) age() {
	w.entries[w.takeSlot()] = windowEntry{}
}

// takeSlot returns the position of the next slot, forgetting the oldest when the ring
// is full; the caller writes the slot.
func (w *clientOrderWindow) takeSlot() uint32 {
	w.remembered++
	if uint32(len(w.entries)) < w.max {
		w.entries = append(w.entries, windowEntry{})
		return uint32(len(w.entries)) - 1
	}
	position := w.oldest
	if w.entries[position].account != 0 {
		w.index.remove(w.entries[position].hash, position)
	}
	w.oldest = (w.oldest + 1) % w.max
	return position
}

// windowForgetAhead is how many commands ahead prefetchForget fetches the bucket of the
// entry to forget: far enough that the line arrives before remember needs it, near enough
// that it is still cached then.
const windowForgetAhead = 1

// windowRingAhead is how many commands ahead prefetchForget fetches the ring entry to
// forget (whose hash it reads windowRingAhead - windowForgetAhead commands later): more
// than windowForgetAhead, so that the entry is cached when its hash is read.
const windowRingAhead = 8

// windowBucketSlots is how many keys one bucket of the window's index holds: ten 16-bit
// tags, a 32-bit overflow count and ten 32-bit positions fill one 64-byte cache line, so
// a lookup reads the tags and the positions together. A lookup compares its tag with
// four slots' tags at once (tagLanesEqual).
const windowBucketSlots = 10

// windowBucketsMin is the smallest window index (8 KiB), so small engines stay small.
const windowBucketsMin = 128

// windowKeysPerBucketMax is the load (keys per bucket of ten slots, 20%) above which the
// index doubles. A group of eight sibling keys fills most of its bucket and a second
// group homed there spills into the next one, so the load is kept low: on
// BenchmarkMatching's keys a lookup then reads 1.27 buckets on average (2.2 at 4 keys per
// bucket, whose index is half the size but measured ~9% slower per window command).
const windowKeysPerBucketMax = 2

// windowBucket is one cache line of the window's index.
type windowBucket struct {
	// The slots' tags (the low 16 bits of the key's hash), two to a word: slot i in
	// bits 16*(i%2) up of tags[i/2] (written i&1<<4 and i>>1 below: for a signed i the
	// compiler adds sign fixes to % and /, ~10 instructions a call in remove). Shifts place them rather than an array of 16-bit
	// tags read through a wider pointer, so that a lookup's lane order does not depend
	// on the machine's byte order. A free slot's tag is 0 (so that place can set it by an
	// or), and so is a key's whose hash ends in 0: a lookup checks positions too.
	tags      [windowBucketSlots / 2]uint32
	overflow  uint32                    // Keys stored beyond this bucket that passed it.
	positions [windowBucketSlots]uint32 // Ring position + 1; 0 = a free slot.
}

// tag returns slot i's tag.
func (bucket *windowBucket) tag(i int) uint16 { return uint16(bucket.tags[i>>1] >> (i & 1 << 4)) }

// setTag sets the tag of slot i, a free slot (whose tag is 0).
func (bucket *windowBucket) setTag(i int, tag uint16) {
	bucket.tags[i>>1] |= uint32(tag) << (i & 1 << 4)
}

// clearTag sets slot i's tag to 0, as a free slot's.
func (bucket *windowBucket) clearTag(i int) {
	bucket.tags[i>>1] &^= 0xffff << (i & 1 << 4)
}

// windowBucketBytes is a cache line: the bucket must fill exactly one.
const windowBucketBytes = 64

const _ uintptr = unsafe.Sizeof(windowBucket{}) - windowBucketBytes
const _ uintptr = windowBucketBytes - unsafe.Sizeof(windowBucket{})

// windowIndex maps the window's keys to their ring positions: open addressing over
// buckets of ten slots, a key stored in the first free slot from its home bucket on. A
// bucket counts the keys that passed it full (overflow), so a lookup stops at the first
// bucket without overflow, and a key never moves: removal frees its slot and lowers the
// counts on its path, without shifting others. Layout is never observable.
type windowIndex struct {
	buckets []windowBucket // Power-of-two length; owned by the sequencer goroutine.
	mask    uint64         // len(buckets) - 1.
	count   uint32         // Keys stored.
}

func newWindowIndex(capacity uint32) windowIndex {
	buckets := uint64(windowBucketsMin)
	for buckets*windowKeysPerBucketMax < uint64(capacity) {
		buckets *= 2
	}
	x := windowIndex{buckets: make([]windowBucket, buckets), mask: buckets - 1}
	hugepage.Advise(x.buckets) // Random access: huge pages spare the TLB misses.
	clear(x.buckets)           // Touch every page now rather than fault them in later.
	return x
}

// windowTag is a key's tag in its bucket: the low bits of its hash, so that sibling keys
// (same group of eight ids) always differ.
func windowTag(hash uint64) uint16 { return uint16(hash) }

// home returns a key's home bucket, from the high half of its hash.
func (x *windowIndex) home(hash uint64) uint64 { return hash >> 32 & x.mask }

// insert stores position for the key with hash. The caller has checked that the key is
// absent. It grows the index first when one more key would exceed the load limit
// (entries, which hold every stored key's hash, are read then).
func (x *windowIndex) insert(hash uint64, position uint32, entries []windowEntry) {
	if uint64(x.count+1) > uint64(len(x.buckets))*windowKeysPerBucketMax {
		x.grow(entries)
	}
	x.place(hash, position+1)
	x.count++
}

// place puts stored (a ring position + 1, as positions hold it) in the first free slot
// from the key's home bucket on. It is kept small enough for the compiler to inline into
// insert (cost 79 of a budget of 80 with Go 1.26; `go build -gcflags=-m` says so): as a
// call it cost ~17 instructions per command more, and BenchmarkWindow beat the code of
// session 41 in fewer rounds than inlined (core/match/README.md, session 42).
func (x *windowIndex) place(hash uint64, stored uint32) {
	for b := x.home(hash); ; b = (b + 1) & x.mask {
		bucket := &x.buckets[b]
		for i := range windowBucketSlots {
			if bucket.positions[i] == 0 {
				bucket.setTag(i, windowTag(hash))
				bucket.positions[i] = stored
				return
			}
		}
		bucket.overflow++
	}
}

// remove frees the slot of the key with hash stored at position.
func (x *windowIndex) remove(hash uint64, position uint32) {
	for b, passed := x.home(hash), uint64(0); passed <= x.mask; b, passed = (b+1)&x.mask,
		passed+1 {
		bucket := &x.buckets[b]
		for i := range windowBucketSlots {
			if bucket.positions[i] == position+1 {
				bucket.positions[i] = 0
				bucket.clearTag(i)
				x.count--
				return
			}
		}
		if bucket.overflow == 0 {
			break
		}
		bucket.overflow--
	}
	panic("match: idempotency window entry missing from its index")
}

// grow doubles the index; homes come from the hashes the entries keep.
func (x *windowIndex) grow(entries []windowEntry) {
	old := x.buckets
	x.buckets = make([]windowBucket, 2*len(old))
	hugepage.Advise(x.buckets)
	x.mask = uint64(len(x.buckets) - 1)
	for b := range old {
		for i := range windowBucketSlots {
			if position := old[b].positions[i]; position != 0 {
				x.place(entries[position-1].hash, position)
			}
		}
	}
}

// count returns the number of slots taken (keyed or not).
func (w *clientOrderWindow) count() uint32 { return uint32(len(w.entries)) }

// firstKeyed returns the rank (from the oldest) of the oldest keyed slot; count() if
// there is none. The keyless slots before it change nothing: a snapshot leaves them out.
func (w *clientOrderWindow) firstKeyed() uint32 {
	if w.index.count == 0 {
		return w.count()
	}
	i := uint32(0)
	for w.at(i).account == 0 {
		i++
	}
	return i
}

// keyedLifeLeft returns how many more slots the window takes before its newest keyed
// entry (and so every keyed entry) is forgotten; 0 when there is none.
func (w *clientOrderWindow) keyedLifeLeft() uint32 {
	if w.index.count == 0 {
		return 0
	}
	return uint32(w.newestKeyedAt + uint64(w.max) - w.remembered)
}

// at returns the i-th oldest slot.
func (w *clientOrderWindow) at(i uint32) *windowEntry {
	if uint32(len(w.entries)) < w.max {
		return &w.entries[i]
	}
	return &w.entries[(w.oldest+i)%w.max]
}

// The digests below summarise the fields of an order command other than its key, so
// that a resend can be told from a mistake: the same key with the same kind and digest
// is a resend (the original outcome is answered), with another digest it is
// client_order_id_exists_with_different_fields. The mixing is fixed (the digest is
// state: snapshots carry it, replicas must agree) and each step is a bijection of the
// running value for a given word, so two commands differing in one field always get
// different digests; several differences collide with probability about 2^-64.

// digestStart is the digest's value before its first word.
const digestStart = 0x243f6a8885a308d3

// digestStep mixes one more word into the running digest h: a bijection of h for a
// given word.
func digestStep(h, word uint64) uint64 {
	h ^= word
	h *= 0x9e3779b97f4a7c15
	return h ^ h>>32
}

// digestWords mixes words in order into a 64-bit digest. The command digests below are
// this, written out step by step: a variadic call builds its words in a stack array and
// loops over them, which cost about as much again as the mixing itself (a replace, most
// of the commands of exchange-core's mix, digests six words).
// TestDigestsAreDigestWords holds them to it.
func digestWords(words ...uint64) uint64 {
	h := uint64(digestStart)
	for _, word := range words {
		h = digestStep(h, word)
	}
	return h
}

// bytesWord packs up to eight bytes into a word.
func bytesWord(b []byte) uint64 {
	var w uint64
	for i, x := range b {
		w |= uint64(x) << (8 * i)
	}
	return w
}

// placeDigest covers every field of a place event but its key. Bytes 104 to 119 (flags
// and reserved) are mixed as the two little-endian words they were when all sixteen were
// reserved, so digests remembered before the flags existed still match their resends:
// the flags byte and reserved bytes 0 to 6 (the shift drops byte 7), then bytes 7 to 14.
func placeDigest(o *model.Order) uint64 {
	small := uint64(o.Instrument) | uint64(o.Side)<<32 | uint64(o.Type)<<40 |
		uint64(o.TimeInForce)<<48 | uint64(o.SelfTrade)<<56
	h := digestStep(digestStart, o.BaseAccountID.Lo)
	h = digestStep(h, o.BaseAccountID.Hi)
	h = digestStep(h, o.QuoteAccountID.Lo)
	h = digestStep(h, o.QuoteAccountID.Hi)
	h = digestStep(h, o.Price)
	h = digestStep(h, o.Quantity)
	h = digestStep(h, o.ReservePrice)
	h = digestStep(h, o.ExpireTimestamp)
	h = digestStep(h, o.Budget.Lo)
	h = digestStep(h, o.Budget.Hi)
	h = digestStep(h, small)
	h = digestStep(h, uint64(o.Flags)|binary.LittleEndian.Uint64(o.Reserved[0:8])<<8)
	h = digestStep(h, binary.LittleEndian.Uint64(o.Reserved[7:15]))
	return digestStep(h, o.Timestamp)
}

// cancelDigest covers the fields of a cancel event but its key.
func cancelDigest(c *model.OrderCancel) uint64 {
	return digestStep(digestStep(digestStart, c.OrderID), c.OriginalClientOrderID)
}

// replaceDigest covers the fields of a replace event but its key.
func replaceDigest(r *model.OrderReplace) uint64 {
	h := digestStep(digestStart, r.OrderID)
	h = digestStep(h, r.OriginalClientOrderID)
	h = digestStep(h, r.Price)
	h = digestStep(h, r.Quantity)
	h = digestStep(h, r.ReservePrice)
	return digestStep(h, r.Reserved)
}

// massCancelDigest covers the fields of a mass cancel event but its key.
func massCancelDigest(m *model.MassCancel) uint64 {
	return digestWords(uint64(m.Instrument)|uint64(m.Side)<<32, bytesWord(m.Reserved[:8]),
		bytesWord(m.Reserved[8:]))
}
