package client

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"sequent/core/model"
)

// Defaults and bounds of the client.
const (
	// InflightMaxDefault bounds requests sent and not yet answered: enough to keep a
	// loopback link busy with small requests (128 per ~60 µs round trip ≈ 2 M/s), and
	// below the server's exactly-once window of 256 request numbers (window.go keeps the
	// numbers of pending requests within it too), so a resent request is never too old
	// to be recognised.
	InflightMaxDefault = 128
	// InflightBytesMaxDefault bounds the reply bytes those requests may bring back, below
	// the server's default per-connection bound (4 MiB), so a pipelining client is never
	// cut off as a slow consumer. A request that alone needs more is still sent (alone).
	// The server's cache of replies for resends (2 MiB) is kept by window.go: no write is
	// numbered whose reply would evict a pending request's.
	InflightBytesMaxDefault = 3 << 20
	// DialTimeoutDefault bounds one TCP connect plus login.
	DialTimeoutDefault = 2 * time.Second
	// ReconnectDelayMin and ReconnectDelayMax bound the backoff between reconnect rounds.
	ReconnectDelayMin = 10 * time.Millisecond
	ReconnectDelayMax = time.Second
	// RetryAfterMax bounds the wait a server's too_many_attempts asks for (its window
	// is a minute; a larger value would be a server bug, not a reason to wait longer).
	RetryAfterMax = 61 * time.Second
	// RedirectDelayMin is the first wait before following a second consecutive
	// not_primary redirect; it doubles per further redirect up to RedirectDelayMax. While
	// a standby waits to be promoted it names its dead primary, so clients are redirected
	// again and again until the promotion: the wait must bound that loop (without it, a
	// client logged in to the standby thousands of times a second) yet add little to the
	// failover time. Measured with `sequent drill` (100 manual, 20 automatic cycles):
	// starting at 10 ms raised the manual RTO p50 from 3 to 12 ms; doubling without a low
	// cap overshot the ~0.5 s automatic failover to 1.35 s. 1 ms doubling to 50 ms keeps
	// both and holds a redirected client to 20 logins a second.
	RedirectDelayMin = time.Millisecond
	RedirectDelayMax = 50 * time.Millisecond
	// BusyRetryDelayDefault is the first wait before resending a request answered busy;
	// it doubles per retry up to busyRetryDelayMax.
	BusyRetryDelayDefault = time.Millisecond
	busyRetryDelayMax     = 100 * time.Millisecond
	// coalesceFirstEvents is the first capacity, in events, of a request formed for
	// merging (coalesce.go): room for a burst of one-event callers before it grows.
	coalesceFirstEvents = 8
	// encodeSmallEvents bounds the runs of CreateTransfers encoded in a pooled buffer
	// (1 KiB) rather than a fresh allocation: one-event callers are the merging's common
	// case.
	encodeSmallEvents = 8
	// logoutWait bounds how long Close waits for the server's logout acknowledgement.
	logoutWait = 500 * time.Millisecond
)

