package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strconv"

	"sequent/core/model"
)

// Kind is a frame type. Numbers are stable wire values.
type Kind uint8

// Frame kinds. The arrow says who sends it: C client, S server.
const (
	KindChallenge     Kind = 1  // S→C on connect: the login nonce and the timers.
	KindLogin         Kind = 2  // C→S: client id, key id, options, HMAC signature.
	KindLoginAccepted Kind = 3  // S→C: the session is open.
	KindLogout        Kind = 4  // C→S: end the session; S→C: acknowledged, closing.
	KindHeartbeat     Kind = 5  // Both ways after HeartbeatInterval without sending.
	KindRequest       Kind = 6  // C→S: an operation with its events.
	KindReply         Kind = 7  // S→C: the answer to one request.
	KindError         Kind = 8  // S→C: a protocol or login error; the server then closes.
	KindSubscribe     Kind = 9  // C→S: start execution reports, replaying from a sequence.
	KindSubscribed    Kind = 10 // S→C: the replay is complete; live reports follow.
	KindReport        Kind = 11 // S→C: one execution report.
	// Market data (20..29, marketdata.go).
	KindMarketDataSubscribe  Kind = 20 // C→S: subscribe to an instrument's (or all) updates.
	KindMarketDataSubscribed Kind = 21 // S→C: the subscription is in place (after any replay).
	KindMarketData           Kind = 22 // S→C: one or more market-data update records.
	KindMarketDataStale      Kind = 23 // S→C: updates were dropped for you: resnapshot.
)

// Fixed body sizes.
const (
	ChallengeSize     = 48 // Challenge body.
	LoginSize         = 48 // Login body.
	LoginAcceptedSize = 32 // LoginAccepted body.
	SubscribeSize     = 16 // Subscribe body.
	SubscribedSize    = 16 // Subscribed body.
	NonceSize         = 32 // Server nonce in a challenge.
	SignatureSize     = 32 // HMAC-SHA256 output.
)

type kindShape struct {
	name           string
	bodyBytesMax   uint32 // Largest body; the exact size when bodyBytesFixed.
	bodyBytesFixed bool   // The body must be exactly bodyBytesMax bytes.
}

var kindShapes = [...]kindShape{
	KindChallenge:     {"challenge", ChallengeSize, true},
	KindLogin:         {"login", LoginSize, true},
	KindLoginAccepted: {"login_accepted", LoginAcceptedSize, true},
	KindLogout:        {"logout", 0, true},
	KindHeartbeat:     {"heartbeat", 0, true},
	KindRequest:       {"request", uint32(model.RequestBodyBytesMax), false},
	KindReply:         {"reply", uint32(BodyBytesMax), false},
	KindError:         {"error", ErrorTextBytesMax, false},
	KindSubscribe:     {"subscribe", SubscribeSize, true},
	KindSubscribed:    {"subscribed", SubscribedSize, true},
	KindReport:        {"report", ReportBodyBytesMax, false},

	KindMarketDataSubscribe:  {"md_subscribe", MarketDataSubscribeSize, true},
	KindMarketDataSubscribed: {"md_subscribed", MarketDataSubscribedSize, true},
	KindMarketData:           {"md_update", MarketDataBodyBytesMax, false},
	KindMarketDataStale:      {"md_stale", MarketDataStaleSize, true},
}

// shape returns k's shape, nil for numbers between the defined ranges (and 0), shared:
// callers must not change it. A pointer rather than a copy: every frame in and out asks
// for its kind's shape.
func (k Kind) shape() *kindShape {
	if int(k) >= len(kindShapes) || kindShapes[k].name == "" { // Kind 0 has no name.
		return nil
	}
	return &kindShapes[k]
}

// Known reports whether k is a defined frame kind.
func (k Kind) Known() bool { return k.shape() != nil }

// String returns the kind's stable snake_case name.
func (k Kind) String() string {
	if shape := k.shape(); shape != nil {
		return shape.name
	}
	return "kind_" + strconv.Itoa(int(k))
}

// Kinds returns every defined kind in numeric order.
func Kinds() []Kind {
	kinds := make([]Kind, 0, len(kindShapes)-1)
	for k := 1; k < len(kindShapes); k++ {
		if Kind(k).Known() {
			kinds = append(kinds, Kind(k))
		}
	}
	return kinds
}

// BodyBytesMaxOf returns the largest body a frame of kind k may carry and whether the
// body must be exactly that size (0 and false for an undefined kind).
func BodyBytesMaxOf(k Kind) (bodyBytesMax uint32, fixed bool) {
	if shape := k.shape(); shape != nil {
		return shape.bodyBytesMax, shape.bodyBytesFixed
	}
	return 0, false
}

