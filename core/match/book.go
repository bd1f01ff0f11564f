package match

import (
	"fmt"

	"sequent/core/model"
)

// level is one price of one side of a book: a FIFO of resting orders (time priority),
// a node of the side's AVL tree keyed by price (O(log levels) access), and a link in the
// side's list of levels from best to worst (O(1) best price and next level while
// matching). Levels live in Engine.levels and are recycled through a free list.
type level struct {
	price         uint64        // Quote units per lot.
	quantity      model.Uint128 // Sum of the orders' leaves (base units; may pass 2^64).
	orderCount    uint32        // Orders in the FIFO.
	head          uint32        // Oldest order (first to trade), or indexNone.
	tail          uint32        // Newest order, or indexNone.
	left          uint32        // AVL child with lower prices, or indexNone.
	right         uint32        // AVL child with higher prices, or indexNone.
	height        int32         // AVL height of the subtree (a leaf is 1).
	better        uint32        // Next better level of the side (toward the best), or indexNone.
	worse         uint32        // Next worse level, or indexNone.
	dirtyEpoch    uint64        // Market data: the command epoch that last marked it changed.
	dirtyPosition uint32        // Its entry in scratch.dirty while dirtyEpoch is current.
}

// bookSide is one side of an instrument's book. Its levels are all in the best-to-worst
// list; those near the top of the book are indexed by the ladder, the others by the AVL
// tree (ladder.go).
type bookSide struct {
	root   uint32     // AVL root, or indexNone.
	best   uint32     // Best level (highest bid, lowest ask), or indexNone.
	count  uint32     // Levels (in the ladder and the tree).
	side   model.Side // SideBuy (bids) or SideSell (asks).
	ladder ladder     // Levels whose prices lie in its span.
}

// newBookSide returns an empty side of a book whose prices are multiples of tick.
func newBookSide(side model.Side, tick uint64) bookSide {
	return bookSide{root: indexNone, best: indexNone, side: side, ladder: newLadder(tick)}
}

// crosses reports whether a resting level at levelPrice trades with an incoming order of
// the other side whose limit is limit: an incoming buy takes asks at or below its limit,
// an incoming sell takes bids at or above it.
func crosses(incoming model.Side, levelPrice uint64, limit uint64) bool {
	if incoming == model.SideBuy {
		return levelPrice <= limit
	}
	return levelPrice >= limit
}

// levelFind returns the level of the side at price, or indexNone: one array read in the
// ladder's span, O(log levels) outside it.
func (e *Engine) levelFind(side *bookSide, price uint64) uint32 {
	if offset, inside := side.ladder.offset(price); inside {
		return side.ladder.levels[offset]
	}
	return e.levelFindTree(side, price)
}

// levelFindTree returns the level of the side's tree at price, or indexNone.
func (e *Engine) levelFindTree(side *bookSide, price uint64) uint32 {
	node := side.root
	for node != indexNone {
		n := &e.levels[node]
		switch {
		case price < n.price:
			node = n.left
		case price > n.price:
			node = n.right
		default:
			return node
		}
	}
	return indexNone
}

// levelInsert creates the level for price, which must be absent, links it into the tree
// and the best-to-worst list, and returns it.
func (e *Engine) levelInsert(side *bookSide, price uint64) uint32 {
	lower, higher := e.levelNeighbours(side, price)
	better, worse := lower, higher // Asks: lower prices are better.
	if side.side == model.SideBuy {
		better, worse = higher, lower
	}
	return e.levelInsertBetween(side, price, better, worse)
}

// levelInsertBetween creates the level for price between its neighbours in the list.
func (e *Engine) levelInsertBetween(side *bookSide, price uint64, better, worse uint32) uint32 {
	index := e.levelAllocate(price)
	e.levelIndexAdd(side, index)
	side.count++
	n := &e.levels[index]
	n.better, n.worse = better, worse
	if better == indexNone {
		side.best = index
	} else {
		e.levels[better].worse = index
	}
	if worse != indexNone {
		e.levels[worse].better = index
	}
	if side.ladder.count == 0 {
		if _, inside := side.ladder.offset(price); !inside {
			e.ladderRebase(side, price)
		}
	}
	return index
}