// Config configures a Client.
type Config struct {
	// Addresses are the servers to try, in order (host:port). A not_primary reply moves
	// the named primary to the front.
	Addresses []string
	Client    uint64 // Client id from the keys file.
	Key       uint32 // Key id.
	Secret    []byte // The key's secret (raw bytes, not hex).
	// Session is the session id; 0 picks a random one. Reusing a session id after a
	// restart of the client resumes exactly-once numbering only if Number is also set.
	Session uint64
	// FirstNumber is the first request number to use (default 1). A client that resumes
	// a session after its own restart sets it above every number it used before.
	FirstNumber uint64
	// CancelOnDisconnect asks the server to cancel this client's open orders whenever the
	// session's connection ends.
	CancelOnDisconnect bool
	// UncheckedFrames negotiates login option bit 1: the server does not verify the
	// checksum of this client's frames after the login, and the client sends requests
	// with 0 there (it still verifies the server's). Go has hardware CRC32C, so this
	// exists for measurements and tests; see PROTOCOL.md, section 3.
	UncheckedFrames bool
	// DialTimeout bounds one connect plus login (default DialTimeoutDefault).
	DialTimeout time.Duration
	// HeartbeatInterval and SilenceTimeout default to the values the server announces.
	// A connection the server has sent nothing on for SilenceTimeout, or whose write has
	// been blocked that long (checked every quarter of HeartbeatInterval), is dropped and
	// the session resumed on a new one.
	HeartbeatInterval time.Duration
	SilenceTimeout    time.Duration
	// LoneReads makes Do and DoInto read their reply on the caller's goroutine while
	// their request is the only one pending (doc.go, Pipelining; lone_read.go): one
	// goroutine hand-off less per request. Off by default: measured only on a loaded
	// machine so far, where the median fell and the tail grew (bench/PERFORMANCE.md,
	// session 52).
	LoneReads bool
	// InflightMax and InflightBytesMax bound pipelining (defaults above).
	InflightMax      int
	InflightBytesMax int
	// RouteByShard makes CreateTransfers and CreateTransfersWithBalances send a batch of
	// several transfers as one request per debit shard of the server's shard map
	// (get_shard_map, asked once), cut at model.EventsPerRequestMax events, so that the
	// server hands each request whole to its debit shard instead of splitting it
	// (PROTOCOL.md §18; a transfer whose credit account is on another shard also involves
	// that shard, through its saga, and a post or void naming no debit account is
	// answered placement_field_missing by the server's router). Results keep the batch's
	// order. A batch with a linked event is sent whole, in its order: a chain is atomic
	// only within one request, and the server refuses one that spans shards; the server
	// splits such a batch when its events live on several shards. Merged requests
	// (CoalesceEventsMax) take the events of one debit shard only; a batch sent whole
	// whose transfers debit several shards is merged only with batches like it. Each
	// request is exactly-once on its own; a batch is then not one request. On a map of
	// one shard it changes nothing.
	RouteByShard bool
	// BusyRetryDelay is the first delay before a request answered busy, log_unavailable
	// or outcome_unknown is resent with its number (default BusyRetryDelayDefault; it
	// doubles per resend up to 100 ms); negative returns those replies to the caller,
	// except for a write whose outcome is unknown (its reply lost with a connection, or
	// answered outcome_unknown), which is resent after the default delay, doubling (a
	// read's refusal is its outcome: it goes to the caller).
	BusyRetryDelay time.Duration
	// CoalesceEventsMax bounds the events of a request that concurrent CreateAccounts,
	// CreateTransfers and CreateTransfersWithBalances calls share (coalesce.go): 0 is
	// model.EventsPerRequestMax (merging on, the default); -1 turns merging off (one
	// request per call and chunk, as Go and Do always do).
	CoalesceEventsMax int
	// RejoinWait bounds how long the next merged request waits, once a merged request
	// of at least rejoinCallersMin callers was answered, for as many callers to join it
	// as that answer released (coalesce.go, "Rejoin"), counted from the answer: 0 is
	// RejoinWaitDefault, negative turns the wait off.
	RejoinWait time.Duration
	// Logger receives reconnects and errors (nil discards).
	Logger *slog.Logger
	// ReportsLost, if set, is called when a report subscription resumed after a
	// reconnect (even one lost before the first Subscribe was answered, once its replay
	// had begun), or the answer to a Subscribe whose context ended before it, finds the
	// server no longer holding reports first..last, the ones after the last the handler
	// was given (retention exceeded, or a server restarted from a snapshot, which keeps
	// only later reports: PROTOCOL.md section 8). The handler will
	// never see them: reconcile by querying orders (from another goroutine: like the
	// report handler, this runs on the reader goroutine, which reads the replies; it may
	// call Close). Called when the subscription's answer arrives: after the retained
	// reports that follow the gap were handed to the handler (the server replays them
	// before its answer), before any live report, and not once Close has begun; the gap
	// is logged either way. A reader of a newer connection calls it first if it hands
	// over a report before the answer's reader calls it: it comes once. The loss below a
	// replay's first report, when the connection was lost before that replay's answer, is
	// told once the next connection's resumption is answered or hands over a report.
	ReportsLost func(first, last uint64)
	// ReportsReused, if set, is called when a report subscription resumed after a
	// reconnect (or the answer to a Subscribe whose context ended before it) finds the
	// server behind the last report handled: a failover lost reports first..last, which
	// the handler was given (asynchronous replication, or a standby started without its
	// primary), and the new primary numbers new reports with those sequences. The range
	// may also hold sequences counted as handled without being given: told lost
	// (ReportsLost, or the first caller's Subscribed), or before a live subscription's
	// first report (PROTOCOL.md section 8: next_sequence - 1 is the last handled). The handler is given them as new reports, in order, after
	// this call (PROTOCOL.md section 8). The orders those handled reports spoke of may
	// be back in an earlier state (or gone): reconcile by querying orders. A callback of
	// its own rather than ReportsLost, whose reports were never handled: these were,
	// and were undone. Called on the reader goroutine, like the report handler (and like
	// ReportsLost: query from another goroutine; it may call Close); logged either way,
	// and, like ReportsLost, called once, before any report handed over after the gap
	// was found. The first Subscribe's caller reads Subscribed.NextSequence instead; if
	// that Subscribe's connection was lost after its replay began and the resumption
	// found the reuse, this is called for the part from the sequence Subscribe asked
	// for, the caller's NextSequence showing the rest.
	ReportsReused func(first, last uint64)
	// ShardReportsLost and ShardReportsReused, if set, are called instead of
	// ReportsLost and ReportsReused for a subscription made with SubscribeShard (or
	// SubscribeEveryShard), naming its shard: each shard numbers a client's reports on
	// its own, so a gap's sequences mean nothing without it. Called as those are.
	ShardReportsLost   func(shard uint16, first, last uint64)
	ShardReportsReused func(shard uint16, first, last uint64)
}

