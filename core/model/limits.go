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

	// AuditBytesMax bounds the text of one audit record.
	AuditBytesMax = 4096
)