// levelNeighbours returns the levels with the nearest lower and higher prices: from the
// ladder's bitmap, and from the tree unless the ladder found both (a price in the span
// is nearer than any level of the tree, which lie outside it).
func (e *Engine) levelNeighbours(side *bookSide, price uint64) (lower, higher uint32) {
	ladderLower, ladderHigher := side.ladder.neighbours(price)
	if ladderLower != indexNone && ladderHigher != indexNone {
		return ladderLower, ladderHigher
	}
	lower, higher = e.levelNeighboursTree(side, price)
	if ladderLower != indexNone && (lower == indexNone || e.levels[ladderLower].price > e.levels[lower].price) {
		lower = ladderLower
	}
	if ladderHigher != indexNone && (higher == indexNone || e.levels[ladderHigher].price < e.levels[higher].price) {
		higher = ladderHigher
	}
	return lower, higher
}

// levelNeighboursTree returns the tree's levels with the nearest lower and higher prices.
func (e *Engine) levelNeighboursTree(side *bookSide, price uint64) (lower, higher uint32) {
	lower, higher = indexNone, indexNone
	for node := side.root; node != indexNone; {
		n := &e.levels[node]
		switch {
		case price < n.price:
			higher, node = node, n.left
		case price > n.price:
			lower, node = node, n.right
		default:
			panic(fmt.Sprintf("match: level %d inserted twice", price))
		}
	}
	return lower, higher
}

// levelRemove unlinks an empty level from the tree and the list and frees it.
func (e *Engine) levelRemove(side *bookSide, index uint32) {
	n := &e.levels[index]
	if n.orderCount != 0 || !n.quantity.IsZero() || n.head != indexNone {
		panic("match: removing a level that still holds orders")
	}
	better, worse := n.better, n.worse
	if better == indexNone {
		side.best = worse
	} else {
		e.levels[better].worse = worse
	}
	if worse != indexNone {
		e.levels[worse].better = better
	}
	e.levelIndexRemove(side, index)
	side.count--
	if n.dirtyEpoch == e.scratch.epoch {
		e.scratch.dirty[n.dirtyPosition].level = indexNone // Published as gone.
	}
	e.levelFree = append(e.levelFree, index)
}

// levelAllocate takes a level from the free list (or grows the pool) and resets it.
func (e *Engine) levelAllocate(price uint64) uint32 {
	var index uint32
	if count := len(e.levelFree); count > 0 {
		index = e.levelFree[count-1]
		e.levelFree = e.levelFree[:count-1]
	} else {
		if len(e.levels) >= indexCountMax {
			panic("match: level pool exhausted")
		}
		index = uint32(len(e.levels))
		e.levels = append(e.levels, level{})
	}
	e.levels[index] = level{price: price, head: indexNone, tail: indexNone,
		left: indexNone, right: indexNone, height: 1, better: indexNone, worse: indexNone}
	return index
}

func (e *Engine) avlHeight(node uint32) int32 {
	if node == indexNone {
		return 0
	}
	return e.levels[node].height
}

func (e *Engine) avlUpdate(node uint32) {
	n := &e.levels[node]
	n.height = 1 + max(e.avlHeight(n.left), e.avlHeight(n.right))
	if n.height > avlHeightMax {
		panic("match: AVL tree taller than its bound")
	}
}

func (e *Engine) avlRotateRight(node uint32) uint32 {
	pivot := e.levels[node].left
	e.levels[node].left = e.levels[pivot].right
	e.levels[pivot].right = node
	e.avlUpdate(node)
	e.avlUpdate(pivot)
	return pivot
}

func (e *Engine) avlRotateLeft(node uint32) uint32 {
	pivot := e.levels[node].right
	e.levels[node].right = e.levels[pivot].left
	e.levels[pivot].left = node
	e.avlUpdate(node)
	e.avlUpdate(pivot)
	return pivot
}

// avlBalance restores the AVL property at node (children already balanced) and returns
// the subtree's new root.
func (e *Engine) avlBalance(node uint32) uint32 {
	e.avlUpdate(node)
	n := &e.levels[node]
	balance := e.avlHeight(n.left) - e.avlHeight(n.right)
	if balance > 1 {
		left := &e.levels[n.left]
		if e.avlHeight(left.left) < e.avlHeight(left.right) {
			n.left = e.avlRotateLeft(n.left)
		}
		return e.avlRotateRight(node)
	}
	if balance < -1 {
		right := &e.levels[n.right]
		if e.avlHeight(right.right) < e.avlHeight(right.left) {
			n.right = e.avlRotateRight(n.right)
		}
		return e.avlRotateLeft(node)
	}
	return node
}

// avlInsert inserts the node index into the subtree at node; recursion depth is bounded
// by avlHeightMax.
func (e *Engine) avlInsert(node uint32, index uint32) uint32 {
	if node == indexNone {
		return index
	}
	if e.levels[index].price < e.levels[node].price {
		e.levels[node].left = e.avlInsert(e.levels[node].left, index)
	} else {
		e.levels[node].right = e.avlInsert(e.levels[node].right, index)
	}
	return e.avlBalance(node)
}

