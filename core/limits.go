package core

import "sequent/core/model"

// Bounds of the state machine.
const (
	// SessionsMaxDefault bounds the session table unless Config says otherwise. A session
	// is one client connection's exactly-once scope; when the table is full, the session
	// that applied nothing for the longest time is evicted (its retries then fall back on
	// the ledger's id idempotency).
	SessionsMaxDefault = 1024

	// sessionWindow is how many request numbers below a session's highest one are still
	// tracked as applied or not: a retry older than that answers request_too_old. The Go
	// client numbers its requests within it, so it never sees that status.
	sessionWindow = model.SessionWindow

	// SessionReplyBytesMaxDefault bounds the bytes of cached replies per session (2 MiB:
	// more than the largest reply), and is the least Config may set (clients count on
	// it). Older replies are evicted first; a retry whose reply was evicted answers
	// request_too_old (the request was applied; look the ids up). The
	// ring holding them takes up to twice that. Worst case over a full table: 1024
	// sessions × 4 MiB = 4 GiB, reached only if every session keeps sending maximal
	// requests; a typical session holds a few KiB.
	SessionReplyBytesMaxDefault = model.SessionReplyBytesDefault

	// reportClientsMax bounds the clients a snapshot may list report sequences for (a
	// sanity bound on untrusted input: clients come from the keys file).
	reportClientsMax = 1 << 24

	// eventStatusSlots covers every status number (0..349) for the event counters.
	eventStatusSlots = 350

	// replyBytesMax bounds one request's reply body.
	replyBytesMax = model.ReplyBodyBytesMax
)
