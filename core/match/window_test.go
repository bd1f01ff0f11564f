package match

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

// TestWindowIndexOverflow drives the window's index with hashes crowded onto three home
// buckets (one of them the last, so probes wrap to bucket 0) far beyond a bucket's ten
// slots, inserting and removing at random, and checks after every step that each bucket's
// overflow count is the number of stored keys whose probe passed it, and that every
// stored key is reachable from its home.
func TestWindowIndexOverflow(t *testing.T) {
	random := rand.New(rand.NewPCG(3, 4))
	x := newWindowIndex(1)
	homes := []uint64{0, 5, x.mask}
	const positions = 400
	entries := make([]windowEntry, positions)
	stored := map[uint32]bool{}
	for step := range 20_000 {
		position := uint32(random.IntN(positions))
		if stored[position] {
			x.remove(entries[position].hash, position)
			delete(stored, position)
		} else {
			entries[position].hash = homes[random.IntN(len(homes))]<<32 | random.Uint64()&0xffff
			x.insert(entries[position].hash, position, entries)
			stored[position] = true
		}
		if x.mask != uint64(windowBucketsMin-1) {
			t.Fatalf("step %d: the index grew to %d buckets", step, x.mask+1)
		}
		checkWindowIndex(t, &x, entries, stored)
	}
}

func checkWindowIndex(t *testing.T, x *windowIndex, entries []windowEntry,
	stored map[uint32]bool) {
	t.Helper()
	overflow := make([]uint32, len(x.buckets))
	count := 0
	for b := range x.buckets {
		for i := range windowBucketSlots {
			p := x.buckets[b].positions[i]
			if p == 0 {
				if x.buckets[b].tag(i) != 0 {
					t.Fatalf("bucket %d slot %d is free with tag %#04x: place sets tags by an or", b, i,
						x.buckets[b].tag(i))
				}
				continue
			}
			count++
			position := p - 1
			if !stored[position] || x.buckets[b].tag(i) != windowTag(entries[position].hash) {
				t.Fatalf("bucket %d holds position %d (stored %v)", b, position, stored[position])
			}
			for h := x.home(entries[position].hash); h != uint64(b); h = (h + 1) & x.mask {
				overflow[h]++
			}
		}
	}
	if count != len(stored) || x.count != uint32(count) {
		t.Fatalf("%d slots used, %d stored, count %d", count, len(stored), x.count)
	}
	for b := range x.buckets {
		if x.buckets[b].overflow != overflow[b] {
			t.Fatalf("bucket %d: overflow %d, want %d", b, x.buckets[b].overflow, overflow[b])
		}
	}
}

// TestWindowIndexGrows fills a window allocated small, so its index doubles several times
// while keys of one account share buckets, then checks that every key is found and that
// forgetting the oldest keeps the rest.
func TestWindowIndexGrows(t *testing.T) {
	const max = 5000
	var w clientOrderWindow
	w.init(max, 1, 9)
	for key := uint64(1); key <= 3*max; key++ {
		if _, found := w.find(7, 1, key); found {
			t.Fatalf("key %d found before it was remembered", key)
		}
		w.remember(windowEntry{client: 7, account: 1, clientOrderID: key, orderID: key})
		for _, probe := range []uint64{key, key - min(key-1, max-1)} {
			if entry, found := w.find(7, 1, probe); !found || entry.orderID != probe {
				t.Fatalf("after key %d: key %d not found", key, probe)
			}
		}
		if key > max {
			if _, found := w.find(7, 1, key-max); found {
				t.Fatalf("after key %d: key %d still found", key, key-max)
			}
		}
	}
	if w.index.count != max || len(w.index.buckets)*windowKeysPerBucketMax < max {
		t.Fatalf("%d keys in %d buckets", w.index.count, len(w.index.buckets))
	}
}