// Challenge is the body of the frame the server sends first on every connection.
//
//	0 nonce [32]   32 heartbeat_interval_ms u32   36 silence_timeout_ms u32   40 reserved u64
type Challenge struct {
	Nonce               [NonceSize]byte // Single-use: sign it in the login.
	HeartbeatIntervalMs uint32          // Send a heartbeat after this long without sending.
	SilenceTimeoutMs    uint32          // The server closes after this long without receiving.
}

// Encode writes the challenge into b[0:ChallengeSize].
func (c *Challenge) Encode(b []byte) {
	_ = b[ChallengeSize-1]
	copy(b[0:NonceSize], c.Nonce[:])
	binary.LittleEndian.PutUint32(b[32:], c.HeartbeatIntervalMs)
	binary.LittleEndian.PutUint32(b[36:], c.SilenceTimeoutMs)
	binary.LittleEndian.PutUint64(b[40:], 0)
}

// Decode reads the challenge from b[0:ChallengeSize].
func (c *Challenge) Decode(b []byte) {
	_ = b[ChallengeSize-1]
	copy(c.Nonce[:], b[0:NonceSize])
	c.HeartbeatIntervalMs = binary.LittleEndian.Uint32(b[32:])
	c.SilenceTimeoutMs = binary.LittleEndian.Uint32(b[36:])
}

// Login options.
const (
	// LoginCancelOnDisconnect asks the server to cancel the client's open orders when this
	// session's connection ends for any reason (logout, disconnect, silence).
	LoginCancelOnDisconnect uint32 = 1 << 0
	// LoginUncheckedFrames asks the server not to verify the checksum of the frames the
	// client sends after its login (it may send 0 there): for clients whose language has
	// no fast CRC32C, over a transport that has its own integrity check. The server's
	// frames keep their checksum; such a client may ignore it.
	LoginUncheckedFrames uint32 = 1 << 1
	// LoginOptionsKnown is every defined option; other bits are refused.
	LoginOptionsKnown = LoginCancelOnDisconnect | LoginUncheckedFrames
)

// Login is the body of the client's login frame; the frame's session field carries the
// session id the client wants to open or resume.
//
//	0 client_id u64   8 key_id u32   12 options u32   16 signature [32]
type Login struct {
	Client    uint64              // Client id from the keys file.
	Key       uint32              // Key id of the secret that signed.
	Options   uint32              // Login* options.
	Signature [SignatureSize]byte // See Sign.
}

// Encode writes the login into b[0:LoginSize].
func (l *Login) Encode(b []byte) {
	_ = b[LoginSize-1]
	binary.LittleEndian.PutUint64(b[0:], l.Client)
	binary.LittleEndian.PutUint32(b[8:], l.Key)
	binary.LittleEndian.PutUint32(b[12:], l.Options)
	copy(b[16:16+SignatureSize], l.Signature[:])
}

// Decode reads the login from b[0:LoginSize].
func (l *Login) Decode(b []byte) {
	_ = b[LoginSize-1]
	l.Client = binary.LittleEndian.Uint64(b[0:])
	l.Key = binary.LittleEndian.Uint32(b[8:])
	l.Options = binary.LittleEndian.Uint32(b[12:])
	copy(l.Signature[:], b[16:16+SignatureSize])
}

// SignedMessageSize is the length of the message a login signs.
const SignedMessageSize = NonceSize + 8 + 4 + 4 + 8

// Sign returns HMAC-SHA256(secret, message) where message (56 bytes) is
//
//	nonce [32] || client_id u64 || key_id u32 || options u32 || session u64
//
// with integers little-endian. Binding the session and options stops a captured login
// from being replayed with other parameters; the nonce is single-use per connection.
func Sign(secret []byte, nonce *[NonceSize]byte, client uint64, key uint32, options uint32,
	session uint64) [SignatureSize]byte {
	var message [SignedMessageSize]byte
	copy(message[0:NonceSize], nonce[:])
	binary.LittleEndian.PutUint64(message[32:], client)
	binary.LittleEndian.PutUint32(message[40:], key)
	binary.LittleEndian.PutUint32(message[44:], options)
	binary.LittleEndian.PutUint64(message[48:], session)
	mac := hmac.New(sha256.New, secret)
	mac.Write(message[:])
	var signature [SignatureSize]byte
	mac.Sum(signature[:0])
	return signature
}