// avlDelete removes the node with price from the subtree at node.
func (e *Engine) avlDelete(node uint32, price uint64) uint32 {
	if node == indexNone {
		panic(fmt.Sprintf("match: level %d missing from its tree", price))
	}
	n := &e.levels[node]
	switch {
	case price < n.price:
		n.left = e.avlDelete(n.left, price)
	case price > n.price:
		n.right = e.avlDelete(n.right, price)
	default:
		if n.left == indexNone {
			return n.right
		}
		if n.right == indexNone {
			return n.left
		}
		successor := n.right
		for e.levels[successor].left != indexNone {
			successor = e.levels[successor].left
		}
		right := e.avlDeleteMin(n.right)
		e.levels[successor].left, e.levels[successor].right = n.left, right
		return e.avlBalance(successor)
	}
	return e.avlBalance(node)
}

// avlDeleteMin removes the lowest node of the subtree at node and returns its new root.
func (e *Engine) avlDeleteMin(node uint32) uint32 {
	n := &e.levels[node]
	if n.left == indexNone {
		return n.right
	}
	n.left = e.avlDeleteMin(n.left)
	return e.avlBalance(node)
}

// levelAppend puts a resting order at the back of its level's queue.
func (e *Engine) levelAppend(levelIndex uint32, slot uint32) {
	l := &e.levels[levelIndex]
	o := &e.orders[slot]
	o.level, o.levelPrevious, o.levelNext = levelIndex, l.tail, indexNone
	if l.tail == indexNone {
		l.head = slot
	} else {
		e.orders[l.tail].levelNext = slot
	}
	l.tail = slot
	l.orderCount++
	l.quantity = l.quantity.MustAdd(model.U128(o.leaves))
}

// levelNearSteps bounds the list walk of levelForPrice: a moved order usually rests a few
// levels from where it was, and beyond a few steps the tree is cheaper.
const levelNearSteps = 4

// levelForPrice returns the level of the side at price, creating it if needed. In the
// ladder's span that is an array read (and a bitmap scan for a new level's neighbours).
// Outside it, when hint is a level of the side (where the order rested before a
// replace), it first walks the best-to-worst list from there for up to levelNearSteps
// levels: a tree search costs ~10 dependent loads and mispredicted branches, a short
// walk a few.
func (e *Engine) levelForPrice(side *bookSide, price uint64, hint uint32) uint32 {
	if offset, inside := side.ladder.offset(price); inside {
		if found := side.ladder.levels[offset]; found != indexNone {
			return found
		}
		// levelNeighbours' first answer, from the offset known here: when the ladder
		// holds a level on each side of it, those are the neighbours (the tree's levels
		// lie outside the span, further away), and its two calls and the offset's second
		// computation are spared.
		d := &side.ladder
		lower, higher := d.level(d.below(offset)), d.level(d.above(offset))
		if lower == indexNone || higher == indexNone {
			return e.levelInsert(side, price)
		}
		if side.side == model.SideBuy {
			return e.levelInsertBetween(side, price, higher, lower)
		}
		return e.levelInsertBetween(side, price, lower, higher) // Asks: lower is better.
	}
	if hint != indexNone && e.levels[hint].orderCount > 0 {
		if found, better, worse, ok := e.levelNear(side, price, hint); ok {
			if found != indexNone {
				return found
			}
			return e.levelInsertBetween(side, price, better, worse)
		}
	}
	if found := e.levelFind(side, price); found != indexNone {
		return found
	}
	return e.levelInsert(side, price)
}

// levelNear walks the list from hint toward price. It returns the level at price, or the
// neighbours a new level at price goes between; ok is false when the walk gave up.
func (e *Engine) levelNear(side *bookSide, price uint64, hint uint32) (found, better,
	worse uint32, ok bool) {
	isBetter := func(a, b uint64) bool { return a != b && (a > b) == (side.side == model.SideBuy) }
	current := hint
	for step := 0; step < levelNearSteps; step++ {
		currentPrice := e.levels[current].price
		if currentPrice == price {
			return current, indexNone, indexNone, true
		}
		if isBetter(price, currentPrice) {
			next := e.levels[current].better
			if next == indexNone || isBetter(e.levels[next].price, price) {
				return indexNone, next, current, true
			}
			current = next
		} else {
			next := e.levels[current].worse
			if next == indexNone || isBetter(price, e.levels[next].price) {
				return indexNone, current, next, true
			}
			current = next
		}
	}
	return indexNone, indexNone, indexNone, false
}