// TestWindowTellsKeysWithOneTag finds two keys with the same home bucket and tag and
// checks that the window answers each with its own entry: a tag match alone is not a
// match.
func TestWindowTellsKeysWithOneTag(t *testing.T) {
	var w clientOrderWindow
	w.init(64, 64, 5)
	first := w.hash(1, 1, 8)
	other := uint64(0)
	for id := uint64(16); other == 0; id += 8 {
		if h := w.hash(1, 1, id); w.index.home(h) == w.index.home(first) &&
			windowTag(h) == windowTag(first) {
			other = id
		}
	}
	w.remember(windowEntry{client: 1, account: 1, clientOrderID: 8, orderID: 100})
	if _, found := w.find(1, 1, other); found {
		t.Fatalf("key %d found: it shares only the tag of key 8", other)
	}
	w.remember(windowEntry{client: 1, account: 1, clientOrderID: other, orderID: 200})
	for id, orderID := range map[uint64]uint64{8: 100, other: 200} {
		if entry, found := w.find(1, 1, id); !found || entry.orderID != orderID {
			t.Fatalf("key %d: found %v, entry %+v", id, found, entry)
		}
	}
}

// TestPlaceDigestKeepsReservedBytes: window entries remembered before byte 104 became
// the flags byte carry digests of the sixteen reserved bytes as two little-endian
// words; a resend of such a place (flags 0, or whatever bytes it sent) must digest the
// same now, or a safe resend across the upgrade would be refused as different fields.
func TestPlaceDigestKeepsReservedBytes(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		o := limitOrder(1, 9, model.SideBuy, 100, 10)
		o.Flags = rapid.Uint8().Draw(rt, "flags")
		for i := range o.Reserved {
			if rapid.IntRange(0, 3).Draw(rt, "set") == 0 {
				o.Reserved[i] = rapid.Uint8().Draw(rt, "byte")
			}
		}
		var b [model.OrderSize]byte
		o.Encode(b[:])
		small := uint64(o.Instrument) | uint64(o.Side)<<32 | uint64(o.Type)<<40 |
			uint64(o.TimeInForce)<<48 | uint64(o.SelfTrade)<<56
		// The digest as written before the flags existed: bytes 104 to 119 of the event.
		before := digestWords(o.BaseAccountID.Lo, o.BaseAccountID.Hi, o.QuoteAccountID.Lo,
			o.QuoteAccountID.Hi, o.Price, o.Quantity, o.ReservePrice, o.ExpireTimestamp,
			o.Budget.Lo, o.Budget.Hi, small, binary.LittleEndian.Uint64(b[104:]),
			binary.LittleEndian.Uint64(b[112:]), o.Timestamp)
		if got := placeDigest(&o); got != before {
			rt.Fatalf("digest %#x, before the flags %#x", got, before)
		}
	})
}