// Permission bits, as carried in LoginAccepted and configured in the keys file.
const (
	PermissionRead     uint32 = 1 << 0 // Lookups, queries and report subscriptions.
	PermissionTransfer uint32 = 1 << 1 // Ledger writes: accounts and transfers.
	PermissionTrade    uint32 = 1 << 2 // Matching writes: orders.
	PermissionAdmin    uint32 = 1 << 3 // Everything, including administrative operations.
)

// LoginAccepted is the body of the server's answer to a good login.
//
//	0 client_id u64   8 permissions u32   12 options u32   16 epoch u64   24 reserved u64
type LoginAccepted struct {
	Client      uint64 // The authenticated client.
	Permissions uint32 // Permission* bits in force for this session.
	Options     uint32 // The login options accepted.
	Epoch       uint64 // The server's replication epoch (0 when not known).
}

// Encode writes the body into b[0:LoginAcceptedSize].
func (l *LoginAccepted) Encode(b []byte) {
	_ = b[LoginAcceptedSize-1]
	binary.LittleEndian.PutUint64(b[0:], l.Client)
	binary.LittleEndian.PutUint32(b[8:], l.Permissions)
	binary.LittleEndian.PutUint32(b[12:], l.Options)
	binary.LittleEndian.PutUint64(b[16:], l.Epoch)
	binary.LittleEndian.PutUint64(b[24:], 0)
}

// Decode reads the body from b[0:LoginAcceptedSize].
func (l *LoginAccepted) Decode(b []byte) {
	_ = b[LoginAcceptedSize-1]
	l.Client = binary.LittleEndian.Uint64(b[0:])
	l.Permissions = binary.LittleEndian.Uint32(b[8:])
	l.Options = binary.LittleEndian.Uint32(b[12:])
	l.Epoch = binary.LittleEndian.Uint64(b[16:])
}

// Subscribe is the body of a report subscription.
//
//	0 from_sequence u64 (0: live reports only)   8 shard u64 (0: the default instrument shard; s+1: shard s)
type Subscribe struct {
	FromSequence uint64 // Replay retained reports from this sequence on; 0: no replay.
	// Shard is the shard whose reports are asked for, plus one; 0 asks for the default
	// instrument shard's, which is all a client sent before the field (it was reserved,
	// sent as 0), so such a client gets what it always got (PROTOCOL.md section 8).
	Shard uint64
}

// Encode writes the body into b[0:SubscribeSize].
func (s *Subscribe) Encode(b []byte) {
	_ = b[SubscribeSize-1]
	binary.LittleEndian.PutUint64(b[0:], s.FromSequence)
	binary.LittleEndian.PutUint64(b[8:], s.Shard)
}

// Decode reads the body from b[0:SubscribeSize].
func (s *Subscribe) Decode(b []byte) {
	_ = b[SubscribeSize-1]
	s.FromSequence = binary.LittleEndian.Uint64(b[0:])
	s.Shard = binary.LittleEndian.Uint64(b[8:])
}

// Subscribed is the body of the server's answer to a subscription, sent after the replay.
//
//	0 oldest_sequence u64   8 replayed_through u64
//
// The frame's header aux carries next_sequence (the body is fixed at 16 bytes, and a
// client decoder refuses another length: no room to grow it): after a replay, the
// sequence from which the reports that follow are new to the client, which is the
// client's next report sequence at the server unless the client asked from above it
// (then reports next..from_sequence-1 it handled were lost in a failover, and their
// sequences now number new reports: PROTOCOL.md section 8); 0 when no replay was asked
// for and in a refusal. Servers before it sent 0 there.
type Subscribed struct {
	// OldestSequence is the oldest report the server holds for the client, or the
	// client's next sequence when it holds none (0 when no replay was asked for). If it
	// is above the requested sequence, reports in between are gone: the client has a gap
	// it must reconcile by queries (PROTOCOL.md section 8).
	OldestSequence uint64
	// ReplayedThrough is the highest sequence sent during the replay (0 if none).
	ReplayedThrough uint64
}

// Encode writes the body into b[0:SubscribedSize].
func (s *Subscribed) Encode(b []byte) {
	_ = b[SubscribedSize-1]
	binary.LittleEndian.PutUint64(b[0:], s.OldestSequence)
	binary.LittleEndian.PutUint64(b[8:], s.ReplayedThrough)
}

// Decode reads the body from b[0:SubscribedSize].
func (s *Subscribed) Decode(b []byte) {
	_ = b[SubscribedSize-1]
	s.OldestSequence = binary.LittleEndian.Uint64(b[0:])
	s.ReplayedThrough = binary.LittleEndian.Uint64(b[8:])
}
