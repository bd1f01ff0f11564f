// Package api is the integrators' JSON HTTP API (`sequent serve --api ADDR`), on
// fasthttp, on its own listener. It offers what the binary protocol offers to
// integrators — create accounts, create transfers (one, or a batch up to
// model.EventsPerRequestMax), two-phase post and void, lookups, an account's transfers
// and balance history a page at a time, and conversions (netio/client's planning, the
// same as `sequent client convert`) — with the same semantics and result codes: each
// result carries the status by name ("status") and number ("code"), ids and amounts are
// decimal strings, and the records are netio/jsonview's, the shapes of
// `sequent client --json`. openapi.json (served at /v1/openapi.json) describes every
// route and schema; TestOpenAPIMatchesRoutes keeps it and the route table in step.
//
// # Authentication
//
// Every request but GET /v1/openapi.json and GET /v1/time is signed (auth.go): the
// client signs method, request URI, client and key ids, a timestamp, a nonce and the
// SHA-256 of the body, and under signature version 2 (Sequent-Signature-Version: 2,
// what Signer sends) the Idempotency-Key, with an HMAC-SHA256 secret or an ECDSA P-256
// private key whose public key is in the keys file (the same Keyring as the binary
// port, reloaded with it). Version 1 (no version header) is still accepted, unless the
// key's signature_version_min is 2; it leaves the Idempotency-Key to whoever relays the
// request. The version is the first line of the string to sign, so removing the header
// cannot downgrade a version-2 request. The server refuses a missing or malformed
// header set, an unknown key, a version below the key's minimum, a bad signature, a
// timestamp outside ClockWindow and a nonce still remembered (until the server's clock
// passes the request's timestamp plus the window), each with its own error code (401).
// HMACs are compared in constant time. The nonce cache is bounded (NoncesMaxDefault,
// and half of it per client, less for a client with a requests_per_second limit: ten
// times what that rate can use, nonceCache.shareOf): when full, it refuses new requests
// (503 nonce_cache_full with Retry-After) rather than forget a nonce whose replay would
// then pass. Optional TLS and mutual TLS (Config.TLS) protect the connection; the
// signature still authenticates every request.
//
// # What it reuses from the binary port
//
// Permissions (Client.Allows), ownership (the core decides it from the request's
// authenticated client id, as for the binary port), the allow-lists (server-wide and per
// client), the per-client rate limits and the failed-authentication limit per
// (address, client), both counted together with the binary port's (netio.Controls), and
// the audit: every write is a log entry carrying the authenticated client id, exactly as
// a binary request is; refused authentications are logged with client and address.
//
// # Durability and exactly-once
//
// A request becomes a backend.Request with a connection id from netio.ConnectionIDLimit
// (2^61) up, below backend.ClientConnectionLimit (2^62); Replier splits the shard's released replies between the API's waiters and
// the binary server. Because the shard releases a reply only once its log position is
// durable (and standby-acknowledged in sync mode), an answer never leaves earlier. A
// request carrying Idempotency-Key SESSION:NUMBER uses that exactly-once session: a
// retry, even after a restart of the server, gets the original reply
// (Idempotency-Replayed: true). A request carrying it twice, or spelled
// Idempotency_Key, is refused (bad_idempotency_key): a gateway in front reading another
// copy would deduplicate by another key. Without one, the server numbers the request in a
// session of its own per client and process; a retry then relies on the ledger's own
// idempotency (the same transfer ids answer "exists"). Such a number is used once, so a
// request_too_old for it means the request reached the shard after 256 later ones of its
// client and was not applied: it is submitted again under a new number (request.submit).
// On a node of several shards another shard may have applied its part of it, so a
// resubmission that is refused is answered outcome_unknown, never "not applied" (a
// read's message says it applied nothing).
//
// # Lookups on a node of several shards
//
// A lookup's reply lists every shard's record of each id, and the node cuts a reply that
// would pass model.EventsPerRequestMax records before the first id whose records do not
// all fit (PROTOCOL.md section 18). The lookup routes ask the node again for the ids a
// cut reply left out, within the HTTP request (request.readRecords, with the Go client's
// rule, shardmap.LookupRestart): the client's permission and rate limits are charged once,
// for the ids of the HTTP request, since every repeat asks for some of those ids again;
// each repeat takes its place among the requests in flight. One HTTP lookup makes at
// most lookupSubmitsMax submits and answers at most lookupRecordsMax records (enough for
// any request on two shards), else 422 too_many_records. GET of one id with several
// records (a transfer id two shards each use, a settlement account's two copies) answers
// 409 ambiguous_id, pointing to the lookup route.
//
// A post or void (POST /v1/transfers/{id}/post, …/void) that the node refuses with
// placement_field_missing (its body names neither the pending transfer's debit account
// nor, under ledger placement, its ledger) is sent again once, after a lookup of the
// pending id (request.placePending), with the missing fields of the one record found
// (of several, those of the one transfer with the new transfer's id that resolves the
// pending id: a retry of a post or void applied, answered as a retry on its shard):
// the node records nothing for the first attempt, so the second is a first attempt,
// under an Idempotency-Key too. Neither is charged again to the client's rate limits.
//
// # Overload
//
// At most InFlightMax requests wait for the shard; beyond it, or when the shard's ring
// is full, the answer is 503 busy with Retry-After at once; a client over its rate gets
// 429. A reply not released within ReplyTimeout is answered 503 outcome_unknown (retry
// with the same Idempotency-Key or ids to learn the outcome; when the submit left
// unanswered was a read, resolve's lookup of the pending transfer included, the message
// says it applied nothing). A request body's length is taken (takeBody) out of
// bodyBytesInFlightMax bytes for all requests together and bodyBytesPerPeerMax for those
// of one peer address (503 busy before reading a body that does not fit), then the body
// is read (readBody). A request whose authentication
// headers already fail (authenticateHeaders: none, malformed, unknown key, timestamp out
// of the window, a version below the key's minimum, too many failed attempts) is
// answered before its body is read, beyond the first 8 KiB fasthttp reads with the
// headers, and the rest of its body dropped (discardBodyAfterAnswer); once the body is
// read, the credentials parsed before it are checked again against the server's state
// (admitCredentials: a reload may have removed the key, the clock left the window while
// the body came), then the signature and the nonce. One peer holds at most
// connectionsPerPeerMax of the connectionsMax connections (newPeerListener:
// peer.Listener). Nothing waits or grows unbounded.
//
// # Goroutines
//
// fasthttp's worker goroutines run the handlers (at most connectionsMax at once); each
// waits on its own buffered channel for its reply. The shard goroutine calls
// Replier.Deliver, which never blocks: it copies the reply body into the waiter's
// channel (capacity one) or drops it if the handler gave up. The nonce cache and the
// waiters are sharded maps under their own mutexes. The rest (over 256 KiB) of the body
// of a request refused from its headers is read and dropped by the goroutine fasthttp
// starts for a hijacked connection, which first writes the refusal itself (with
// Connection: close, within writeTimeout) (Server.discardBodyAfterAnswer: at most
// drainingMax at once, each for at most readTimeout, then the connection is closed).
// A handler's panic is recovered by netio/httpguard: 500 internal (a write's outcome
// unknown), logged with its stack (up to a bound per minute), counted (Stats.Panics); one
// out of the shard's Submit is not, and ends the process.
package api