// TestDigestsAreDigestWords: placeDigest, cancelDigest and replaceDigest are written out
// step by step (no variadic call); each must still be digestWords of the words the
// digest has always mixed, in the same order, or every digest remembered in a snapshot
// or a replica would stop matching its resends. Every field is drawn over its whole
// range, the reserved bytes one by one, so a word mixed out of order, dropped, or read
// from the wrong bytes changes some draw's digest.
func TestDigestsAreDigestWords(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		word := func(label string) uint64 { return rapid.Uint64().Draw(rt, label) }
		o := model.Order{BaseAccountID: model.Uint128{Lo: word("base lo"), Hi: word("base hi")},
			QuoteAccountID: model.Uint128{Lo: word("quote lo"), Hi: word("quote hi")},
			Price:          word("price"), Quantity: word("quantity"),
			ReservePrice: word("reserve price"), ExpireTimestamp: word("expire"),
			Budget:    model.Uint128{Lo: word("budget lo"), Hi: word("budget hi")},
			Timestamp: word("timestamp"), Instrument: rapid.Uint32().Draw(rt, "instrument"),
			Side: model.Side(rapid.Uint8().Draw(rt, "side")), Type: model.OrderType(
				rapid.Uint8().Draw(rt, "type")), TimeInForce: model.TimeInForce(
				rapid.Uint8().Draw(rt, "time in force")), SelfTrade: model.SelfTradeMode(
				rapid.Uint8().Draw(rt, "self trade")), Flags: rapid.Uint8().Draw(rt, "flags")}
		for i := range o.Reserved {
			o.Reserved[i] = rapid.Uint8().Draw(rt, "reserved byte")
		}
		small := uint64(o.Instrument) | uint64(o.Side)<<32 | uint64(o.Type)<<40 |
			uint64(o.TimeInForce)<<48 | uint64(o.SelfTrade)<<56
		place := digestWords(o.BaseAccountID.Lo, o.BaseAccountID.Hi, o.QuoteAccountID.Lo,
			o.QuoteAccountID.Hi, o.Price, o.Quantity, o.ReservePrice, o.ExpireTimestamp,
			o.Budget.Lo, o.Budget.Hi, small, uint64(o.Flags)|bytesWord(o.Reserved[:7])<<8,
			bytesWord(o.Reserved[7:]), o.Timestamp)
		if got := placeDigest(&o); got != place {
			rt.Fatalf("place digest %#x, digestWords %#x", got, place)
		}
		c := model.OrderCancel{ClientOrderID: word("key"), Account: word("account"),
			OrderID: word("order"), OriginalClientOrderID: word("original key")}
		if got, want := cancelDigest(&c), digestWords(c.OrderID,
			c.OriginalClientOrderID); got != want {
			rt.Fatalf("cancel digest %#x, digestWords %#x", got, want)
		}
		r := model.OrderReplace{ClientOrderID: word("key"), Account: word("account"),
			OrderID: word("order"), OriginalClientOrderID: word("original key"),
			Price: word("new price"), Quantity: word("new quantity"),
			ReservePrice: word("new reserve price"), Reserved: word("reserved")}
		if got, want := replaceDigest(&r), digestWords(r.OrderID, r.OriginalClientOrderID,
			r.Price, r.Quantity, r.ReservePrice, r.Reserved); got != want {
			rt.Fatalf("replace digest %#x, digestWords %#x", got, want)
		}
	})
}

// TestTagLanesEqual compares tagLanesEqual with a lane-by-lane comparison on words
// built to trip a carry or borrow between lanes: lanes equal to the tag, differing from
// it only in the top bit or only in the lowest, zero and all-ones lanes, beside random
// ones. A lane equal to the tag that is not marked would make find miss a remembered
// key; a marked lane that differs would cost a needless entry read.
func TestTagLanesEqual(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		tag := rapid.Uint16().Draw(rt, "tag")
		var slots, want uint64
		for lane := range 4 {
			var value uint16
			switch rapid.IntRange(0, 5).Draw(rt, "kind") {
			case 0:
				value = tag
			case 1:
				value = tag ^ 0x8000
			case 2:
				value = tag ^ 1
			case 3:
				value = 0
			case 4:
				value = 0xffff
			default:
				value = rapid.Uint16().Draw(rt, "lane")
			}
			slots |= uint64(value) << (16 * lane)
			if value == tag {
				want |= 1 << (16*lane + 15)
			}
		}
		if got := tagLanesEqual(slots, tagLanes(tag)); got != want {
			rt.Fatalf("slots %#016x tag %#04x: lanes %#016x, want %#016x", slots, tag, got,
				want)
		}
	})
}

// TestWindowBucketTags frees and sets slots' tags in random order, as remove and place
// do, and reads them all back after each step: slot i's tag lives in its own lane of its
// own word, and freeing a slot leaves it 0, as setTag requires.
func TestWindowBucketTags(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var bucket windowBucket
		var want [windowBucketSlots]uint16
		check := func(step string) {
			for j := range windowBucketSlots {
				if got := bucket.tag(j); got != want[j] {
					rt.Fatalf("after %s: slot %d: tag %#04x, want %#04x", step, j, got, want[j])
				}
			}
		}
		for range rapid.IntRange(1, 60).Draw(rt, "writes") {
			i := rapid.IntRange(0, windowBucketSlots-1).Draw(rt, "slot")
			bucket.clearTag(i)
			want[i] = 0
			check("clearTag")
			want[i] = rapid.Uint16().Draw(rt, "tag")
			bucket.setTag(i, want[i])
			check("setTag")
		}
	})
}
