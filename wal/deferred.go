package wal

// Writing on the appending goroutine (issue 15: one client, one request at a time).
//
// Append hands each entry to the writer goroutine, which writes and syncs it and
// publishes Durable; the appender, waiting for that, is woken again. When the writer is
// idle and the appender has nothing else to do but wait, those are two goroutine hand-offs
// (~20 µs each on a 2-vCPU VM) around one write and fdatasync. AppendDeferred and
// WriteDeferred let the appender do that work itself instead:
//
//   - AppendDeferred queues the entry like Append but, when the pipeline was empty (the
//     writer has nothing of its own to write) or holds only entries AppendDeferred left
//     queued since the last WriteDeferred, the body is at most deferBytesMax (limits.go:
//     why that size) and the policy is SyncEvery, leaves the writer asleep. Otherwise it
//     is Append, so that a large entry's encoding, write and fdatasync overlap the
//     appender's apply. Several entries deferred in a row are written by one
//     WriteDeferred, in one group (one fdatasync): core/shard's sequencer appends so the
//     entries a take's order stop (a connection's read before its write) splits apart.
//   - WriteDeferred, called by the appender once it would otherwise wait for Durable,
//     takes the writing mutex if it is free and writes, syncs and publishes every queued
//     entry on the calling goroutine, exactly as the writer would (writeAvailable: same
//     group commit, same fdatasync before Durable, same sticky failure); if the writer
//     holds it, it wakes the writer instead (the writer's loop would find the entries
//     anyway, since it looks for produced slots after every group).
//
// Nothing is lost if the appender never calls WriteDeferred: the next entry it does not
// defer (Append, AppendStored) or control request (TruncateAfter, StartAfter, Close)
// wakes the writer first, acquireSlot wakes it before waiting for a free slot, and
// reserve before waiting for room in the segment. What waits for the entries to be
// written (Durable, LastChain on another goroutine, a tail's Wake) waits until the
// appender calls WriteDeferred or one of those.

// AppendDeferred is Append, except that it may leave the writer asleep (see above): the
// caller must then call WriteDeferred before it waits for Durable. Appending goroutine
// only.
func (l *Log) AppendDeferred(e Entry) error {
	p := &l.pipeline
	// With an entry deferred already, the writer was not told of it, so whatever the
	// pipeline holds beyond the slots it consumed is this goroutine's deferred entries.
	deferrable := l.options.Sync == SyncEvery && len(e.Body) <= deferBytesMax &&
		(l.appender.deferred || p.produced.Load() == p.consumed.Load())
	if !deferrable {
		return l.Append(e)
	}
	l.appender.deferring = true
	err := l.Append(e)
	l.appender.deferring = false
	if err == nil {
		l.appender.deferred = true
	}
	return err
}

// WriteDeferred writes, syncs and publishes the entries AppendDeferred left queued, on the
// calling goroutine when the writer is idle, or wakes the writer when it is busy. It does
// nothing when nothing was deferred. Appending goroutine only.
func (l *Log) WriteDeferred() {
	if !l.appender.deferred {
		return
	}
	l.appender.deferred = false
	if !l.writing.TryLock() {
		l.wakeWriter()
		return
	}
	groups := l.stats.groups.Load()
	l.writeAvailable()
	l.stats.inlineGroups.Add(l.stats.groups.Load() - groups)
	l.writing.Unlock()
}

// announceDeferred wakes the writer for the entries AppendDeferred left queued, before
// the appender queues an entry it does not defer, waits for room, or asks the writer for
// anything. Appending goroutine only.
func (l *Log) announceDeferred() {
	if l.appender.deferred {
		l.appender.deferred = false
		l.wakeWriter()
	}
}

// wakeWriter tells the writer that slots were produced (never blocks).
func (l *Log) wakeWriter() {
	select {
	case l.pipeline.wake <- struct{}{}:
	default:
	}
}