func (c Config) withDefaults() Config {
	if c.DialTimeout == 0 {
		c.DialTimeout = DialTimeoutDefault
	}
	if c.InflightMax == 0 {
		c.InflightMax = InflightMaxDefault
	}
	if c.InflightBytesMax == 0 {
		c.InflightBytesMax = InflightBytesMaxDefault
	}
	if c.BusyRetryDelay == 0 {
		c.BusyRetryDelay = BusyRetryDelayDefault
	}
	if c.CoalesceEventsMax == 0 {
		c.CoalesceEventsMax = model.EventsPerRequestMax
	}
	if c.FirstNumber == 0 {
		c.FirstNumber = 1
	}
	if c.RejoinWait == 0 {
		c.RejoinWait = RejoinWaitDefault
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case len(c.Addresses) == 0:
		return errors.New("client: no server addresses")
	case c.Client == 0:
		return errors.New("client: client id 0")
	case c.Key == 0:
		return errors.New("client: key id 0")
	case len(c.Secret) == 0:
		return errors.New("client: empty secret")
	case c.InflightMax < 0 || c.InflightBytesMax < 0:
		return errors.New("client: negative inflight bounds")
	case c.CoalesceEventsMax < -1 || c.CoalesceEventsMax > model.EventsPerRequestMax:
		return fmt.Errorf("client: CoalesceEventsMax %d: want -1 (off), 0 (default) or up to %d",
			c.CoalesceEventsMax, model.EventsPerRequestMax)
	case c.SilenceTimeout != 0 && c.SilenceTimeout <= c.HeartbeatInterval:
		return fmt.Errorf("client: SilenceTimeout %s must exceed HeartbeatInterval %s",
			c.SilenceTimeout, c.HeartbeatInterval)
	}
	return nil
}

// Errors.
var (
	// ErrClosed is returned for calls on a closed client and for calls still pending
	// when Close ran (wrapped in an *OutcomeUnknownError for a write that may be
	// applied).
	ErrClosed = errors.New("client: closed")
	// ErrUnreachable is returned by Dial when no address accepted a connection and login.
	ErrUnreachable = errors.New("client: no server reachable")
	// ErrChainTooLong is returned by the batching helpers for a linked chain longer than
	// one request can carry (model.EventsPerRequestMax events).
	ErrChainTooLong = errors.New("client: linked chain longer than one request")
)

// StatusError is a request-level status other than ok (busy when retries are off,
// permission_denied, not_primary without a reachable primary, ...): the request was not
// applied, except for the statuses that say so themselves (request_too_old to a read, or
// to a write with no copy lost: look the ids up). A write an earlier copy of which may
// have been applied is never completed with a StatusError, whatever the status
// (OutcomeUnknownError). Per-event statuses are in the results, not here.
type StatusError struct {
	Operation model.Operation
	Number    uint64       // Request number.
	Status    model.Status // The request-level status.
	Primary   string       // For not_primary: the primary's address, if known.
}

