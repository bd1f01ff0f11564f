package model

// Limits shared by the core, the protocol and the clients. Each is a wire-visible bound.
const (
	// EventsPerRequestMax is the most events in one request: 8189 128-byte records fill a
	// 1 MiB message with room for a header and a trailer, as in TigerBeetle, so clients
	// that batch for TigerBeetle batch the same way here.
	EventsPerRequestMax = 8189

	// RequestBodyBytesMax bounds a request body: the largest request is 8189 records of
	// 128 bytes (1,048,192 bytes).
	RequestBodyBytesMax = EventsPerRequestMax * TransferSize

	// ReplyBodyBytesMax bounds a reply body: the largest reply is 8189 transfer results
	// with balances (144 bytes each, 1,179,216 bytes).
	ReplyBodyBytesMax = EventsPerRequestMax * EventResultBalancesSize

	// SessionWindow is how many request numbers below a session's highest applied one
	// the server still recognises (PROTOCOL.md §7): a resend older than that answers
	// request_too_old. Clients number their requests within it (netio/client's window).
	SessionWindow = 256

	// SessionReplyBytesDefault is the server's default cache of reply bodies per session
	// (core.Config.SessionReplyBytesMax), and the least it keeps: a resend whose reply was
	// evicted answers request_too_old although it was applied. The Go client keeps the
	// expected replies from its oldest pending request on within it.
	SessionReplyBytesDefault = 2 << 20

	// AuditBytesMax bounds the text of one audit record.
	AuditBytesMax = 4096
)
