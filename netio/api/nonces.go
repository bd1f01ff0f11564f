package api

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// nonceCache remembers every accepted (client, nonce) until the server's clock passes
// the request's own timestamp plus the clock window: a request is accepted only while
// the server's clock (Unix ms, the clock inWindow reads) is within the window of its
// timestamp, so a replay of it can only arrive while its nonce is still here. Keying
// the expiry to the timestamp on the same clock as the window check leaves no edge: a
// request stamped a whole window ahead stays for twice the window, and a step of the
// wall clock moves both checks alike. (Expiring 2 × window after first use, on the
// monotonic clock, forgot a nonce at the very millisecond its replay still passed the
// window check: TestNoReplayAtTheWindowsEdge.) It is bounded: when it holds NoncesMax
// nonces, or a client holds its share of them, new requests are refused
// (nonce_cache_full, 503 with Retry-After) until old nonces expire — forgetting one
// early would let its replay through.
//
// Safe from any goroutine: the nonces are spread over nonceShards locks by hash, and
// the counts per client sit behind their own lock (taken after a shard's, never before).
type nonceCache struct {
	windowMs     int64 // The clock window in ms.
	capacity     int   // Most nonces in all.
	perClientMax int   // Most nonces of one client.
	shards       [nonceShards]nonceShard

	countsMu sync.Mutex
	total    int
	counts   map[uint64]int // Client → nonces held.
}

// nonceShard holds the nonces whose hash falls to it, in a set and in a queue in
// insertion order. Expiries follow the timestamps, which are within the window of their
// insertion, so the queue is nearly in expiry order: expire stops at the first entry
// still live, and an entry behind it stays at most 2 × window after its insertion.
type nonceShard struct {
	mu    sync.Mutex
	seen  map[nonceKey]struct{}
	queue []nonceEntry
	head  int // Queue entries before head are gone.
}

// nonceKey is the first 16 bytes of SHA-256(client ‖ nonce): fixed-size, so a nonce's
// length costs nothing to keep, and 2^-64 collision odds per pair.
type nonceKey [16]byte

type nonceEntry struct {
	key       nonceKey
	client    uint64
	expiresMs int64 // Forgotten once the clock (Unix ms) reaches it: timestamp + window + 1.
}

func newNonceCache(window time.Duration, capacity int) *nonceCache {
	c := &nonceCache{windowMs: window.Milliseconds(), capacity: capacity,
		perClientMax: max(1, capacity/noncesPerClientShare), counts: map[uint64]int{}}
	for i := range c.shards {
		c.shards[i].seen = map[nonceKey]struct{}{}
	}
	return c
}

// use records client's nonce of a request stamped timestampMs (already checked to be
// within the window of now), or returns errNonceReplayed if it is remembered, or
// errNonceCacheFull (with how long until room is made) at the bound. Nonces expire
// lazily, shard by shard as requests reach them; at the bound every shard is swept once
// before a request is refused.
func (c *nonceCache) use(client uint64, nonce []byte, timestampMs int64, now time.Time) (
	time.Duration, error) {
	return c.useWithin(client, c.perClientMax, nonce, timestampMs, now)
}

// useWithin is use for a client that may hold at most shareMax nonces (at most
// perClientMax: a rate-limited client's share follows its rate, shareOf).
func (c *nonceCache) useWithin(client uint64, shareMax int, nonce []byte, timestampMs int64,
	now time.Time) (time.Duration, error) {
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], client)
	hash := sha256.New()
	hash.Write(prefix[:])
	hash.Write(nonce)
	var key nonceKey
	copy(key[:], hash.Sum(nil))
	clock := now.UnixMilli()
	expiresMs := timestampMs + c.windowMs + 1
	shareMax = min(shareMax, c.perClientMax)
	wait, err := c.tryUse(client, shareMax, key, expiresMs, clock)
	if err == errNonceCacheFull {
		for i := range c.shards {
			c.expireLocking(&c.shards[i], clock)
		}
		wait, err = c.tryUse(client, shareMax, key, expiresMs, clock)
	}
	return wait, err
}