// ErrOrderReadNeedsInstrument is what errors.Is finds in the *StatusError of an order
// read refused whole with instrument_shard_unknown (85): LookupOrders, and
// GetAccountOrders of every instrument (Instrument 0), on a node whose instruments are on
// several shards (PROTOCOL.md section 18, "Refused by the node"). Each shard numbers its
// own orders, so an order id alone, or an account alone, names no shard: the node cannot
// answer, and the refusal says nothing of which orders are open (an empty list would say
// none are). Ask GetAccountOrders per instrument instead; the connection stays.
var ErrOrderReadNeedsInstrument = errors.New(
	"client: order read needs an instrument on a node whose instruments are on several shards")

// Is reports whether target is ErrOrderReadNeedsInstrument and e its refusal (status
// instrument_shard_unknown, which no other request-level refusal carries), so that a
// caller tests it with errors.Is and keeps errors.As for the status itself.
func (e *StatusError) Is(target error) bool {
	return target == ErrOrderReadNeedsInstrument &&
		e.Status == model.StatusInstrumentShardUnknown
}

func (e *StatusError) Error() string {
	text := fmt.Sprintf("client: %s request %d: %s (%d)", e.Operation, e.Number, e.Status,
		uint32(e.Status))
	if e.Primary != "" {
		text += "; primary is " + e.Primary
	}
	return text
}

// OutcomeUnknownError completes a write whose outcome the client cannot learn by
// resending: an earlier copy may have been applied (its reply was lost with a
// connection, or it was answered outcome_unknown), and a resend was answered with a
// status that resending does not cure and that says nothing about that copy (Status):
// permission_denied, which the server checks before it looks the number up (PROTOCOL.md
// §6), the client's permissions having changed while the copy was on its way;
// request_too_old, the server no longer knowing the number (§7); internal_error, a
// fault on that attempt; or any other request-level refusal but those resent until a
// definite reply (Config.BusyRetryDelay). It is not a refusal (it is no *StatusError):
// the write may be applied. Look its ids up to learn the outcome, or retry it by id (an
// identical object answers exists; PROTOCOL.md §7).
//
// It also completes such a write, or one with a copy sent and not answered, that ends
// for another reason (Err): Close (ErrClosed), a fatal error (a revoked key, a login
// refused on a reconnect: the *ServerError), a protocol error naming a resend (a
// *ServerError such as unexpected_frame), or its caller's context ending (context.Canceled,
// context.DeadlineExceeded; also for a caller leaving a merged request that goes on for
// others, Number 0 if it was not numbered yet); Status is then outcome_unknown.
// errors.Is and errors.As see Err through it. A write no copy of which may have been
// applied (never written, or refused busy and waiting to be resent) gets Err itself.
type OutcomeUnknownError struct {
	Operation model.Operation
	Number    uint64       // Request number.
	Status    model.Status // The resend's refusal, or outcome_unknown with Err.
	Err       error        // Why the call ended when no reply did; nil otherwise.
}

func (e *OutcomeUnknownError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("client: %s request %d: outcome unknown (a copy may have been "+
			"applied; the call ended: %v): look the ids up", e.Operation, e.Number, e.Err)
	}
	return fmt.Sprintf("client: %s request %d: outcome unknown (an earlier copy may have "+
		"been applied; its resend was refused %s (%d)): look the ids up", e.Operation,
		e.Number, e.Status, uint32(e.Status))
}

// Unwrap returns Err (errors.Is(err, ErrClosed), say).
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// ServerError is an error frame from the server (login refused, protocol error, ...).
type ServerError struct {
	Code    uint32 // A wire.ErrorCode.
	Name    string // Its stable name.
	Message string // The server's explanation.
	// RetryAfter is how long the server asks the client to wait before it reconnects
	// (too_many_attempts); 0 otherwise.
	RetryAfter time.Duration
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("client: server error %s (%d): %s", e.Name, e.Code, e.Message)
}
