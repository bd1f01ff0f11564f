package shard

// cancelsPendingMax bounds the clients whose cancel-on-disconnect may wait at once in one
// waitingCancels (a shard's ring, or the cancels a full log refused), allocated only when a
// cancel first waits. Full, one holds about 5.5 MiB, not the 1 MiB of its ids alone: the
// ids' slice grows by append (capacity 139,264, 1.06 MiB) and the held map adds the
// rest; filling it allocates about 14 MiB in all while both grow (measured with
// runtime.MemStats after a GC, Go 1.26, session 45). A shard has two, so about 11 MiB at
// most, and neither shrinks once grown. A client waits once however many of its
// sessions end meanwhile, and only a client of the keys file can log in: a keys file (4
// MiB at most, a secret of 32 hex digits at least per client) names fewer clients than
// this.
const cancelsPendingMax = 1 << 17

// waitingCancels is an ordered set of clients whose cancel_session (cancel-on-disconnect)
// waits: in the ring for room (inputRing.pushCancel), or with the holder of turns for a
// log with room (Shard.cancelsRefused). A client is in it once: nothing of that client was
// queued or logged since its first cancel began to wait, so that one cancels all a
// second would. At most cancelsPendingMax wait (see there: not reached with a valid keys
// file). Both fields stay nil until a cancel first waits, so that the hot paths allocate
// nothing; the owner's lock (the ring's mutex, Shard.turns) guards them.
type waitingCancels struct {
	// clients[first:] wait, in the order they came; the ones before first are done. Empty
	// (length 0) exactly when none waits, so that a push checks one length.
	clients []uint64
	first   int
	held    map[uint64]struct{} // The clients of clients[first:], for lookups.
}

// any reports whether a cancel waits.
func (c *waitingCancels) any() bool { return len(c.clients) > 0 }

// count returns how many cancels wait.
func (c *waitingCancels) count() int { return len(c.clients) - c.first }

// waiting returns the waiting clients in order (valid until the next add or done).
func (c *waitingCancels) waiting() []uint64 { return c.clients[c.first:] }

// add records client's cancel as waiting, after the others; false when cancelsPendingMax
// others wait already. A client waiting already is not added again (true).
func (c *waitingCancels) add(client uint64) bool {
	if _, waiting := c.held[client]; waiting {
		return true
	}
	if c.count() == cancelsPendingMax {
		return false
	}
	if c.held == nil {
		c.held = make(map[uint64]struct{})
	}
	if c.first > 0 && len(c.clients) == cap(c.clients) {
		// Reuse the room of those done already rather than grow.
		c.clients = c.clients[:copy(c.clients, c.clients[c.first:])]
		c.first = 0
	}
	c.clients = append(c.clients, client)
	c.held[client] = struct{}{}
	return true
}

// done forgets the first n waiting clients: their cancels were queued or logged.
func (c *waitingCancels) done(n int) {
	for _, client := range c.clients[c.first : c.first+n] {
		delete(c.held, client)
	}
	c.first += n
	if c.first == len(c.clients) {
		c.clients, c.first = c.clients[:0], 0
	}
}

// drop forgets every waiting cancel and returns how many there were.
func (c *waitingCancels) drop() int {
	dropped := c.count()
	c.clients, c.first = c.clients[:0], 0
	clear(c.held)
	return dropped
}
