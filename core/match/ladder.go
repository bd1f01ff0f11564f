package match

import (
	"fmt"
	"math/bits"
)

// ladder indexes the levels of one book side whose prices lie in a span of ladderTicks
// consecutive ticks (where nearly all activity happens: near the top of the book): entry
// i is the level at price base + i × tick, and a bitmap marks the occupied entries, so
// finding a level is one array read and finding a new level's neighbours is a scan of a
// few bitmap words, with no tree walk and no rebalancing. Levels outside the span live
// in the side's AVL tree. Invariant (checkLadder): a level whose price is in the span is
// in the ladder and not in the tree; any other level is in the tree.
//
// Which levels sit in the ladder and which in the tree is never observable (answers and
// the best-to-worst list are the same either way), so a restored engine may place its
// span elsewhere than the original did.
type ladder struct {
	levels   []uint32            // ladderTicks entries: a level index, or indexNone.
	occupied [ladderWords]uint64 // Bit i set: levels[i] is a level.
	base     uint64              // Price of entry 0, a multiple of tick.
	tick     uint64              // The instrument's tick size (never 0).
	count    uint32              // Levels in the ladder.
}

// ladderWords is the bitmap's length in 64-bit words.
const ladderWords = ladderTicks / 64

func newLadder(tick uint64) ladder {
	if tick == 0 {
		panic("match: a ladder with tick size 0")
	}
	levels := make([]uint32, ladderTicks)
	for i := range levels {
		levels[i] = indexNone
	}
	return ladder{levels: levels, tick: tick}
}

// offset returns the entry of price, and false when price lies outside the span.
func (d *ladder) offset(price uint64) (int, bool) {
	if price < d.base {
		return 0, false
	}
	offset := (price - d.base) / d.tick
	if offset >= ladderTicks {
		return 0, false
	}
	if d.base+offset*d.tick != price {
		// Orders are validated on tick (price_not_on_tick), so this is a bug: two prices
		// sharing an entry would answer for each other.
		panic(offTickError{price: price, tick: d.tick})
	}
	return int(offset), true
}

// offTickError is offset's panic value. Formatting the message in offset itself (a call
// to fmt.Sprintf) put offset over the compiler's inlining budget, and finding a level
// (~1.7 offsets per command of BenchmarkMatching) paid for the call.
type offTickError struct{ price, tick uint64 }

func (x offTickError) Error() string {
	return fmt.Sprintf("match: price %d not on the tick %d", x.price, x.tick)
}

func (d *ladder) set(offset int, index uint32) {
	if d.levels[offset] != indexNone {
		panic("match: ladder entry taken twice")
	}
	d.levels[offset] = index
	d.occupied[offset/64] |= 1 << (offset % 64)
	d.count++
}

func (d *ladder) clear(offset int) {
	if d.levels[offset] == indexNone {
		panic("match: clearing an empty ladder entry")
	}
	d.levels[offset] = indexNone
	d.occupied[offset/64] &^= 1 << (offset % 64)
	d.count--
}

// below returns the highest occupied entry below offset (0 ≤ offset ≤ ladderTicks), or -1.
func (d *ladder) below(offset int) int {
	if offset <= 0 {
		return -1
	}
	position := offset - 1
	word := position / 64
	remaining := d.occupied[word] & (^uint64(0) >> (63 - position%64))
	for {
		if remaining != 0 {
			return word*64 + 63 - bits.LeadingZeros64(remaining)
		}
		if word--; word < 0 {
			return -1
		}
		remaining = d.occupied[word]
	}
}

// above returns the lowest occupied entry above offset (-1 ≤ offset < ladderTicks), or -1.
func (d *ladder) above(offset int) int {
	position := offset + 1
	if position >= ladderTicks {
		return -1
	}
	word := position / 64
	remaining := d.occupied[word] & (^uint64(0) << (position % 64))
	for {
		if remaining != 0 {
			return word*64 + bits.TrailingZeros64(remaining)
		}
		if word++; word == ladderWords {
			return -1
		}
		remaining = d.occupied[word]
	}
}

// level returns the level at entry offset, or indexNone for -1.
func (d *ladder) level(offset int) uint32 {
	if offset < 0 {
		return indexNone
	}
	return d.levels[offset]
}

// neighbours returns the ladder's levels with the nearest lower and higher prices than
// price, which must not be a level of the ladder.
func (d *ladder) neighbours(price uint64) (lower, higher uint32) {
	if d.count == 0 {
		return indexNone, indexNone
	}
	offset, inside := d.offset(price)
	switch {
	case inside:
		if d.levels[offset] != indexNone {
			panic(fmt.Sprintf("match: level %d inserted twice", price))
		}
		return d.level(d.below(offset)), d.level(d.above(offset))
	case price < d.base:
		return indexNone, d.level(d.above(-1))
	default:
		return d.level(d.below(ladderTicks)), indexNone
	}
}

