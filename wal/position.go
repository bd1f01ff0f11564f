package wal

// Position is where an entry ends in this log: its segment and the offset just after it.
// The zero Position is no position (an entry never ends before the segment header).
type Position struct {
	Segment uint64
	Offset  int64
}

// EndOf returns the position just after the entry meta describes (a reader's or a
// tail's meta of this log).
func EndOf(meta *EntryMeta) Position {
	return Position{Segment: meta.Segment,
		Offset: meta.Offset + entryHeaderSize + int64(meta.StoredBytes)}
}

// StoredBytesAfter returns the entry bytes (headers included, as written) the log holds
// after op, and whether that figure is exact. at is where op's entry ends when the caller
// knows it (the zero Position when not): the figure is then exact. Without it, it is
// exact when op is 0, before the retained log, past the written log or the last op of a
// segment, since the segment index knows those boundaries; otherwise it counts op's
// whole segment, at most one segment too many. Bytes retired before at are not counted
// (the log no longer holds them). Any goroutine; reads the segment index only (no I/O).
func (l *Log) StoredBytesAfter(op uint64, at Position) (int64, bool) {
	l.segmentsMutex.Lock()
	defer l.segmentsMutex.Unlock()
	var total int64
	exact, counting := true, false
	for _, info := range l.segments {
		used := info.EndOffset - segmentHeaderSize
		switch {
		case counting:
			total += used
		case at.Offset != 0 && info.Number == at.Segment:
			total += max(info.EndOffset-at.Offset, 0)
			counting = true
		case at.Offset != 0 && info.Number > at.Segment: // at's segment was retired.
			total += used
			counting = true
		case at.Offset == 0 && info.Entries > 0 && info.LastOp > op:
			exact = info.FirstOp > op
			total += used
			counting = true
		}
	}
	return total, exact
}
