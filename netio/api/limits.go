package api

import (
	"time"

	"sequent/core/model"
)

// Bounds of the HTTP API. Each is named here with its reason.
const (
	// AddressDefault is the address when Config.Address is empty (the port next to the
	// operators' 7401); `sequent serve` runs the API only when given --api ADDR.
	AddressDefault = "127.0.0.1:7402"

	// ClockWindowDefault is how far a request's Sequent-Timestamp may be from the
	// server's clock, either way: long enough for ordinary clock drift and a slow
	// network, short enough that the nonce cache (which must remember every nonce until
	// its timestamp plus the window: up to twice the window) stays small.
	ClockWindowDefault = 30 * time.Second
	// ClockWindowMax bounds --api-clock-window.
	ClockWindowMax = 10 * time.Minute

	// NoncesMaxDefault bounds the nonces remembered (about 100 bytes each with the
	// table, so ~100 MiB): at 10,000 signed requests a second and a 30 s window, 600,000
	// are live. Beyond it the server refuses new requests (503 nonce_cache_full) rather
	// than forget a nonce and accept its replay.
	NoncesMaxDefault = 1 << 20
	// noncesPerClientShare bounds one client's share of the nonce cache (a half), so
	// that one client's flood cannot make everyone else's requests wait. A nonce is held
	// until its timestamp plus the clock window (one window for a client whose clock
	// agrees, two at most), so one client can sustain NoncesMaxDefault/2 / 30 s ≈ 17,000
	// signed requests a second with the defaults (8,700 with its clock a window ahead);
	// beyond, 503 nonce_cache_full.
	noncesPerClientShare = 2
	// nonceShareRateFactor scales a rate-limited client's share of the nonce cache: ten
	// times the nonces its requests_per_second lets through in the time a nonce is kept
	// (nonceCache.shareOf; 610 for one request a second with the defaults), so that
	// rate-limited clients cannot fill the cache for everyone else (it takes some 1,700
	// clients at one request a second), while one that bursts past its rate still gets
	// 429, not nonce_cache_full.
	nonceShareRateFactor = 10
	// nonceShards spreads the nonce cache over this many locks.
	nonceShards = 64
	// nonceBytesMin and nonceBytesMax bound Sequent-Nonce: 16 characters of randomness
	// at least (96 bits in base64url), 64 at most.
	nonceBytesMin = 16
	nonceBytesMax = 64

	// InFlightMaxDefault bounds the requests submitted to the shard and not yet
	// answered; beyond it the API answers 503 busy at once. It also keeps the server's
	// own sessions (requests without an Idempotency-Key) within the core's exactly-once
	// window of 256 numbers: at most this many numbers of one session are outstanding.
	InFlightMaxDefault = 128
	// InFlightMaxLimit is the largest InFlightMax accepted (see above: below 256).
	InFlightMaxLimit = 250
	// autoResubmitsMax bounds how often a request of the server's own session is
	// submitted again under a new number after request_too_old (a handler descheduled
	// between numbering and submitting while 256 later requests of its client went
	// through, Server.submit): once is nearly always enough; the bound keeps a handler
	// from looping on a machine so loaded that it happens again and again.
	autoResubmitsMax = 3

	// ReplyTimeoutDefault bounds the wait for a submitted request's reply (durable, and
	// acknowledged by the standby in sync mode). A request still unanswered then is
	// answered 503 outcome_unknown: a write may yet be applied, retry it with the same
	// Idempotency-Key (or the same ids) to learn its outcome; a read (its message says
	// so, timeoutMessage) applied nothing and is simply sent again.
	ReplyTimeoutDefault = 10 * time.Second

	// requestBodyBytesMax bounds a request body: a batch of 8,189 transfers is about
	// 2.5 MB of JSON with every field given; 4 MiB leaves room for white space.
	requestBodyBytesMax = 4 << 20
	// bodyBytesInFlightMax bounds the bytes of request bodies the server holds at once
	// (being read, or waiting for the sequencer): 16 maximal bodies. Beyond it a request
	// is refused before its body is read (503 busy), so memory for bodies stays bounded
	// however many connections announce large ones.
	bodyBytesInFlightMax = 16 * requestBodyBytesMax
	// bodyBytesPerPeerMax bounds the part of that budget one peer address (an IPv6 peer:
	// its /64) holds: a quarter, four maximal bodies. Bodies are read before their
	// signature can be checked, so a peer without credentials that announced maximal
	// bodies and sent them slowly would otherwise hold the whole budget, and everyone's
	// requests with a body would be refused busy.
	bodyBytesPerPeerMax = bodyBytesInFlightMax / 4
	// fasthttpUnreadBodyMax is what fasthttp reads and drops of a body its handler left
	// unread, after the answer, before it reuses the connection (its
	// maxUnreadStreamBodySize); beyond it, it closes the connection instead.
	fasthttpUnreadBodyMax = 256 << 10
	// drainingMax bounds the connections that drop the rest of a refused request's body
	// at once (Server.discardBodyAfterAnswer), each a goroutine for up to readTimeout:
	// as many as fasthttp serves.
	drainingMax = connectionsMax
	// lookupSubmitsMax bounds the lookups one HTTP lookup asks of the node: its first and
	// the repeats after cut replies (readRecords). On a node of two shards no list of ids
	// needs more than 7 (readRecords' comment gives the reckoning;
	// TestTwoShardLookupNeedsAtMostSevenSubmits reaches it; 9 leaves a margin); on more
	// shards a list whose ids have a record on many shards could need hundreds (8,189 copies of one id
	// on 256 shards: 1,023 submits and 2 M records for one request charged 8,189 events:
	// TestReviewac47OneLookupsNodeWorkIsBounded). Past the bound the request is refused
	// 422 too_many_records, and the integrator asks fewer ids at a time.
	lookupSubmitsMax = 9
	// lookupRecordsMax bounds the records one HTTP lookup answers: two replies' worth,
	// what 8,189 ids have on a node of two shards (refused past it, as above).
	lookupRecordsMax = 2 * model.EventsPerRequestMax
	// headerBytesMax bounds the request line and headers (fasthttp's read buffer).
	headerBytesMax = 8 << 10
	// readTimeout, writeTimeout and idleTimeout bound a connection's reading a request,
	// writing a response and waiting for the next request.
	readTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
	idleTimeout  = 2 * time.Minute
	// connectionsMax bounds concurrent connections (fasthttp's Concurrency, which is
	// also the most handlers running at once).
	connectionsMax = 4096
	// connectionsPerPeerMax bounds the connections one peer address (an IPv6 peer: its
	// /64) holds open: a quarter of connectionsMax, far more than one integrator's pool,
	// so that one peer holding connections open cannot leave everyone else refused.
	connectionsPerPeerMax = connectionsMax / 4

	// objectKeysMax bounds the keys of one JSON object in a body: the largest the API
	// takes (a conversion request) has 15, so more cannot be valid, and checkKeys's
	// duplicate scan stays short however a body is made.
	objectKeysMax = 32
	// jsonDepthMax bounds how deeply a body's arrays and objects nest: the deepest the
	// API takes is 2 (an array of objects, an object holding an array of ids). checkKeys
	// keeps a level (32 bytes) per open array or object and encoding/json's tokenizer
	// another word, so without a bound a 4 MiB body of '[' held some 200 MB while it was
	// checked (about 1 GB allocated), fifty times the body budget
	// (TestHunt44aDeepBodyIsRefusedCheaply); the decoder's own limit (10,000) applies
	// only after checkKeys.
	jsonDepthMax = 8

	// pageLimitDefault is the page size of account transfer and balance listings when
	// the query gives none.
	pageLimitDefault = 100
)