// levelIndexAdd puts a level (already given its price) into its side's ladder when its
// price is in the span, else into the tree.
func (e *Engine) levelIndexAdd(side *bookSide, index uint32) {
	if offset, inside := side.ladder.offset(e.levels[index].price); inside {
		side.ladder.set(offset, index)
		return
	}
	side.root = e.avlInsert(side.root, index)
}

// levelIndexRemove takes a level out of its side's ladder or tree (by its price).
func (e *Engine) levelIndexRemove(side *bookSide, index uint32) {
	price := e.levels[index].price
	if offset, inside := side.ladder.offset(price); inside {
		if side.ladder.levels[offset] != index {
			panic(fmt.Sprintf("match: level %d missing from its ladder", price))
		}
		side.ladder.clear(offset)
		return
	}
	side.root = e.avlDelete(side.root, price)
}

// levelReprice changes a level's price to one strictly between its neighbours in the
// best-to-worst list, keeping the ladder and the tree right. A level that stays in the
// tree keeps its node: its order among the tree's levels does not change.
func (e *Engine) levelReprice(side *bookSide, index uint32, price uint64) {
	l := &e.levels[index]
	oldOffset, oldInside := side.ladder.offset(l.price)
	newOffset, newInside := side.ladder.offset(price)
	switch {
	case oldInside && newInside:
		side.ladder.clear(oldOffset)
		side.ladder.set(newOffset, index)
		l.price = price
	case !oldInside && !newInside:
		l.price = price
	default:
		e.levelIndexRemove(side, index)
		l.price = price
		l.left, l.right, l.height = indexNone, indexNone, 1
		e.levelIndexAdd(side, index)
	}
}

// ladderRebase centers the side's empty ladder on price (the level just created there,
// outside the old span) and moves the tree's levels within the new span into it. Those
// are consecutive in the best-to-worst list around the new level, so two list walks of
// at most ladderTicks levels each find them. A rebase happens only when the ladder is
// empty, so a level moves from the tree to the ladder at most once in its life and the
// work is paid for by the levels' creation (no command can make the engine move the same
// levels back and forth). A market that drifts out of the span while the ladder still
// holds levels keeps using the tree for the new prices until the ladder empties.
func (e *Engine) ladderRebase(side *bookSide, price uint64) {
	d := &side.ladder
	if d.count != 0 {
		panic("match: rebasing a ladder that holds levels")
	}
	d.base = price - min(price/d.tick, ladderTicks/2)*d.tick
	start := e.levelFindTree(side, price)
	if start == indexNone {
		panic(fmt.Sprintf("match: level %d missing from its tree", price))
	}
	e.ladderAdopt(side, start)
	for next := e.levels[start].better; next != indexNone; {
		following := e.levels[next].better
		if !e.ladderAdopt(side, next) {
			break
		}
		next = following
	}
	for next := e.levels[start].worse; next != indexNone; {
		following := e.levels[next].worse
		if !e.ladderAdopt(side, next) {
			break
		}
		next = following
	}
}

// ladderAdopt moves a level of the tree whose price is in the ladder's span into the
// ladder, and reports whether it was in the span.
func (e *Engine) ladderAdopt(side *bookSide, index uint32) bool {
	l := &e.levels[index]
	offset, inside := side.ladder.offset(l.price)
	if !inside {
		return false
	}
	side.root = e.avlDelete(side.root, l.price)
	l.left, l.right, l.height = indexNone, indexNone, 1
	side.ladder.set(offset, index)
	return true
}

// checkLadder checks the ladder's entries against its bitmap, its count and the levels'
// prices, and returns how many levels it holds.
func (e *Engine) checkLadder(side *bookSide) (uint32, error) {
	d := &side.ladder
	if len(d.levels) != ladderTicks || d.tick == 0 || d.base%d.tick != 0 {
		return 0, fmt.Errorf("ladder malformed")
	}
	count := uint32(0)
	for offset, index := range d.levels {
		occupied := d.occupied[offset/64]&(1<<(offset%64)) != 0
		if occupied != (index != indexNone) {
			return 0, fmt.Errorf("ladder entry %d: bitmap disagrees", offset)
		}
		if index == indexNone {
			continue
		}
		if int(index) >= len(e.levels) || e.levels[index].price != d.base+uint64(offset)*d.tick {
			return 0, fmt.Errorf("ladder entry %d: wrong level", offset)
		}
		count++
	}
	if count != d.count {
		return 0, fmt.Errorf("ladder holds %d levels, counted %d", count, d.count)
	}
	return count, nil
}