// tryUse is use within the nonce's shard.
func (c *nonceCache) tryUse(client uint64, shareMax int, key nonceKey, expiresMs, clock int64) (
	time.Duration, error) {
	shard := &c.shards[key[0]%nonceShards]
	shard.mu.Lock()
	defer shard.mu.Unlock()
	c.expire(shard, clock)
	if _, seen := shard.seen[key]; seen {
		return 0, errNonceReplayed
	}
	if full := c.reserve(client, shareMax); full {
		waitMs := 2*c.windowMs + 1
		if shard.head < len(shard.queue) {
			waitMs = shard.queue[shard.head].expiresMs - clock
		}
		return max(time.Duration(waitMs)*time.Millisecond, time.Second), errNonceCacheFull
	}
	shard.seen[key] = struct{}{}
	shard.queue = append(shard.queue, nonceEntry{key: key, client: client,
		expiresMs: expiresMs})
	return 0, nil
}

// reserve counts one more nonce of client, unless the cache or the client's share
// (shareMax) is full.
func (c *nonceCache) reserve(client uint64, shareMax int) (full bool) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock() // Every lock of the cache is released by defer: see expireLocking.
	full = c.total >= c.capacity || c.counts[client] >= shareMax
	if !full {
		c.total++
		c.counts[client]++
	}
	return full
}

// uncount forgets the counts of expired entries.
func (c *nonceCache) uncount(entries []nonceEntry) {
	c.countsMu.Lock()
	defer c.countsMu.Unlock()
	for _, entry := range entries {
		c.total--
		if c.counts[entry.client]--; c.counts[entry.client] == 0 {
			delete(c.counts, entry.client)
		}
	}
}

// expireLocking is expire under shard.mu. Like every lock of the cache, it is released
// by defer: a panic under it, which the handler's guard recovers (httpguard), must not
// leave the lock held and every later request hanging on it.
func (c *nonceCache) expireLocking(shard *nonceShard, clock int64) {
	shard.mu.Lock()
	defer shard.mu.Unlock()
	c.expire(shard, clock)
}

// expire forgets the shard's nonces whose time is over. The caller holds shard.mu.
func (c *nonceCache) expire(shard *nonceShard, clock int64) {
	start := shard.head
	for shard.head < len(shard.queue) && shard.queue[shard.head].expiresMs <= clock {
		delete(shard.seen, shard.queue[shard.head].key)
		shard.head++
	}
	if shard.head == start {
		return
	}
	c.uncount(shard.queue[start:shard.head])
	if shard.head > len(shard.queue)/2 { // Reclaim the front of the queue.
		shard.queue = append(shard.queue[:0], shard.queue[shard.head:]...)
		shard.head = 0
	}
}

// shareOf returns how many nonces a client whose keys file limits it to rate requests a
// second (0: unlimited) may hold: perClientMax, or for a limited client what its rate can
// use, with room to spare. The rate limiter admits at most rate × (its one second of
// burst + the time a nonce stays remembered, twice the window at most) requests whose
// nonces are still here; every authenticated request stores its nonce before the rate
// is applied (submit), refused ones too, so without a bound of its own two clients
// limited to one request a second, sending floods that were nearly all refused 429, held
// the whole cache and got everyone else refused nonce_cache_full
// (TestRateLimitedClientsCannotFillTheNonceCache). nonceShareRateFactor times that need
// leaves a client that bursts past its rate its 429s; only one sending many times its
// rate for a whole window is refused nonce_cache_full itself, as any client past its
// half is.
func (c *nonceCache) shareOf(rate float64) int {
	if rate <= 0 {
		return c.perClientMax
	}
	used := math.Ceil(nonceShareRateFactor * rate * (1 + 2*float64(c.windowMs)/1000))
	return int(max(1, min(float64(c.perClientMax), used)))
}
