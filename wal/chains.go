package wal

import "sort"

// chainRing keeps the most recent recentChainCountMax chain points, in op order.
type chainRing struct {
	points []ChainPoint // circular, allocated once at capacity
	start  int          // index of the oldest point
	count  int
}

func (r *chainRing) at(i int) *ChainPoint { return &r.points[(r.start+i)%len(r.points)] }

func (r *chainRing) push(p ChainPoint) {
	if r.points == nil {
		r.points = make([]ChainPoint, recentChainCountMax)
	}
	if r.count > 0 && p.LastOp <= r.at(r.count-1).LastOp {
		panic("wal: chain points out of order")
	}
	if r.count == len(r.points) {
		r.start = (r.start + 1) % len(r.points)
		r.count--
	}
	*r.at(r.count) = p
	r.count++
}

// last returns the newest point.
func (r *chainRing) last() (ChainPoint, bool) {
	if r.count == 0 {
		return ChainPoint{}, false
	}
	return *r.at(r.count - 1), true
}

// find returns the chain of the entry ending exactly at op, if it is in the ring.
func (r *chainRing) find(op uint64) ([32]byte, bool) {
	i := sort.Search(r.count, func(i int) bool { return r.at(i).LastOp >= op })
	if i < r.count && r.at(i).LastOp == op {
		return r.at(i).Chain, true
	}
	return [32]byte{}, false
}

// covers reports whether op is within the ring's range, so that a miss means "not an
// entry boundary" rather than "too old".
func (r *chainRing) covers(op uint64) bool {
	return r.count > 0 && op >= r.at(0).LastOp
}

// dropAfter removes the points with LastOp > op.
func (r *chainRing) dropAfter(op uint64) {
	for r.count > 0 && r.at(r.count-1).LastOp > op {
		r.count--
	}
}
