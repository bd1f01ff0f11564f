package wal

// ChainPoint is the chain hash of the entry that ends at LastOp.
type ChainPoint struct {
	LastOp uint64
	Chain  [32]byte
}

// RecentChains returns up to count chain points of the newest entries, newest first. A
// node rejoining as a standby sends them so the primary can find the last op both logs
// share (a divergent suffix is at most the entries its old primary wrote but never got
// acknowledged, far fewer than the ring holds). Any goroutine.
func (l *Log) RecentChains(count int) []ChainPoint {
	l.chainsMutex.Lock()
	defer l.chainsMutex.Unlock()
	count = min(count, l.chains.count)
	points := make([]ChainPoint, 0, count)
	for i := l.chains.count - 1; i >= l.chains.count-count; i-- {
		points = append(points, *l.chains.at(i))
	}
	return points
}
