package netio

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	// Address to listen on, host:port. Port 0 picks a free port (see Server.Address).
	// Default 127.0.0.1:7400.
	Address string
	// Keys authenticates clients (required). Reload it to rotate or revoke keys; sessions
	// whose key disappears are closed at their next request or subscription, or instead of
	// the next report or market-data update they would be sent.
	Keys *Keyring
	// Logger receives connection-level events (login failures, disconnect reasons). It
	// is called from a dedicated goroutine, never from an event loop. Nil discards.
	Logger *slog.Logger
	// EventLoops is the number of gnet event loops (default 1: on a 2-core machine the
	// shard sequencer needs the other core).
	EventLoops int
	// HeartbeatInterval: the server sends a heartbeat after this long without sending.
	HeartbeatInterval time.Duration
	// SilenceTimeout: the server closes a connection after this long without receiving.
	SilenceTimeout time.Duration
	// LoginTimeout: the server closes a connection that has not logged in by then.
	LoginTimeout time.Duration
	// DrainTimeout: a connection whose last frame waits behind unsent bytes is reset
	// after this long (default DrainTimeoutDefault; PROTOCOL.md section 9).
	DrainTimeout time.Duration
	// OutboundBytesMax bounds a connection's unsent bytes; beyond it the connection is
	// closed as a slow consumer (default OutboundBytesMaxDefault).
	OutboundBytesMax int
	// ConnectionsMax bounds open connections (default ConnectionsMaxDefault).
	ConnectionsMax int
	// ReadBufferBytes and WriteBufferBytes set gnet's buffers (defaults above).
	ReadBufferBytes  int
	WriteBufferBytes int
	// PrimaryAddress returns the current primary's host:port; a not_primary reply carries
	// it so the client can follow. Nil or "" sends no address.
	PrimaryAddress func() string
	// Epoch returns the replication epoch shown in LoginAccepted (nil: 0).
	Epoch func() uint64
	// Admission is the hook for limits beyond authentication (IP allow-lists, connection
	// and rate limits). Nil admits everything.
	Admission Admission
	// MarketData sizes the market-data feed (see MarketDataConfig).
	MarketData MarketDataConfig
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Address == "" {
		c.Address = "127.0.0.1:7400"
	}
	if c.EventLoops == 0 {
		c.EventLoops = 1
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = HeartbeatIntervalDefault
	}
	if c.SilenceTimeout == 0 {
		c.SilenceTimeout = SilenceTimeoutDefault
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = LoginTimeoutDefault
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DrainTimeoutDefault
	}
	if c.OutboundBytesMax == 0 {
		c.OutboundBytesMax = OutboundBytesMaxDefault
	}
	if c.ConnectionsMax == 0 {
		c.ConnectionsMax = ConnectionsMaxDefault
	}
	if c.ReadBufferBytes == 0 {
		c.ReadBufferBytes = ReadBufferBytesDefault
	}
	if c.WriteBufferBytes == 0 {
		c.WriteBufferBytes = WriteBufferBytesDefault
	}
	return c
}

// Validate reports the first unusable setting (after defaults are applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("netio: address %q: %w", c.Address, err)
	}
	switch {
	case c.Keys == nil:
		return errors.New("netio: Config.Keys is required")
	case c.EventLoops < 1 || c.EventLoops > 64:
		return fmt.Errorf("netio: EventLoops %d outside 1..64", c.EventLoops)
	case c.HeartbeatInterval < time.Millisecond:
		return fmt.Errorf("netio: HeartbeatInterval %s below 1ms", c.HeartbeatInterval)
	case c.SilenceTimeout <= c.HeartbeatInterval:
		return fmt.Errorf("netio: SilenceTimeout %s must exceed HeartbeatInterval %s",
			c.SilenceTimeout, c.HeartbeatInterval)
	case c.LoginTimeout < time.Millisecond:
		return fmt.Errorf("netio: LoginTimeout %s below 1ms", c.LoginTimeout)
	case c.DrainTimeout < time.Millisecond:
		return fmt.Errorf("netio: DrainTimeout %s below 1ms", c.DrainTimeout)
	case c.OutboundBytesMax < outboundBytesMaxLeast:
		return fmt.Errorf("netio: OutboundBytesMax %d below %d (one largest reply)",
			c.OutboundBytesMax, outboundBytesMaxLeast)
	case c.ConnectionsMax < 1 || c.ConnectionsMax > connectionsMaxLimit:
		return fmt.Errorf("netio: ConnectionsMax %d outside 1..%d", c.ConnectionsMax,
			connectionsMaxLimit)
	case c.ReadBufferBytes < 4096 || c.WriteBufferBytes < 4096:
		return errors.New("netio: ReadBufferBytes and WriteBufferBytes must be at least 4096")
	case len(c.MarketData.Shards) > 1 && c.MarketData.InstrumentShard == nil:
		return errors.New("netio: MarketData.Shards of several shards needs InstrumentShard")
	}
	return nil
}

// tickInterval is how often the ticker checks timers: a tenth of the heartbeat interval,
// within [tickIntervalMin, tickIntervalMax].
func (c Config) tickInterval() time.Duration {
	return min(max(c.HeartbeatInterval/10, tickIntervalMin), tickIntervalMax)
}

// Admission decides on connections and requests beyond authentication: IP allow-lists,
// connection limits per client and per address, rate limits. Every method is called on
// an event loop, concurrently from several loops: it must be safe for concurrent use and
// must never block (no I/O, no waiting on locks held for long).
type Admission interface {
	// AdmitConnection is called when a connection opens and has a slot (ConnectionsMax:
	// one refused for want of a slot is not shown to it). A non-zero code refuses it: the
	// client gets an error frame with that code (and retryAfter, when not zero, in its
	// aux field, in milliseconds) and the connection closes.
	AdmitConnection(remote net.Addr) (refusal wire.ErrorCode, retryAfter time.Duration)
	// AdmitLoginAttempt is called when a login frame arrives, before its key is looked
	// up, with the client id it names and whether the keys file knows that client. A
	// non-zero code refuses it as above, without checking the key.
	AdmitLoginAttempt(remote net.Addr, client uint64, known bool) (refusal wire.ErrorCode,
		retryAfter time.Duration)
	// LoginFailed is called when an attempt AdmitLoginAttempt let through fails (bad
	// options, unknown key, bad signature).
	LoginFailed(remote net.Addr, client uint64, known bool)
	// AdmitLogin is called after a login's signature verified. A non-zero code refuses it
	// as above. Each admitted login is later matched by one LoginEnded. takeover is true
	// when the login resumes a session another open connection holds (that connection is
	// closed as taken over): a reconnecting client must not be locked out by its own
	// half-open socket, so connection limits do not refuse a takeover.
	AdmitLogin(client *Client, remote net.Addr, takeover bool) (refusal wire.ErrorCode)
	// LoginEnded is called when an admitted session's connection closes.
	LoginEnded(client *Client, remote net.Addr)
	// AdmitRequest is called for every well-formed request before it is submitted. A
	// status other than StatusOK (normally StatusRateLimited) answers the request with
	// that status at once; the connection stays open.
	AdmitRequest(client *Client, operation model.Operation, events int) model.Status
	// AdmitSubscription is called for every subscribe and md_subscribe frame of a
	// logged-in client (after its permission check): subscriptions cost the server work
	// (an md_subscribe with from_op scans the retained updates), so they draw on the
	// client's request budget too. A status other than StatusOK (normally
	// StatusRateLimited) answers the frame (subscribed, md_subscribed) with that status
	// at once and changes nothing; the connection stays open.
	AdmitSubscription(client *Client) model.Status
}
