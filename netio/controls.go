package netio

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"sequent/core/model"
	"sequent/netio/peer"
	"sequent/netio/wire"
)

// ControlsConfig configures the security controls of the binary port.
type ControlsConfig struct {
	// AllowedNetworks lists where connections may come from; empty: anywhere. A client's
	// own allowed_networks (keys file) narrow it further at login.
	AllowedNetworks []netip.Prefix
	// LoginAttemptsPerMinute bounds, per minute, the failed logins per (remote address,
	// client id named in the login), and the connections per remote address that close
	// or stall without sending a login; 0: LoginAttemptsPerMinuteDefault.
	LoginAttemptsPerMinute int
	// Now is the clock (tests replace it); nil: time.Now.
	Now func() time.Time
}

// Controls implements Admission: the binary port's allow-list, the login attempt limits,
// and per-client connection limits and rate limits from the keys file. It is called from
// every event loop, so its state sits behind short mutexes and nothing blocks.
//
// Login attempts are limited in two ways, each LoginAttemptsPerMinute per minute (an
// IPv6 address counts as its /64 network, see peer.Bucket):
//
//   - per remote address, connections that have not sent a login (yet): a connection is
//     counted when it opens and given back when its login arrives, so what the limit
//     catches is a flood of connections that never log in (they would be anonymous:
//     there is nothing else to key them on);
//   - per (remote address, client id the login names), failed logins (unknown key, bad
//     signature, bad options). Logins naming a client the keys file does not know share
//     the bucket of client 0.
//
// So a flood of wrong keys from one address locks out that address only for the client
// id it names: other clients on the same address (behind one NAT, on one host) keep
// logging in. A locked (address, client) is refused before its key is checked, even with
// the right key — otherwise the limit would not slow a guesser down — and the refusal
// (too_many_attempts) says how long until the minute is over.
type Controls struct {
	config   ControlsConfig
	mutex    sync.Mutex
	attempts map[netip.Addr]*attemptWindow // Connections without a login, per address.
	failures map[attemptKey]*attemptWindow // Failed logins per (address, client).
	clients  map[uint64]*clientControl     // Per client: connections and token buckets.
}

// attemptKey is the bucket of failed logins: where from, and for which client (0 for a
// client id the keys file does not know).
type attemptKey struct {
	address netip.Addr
	client  uint64
}

var _ Admission = (*Controls)(nil)

type attemptWindow struct {
	start time.Time
	count int
}

// clientControl is one client's live connection count and token buckets.
type clientControl struct {
	connections int
	requests    tokenBucket
	events      tokenBucket
}

// tokenBucket allows rate per second with a burst of one second's worth, and never less
// than one token: one second's worth of a rate below one a second (the keys file takes
// 0.5, one request every two seconds) would hold less than the one token a request
// takes, and the client could never send anything.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// has refills the bucket to now and reports whether amount tokens are there (at rate
// per second; a zero rate is unlimited). It takes nothing: see take.
func (b *tokenBucket) has(now time.Time, rate float64, amount float64) bool {
	if rate <= 0 {
		return true
	}
	burst := max(rate, 1)
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	return b.tokens >= amount
}

// take takes amount tokens, which has just reported present.
func (b *tokenBucket) take(rate float64, amount float64) {
	if rate > 0 {
		b.tokens -= amount
	}
}

// NewControls returns controls with the given configuration.
func NewControls(config ControlsConfig) *Controls {
	if config.LoginAttemptsPerMinute <= 0 {
		config.LoginAttemptsPerMinute = LoginAttemptsPerMinuteDefault
	}
	if config.Now == nil {
		config.Now = time.Now
	}
	return &Controls{config: config, attempts: map[netip.Addr]*attemptWindow{},
		failures: map[attemptKey]*attemptWindow{}, clients: map[uint64]*clientControl{}}
}

// AddressAllowed reports whether address is in one of networks (an empty list allows
// every address): the allow-lists of the binary port, also applied by the HTTP API.
func AddressAllowed(address netip.Addr, networks []netip.Prefix) bool {
	return allowed(address, networks)
}

func allowed(address netip.Addr, networks []netip.Prefix) bool {
	if len(networks) == 0 {
		return true
	}
	for _, network := range networks {
		if network.Contains(address) {
			return true
		}
	}
	return false
}

// addressAdmission is implemented by an Admission that can refuse a connection by its
// address alone, counting nothing: OnOpen asks it about a connection it refuses for want
// of a slot, so that an address outside the allow-list gets connection_refused, and one
// locked out by its connections without a login too_many_attempts with its wait, as when
// the server has room, and not connection_limit (PROTOCOL.md section 5).
type addressAdmission interface {
	refuseAddress(remote net.Addr) (wire.ErrorCode, time.Duration)
}

// refuseAddress applies the allow-list, then refuses an address whose connections
// without a login already fill the minute's limit (AdmitConnection would refuse its
// next), counting nothing (addressAdmission). Told connection_limit, such an address's
// client retried at once and met the lockout only once a slot was free, with no wait
// said (TestAPI53LockedOutAddressIsToldItsWaitWhileTheServerIsFull). An address without
// a window is not refused here even when the table of windows is full (AdmitConnection
// then refuses it): a connection refused for want of a slot must not take a window.
func (c *Controls) refuseAddress(remote net.Addr) (wire.ErrorCode, time.Duration) {
	address, ok := c.allowedAddress(remote)
	if !ok {
		return wire.ErrorConnectionRefused, 0
	}
	now := c.config.Now()
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if window := c.attempts[peer.Bucket(address)]; window.filled(now, c.config.LoginAttemptsPerMinute) {
		return wire.ErrorTooManyAttempts, window.left(now)
	}
	return 0, 0
}

// allowedAddress returns remote's address and whether the allow-list admits it.
func (c *Controls) allowedAddress(remote net.Addr) (netip.Addr, bool) {
	address, ok := peer.AddressOf(remote)
	return address, ok && allowed(address, c.config.AllowedNetworks)
}

// AdmitConnection applies the allow-list and counts the connection against its
// address's limit of connections without a login.
func (c *Controls) AdmitConnection(remote net.Addr) (wire.ErrorCode, time.Duration) {
	address, ok := c.allowedAddress(remote)
	if !ok {
		return wire.ErrorConnectionRefused, 0
	}
	now := c.config.Now()
	c.mutex.Lock()
	defer c.mutex.Unlock()
	window, full := current(c.attempts, peer.Bucket(address), now)
	if full {
		return wire.ErrorTooManyAttempts, time.Minute // Bounded memory beats a forgetful limit.
	}
	window.count++
	if window.count > c.config.LoginAttemptsPerMinute {
		return wire.ErrorTooManyAttempts, window.left(now)
	}
	return 0, 0
}

// current returns the window of key in windows, starting a new one when there is none or
// the old one is over. full reports that the map is at its bound even after forgetting
// finished windows. The caller holds the mutex.
func current[K comparable](windows map[K]*attemptWindow, key K, now time.Time) (
	window *attemptWindow, full bool) {
	window = windows[key]
	if window != nil && now.Sub(window.start) < time.Minute {
		return window, false
	}
	if window == nil && len(windows) >= attemptAddressesMax {
		for old, w := range windows {
			if now.Sub(w.start) >= time.Minute {
				delete(windows, old)
			}
		}
		if len(windows) >= attemptAddressesMax {
			return nil, true
		}
	}
	window = &attemptWindow{start: now}
	windows[key] = window
	return window, false
}

// filled reports whether w (nil for none) began within the minute and already holds
// limit attempts.
func (w *attemptWindow) filled(now time.Time, limit int) bool {
	return w != nil && now.Sub(w.start) < time.Minute && w.count >= limit
}

// left returns how long until the window is over (at least a millisecond).
func (w *attemptWindow) left(now time.Time) time.Duration {
	return max(w.start.Add(time.Minute).Sub(now), time.Millisecond)
}

// AdmitLoginAttempt gives the connection's count back to its address (it did send a
// login) and refuses the attempt if its (address, client) bucket already holds the
// minute's failed logins.
func (c *Controls) AdmitLoginAttempt(remote net.Addr, client uint64, known bool) (
	wire.ErrorCode, time.Duration) {
	return c.admitAuthentication(remote, client, known, true)
}

// AdmitAuthentication is AdmitLoginAttempt for a protocol without connections to count
// (the HTTP API signs every request): it only refuses an (address, client) that has
// failed LoginAttemptsPerMinute authentications within the minute, which LoginFailed
// counts for both protocols together.
func (c *Controls) AdmitAuthentication(remote net.Addr, client uint64, known bool) (
	wire.ErrorCode, time.Duration) {
	return c.admitAuthentication(remote, client, known, false)
}

// admitAuthentication refuses an (address, client) whose failures fill the minute's
// bucket; a login (connection set) also gives its connection's count back.
func (c *Controls) admitAuthentication(remote net.Addr, client uint64, known bool,
	connection bool) (wire.ErrorCode, time.Duration) {
	address, ok := peer.AddressOf(remote)
	if !ok {
		return wire.ErrorConnectionRefused, 0
	}
	address = peer.Bucket(address)
	if !known {
		client = 0
	}
	now := c.config.Now()
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if window := c.attempts[address]; connection && window != nil && window.count > 0 {
		window.count--
	}
	return c.failedTooOften(address, client, now)
}

// failedTooOften refuses an (address, client) whose failures fill the minute's bucket.
// The caller holds the mutex.
func (c *Controls) failedTooOften(address netip.Addr, client uint64, now time.Time) (
	wire.ErrorCode, time.Duration) {
	if window := c.failures[attemptKey{address, client}]; window.filled(now, c.config.LoginAttemptsPerMinute) {
		return wire.ErrorTooManyAttempts, window.left(now)
	}
	return 0, 0
}

// LoginFailed counts a failed login against its (address, client) bucket. With the
// table full of live windows (attemptAddressesMax pairs failed within the minute) a new
// pair goes uncounted: whoever can fill it from that many addresses and client ids could
// try as many logins anyway, and refusing every untracked pair would lock everyone out.
func (c *Controls) LoginFailed(remote net.Addr, client uint64, known bool) {
	address, ok := peer.AddressOf(remote)
	if !ok {
		return
	}
	address = peer.Bucket(address)
	if !known {
		client = 0
	}
	now := c.config.Now()
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if window, full := current(c.failures, attemptKey{address, client}, now); !full {
		window.count++
	}
}

// AdmitLogin applies the client's own networks and its connection limit.
func (c *Controls) AdmitLogin(client *Client, remote net.Addr, takeover bool) wire.ErrorCode {
	address, ok := peer.AddressOf(remote)
	if !ok || !allowed(address, client.AllowedNetworks) {
		return wire.ErrorConnectionRefused
	}
	c.mutex.Lock()
	defer c.mutex.Unlock()
	control := c.control(client.ID)
	// A takeover is counted too (the connection it replaces uncounts itself as it closes),
	// so the count may exceed the limit by one for that moment.
	if limit := client.Limits.ConnectionsMax; limit > 0 && control.connections >= limit && !takeover {
		return wire.ErrorConnectionLimit
	}
	control.connections++
	return 0
}

// LoginEnded releases the connection an admitted login counted.
func (c *Controls) LoginEnded(client *Client, remote net.Addr) {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if control := c.clients[client.ID]; control != nil && control.connections > 0 {
		control.connections--
	}
}

// AdmitRequest applies the client's request and event rates (token buckets with one
// second of burst); excess gets rate_limited, never a silent drop. Subscription frames
// draw on the same request bucket (AdmitSubscription).
func (c *Controls) AdmitRequest(client *Client, operation model.Operation, events int) model.Status {
	limits := client.Limits
	if limits.RequestsPerSecond <= 0 && limits.EventsPerSecond <= 0 {
		return model.StatusOK
	}
	now := c.config.Now()
	c.mutex.Lock()
	defer c.mutex.Unlock()
	control := c.control(client.ID)
	// Both checked before either is spent: a request refused for its events does not
	// cost a request token.
	if !control.requests.has(now, limits.RequestsPerSecond, 1) ||
		!control.events.has(now, limits.EventsPerSecond, float64(events)) {
		return model.StatusRateLimited
	}
	control.requests.take(limits.RequestsPerSecond, 1)
	control.events.take(limits.EventsPerSecond, float64(events))
	return model.StatusOK
}

// AdmitSubscription charges a subscribe or md_subscribe frame to the client's request
// rate as one request without events (the same bucket AdmitRequest draws on).
func (c *Controls) AdmitSubscription(client *Client) model.Status {
	return c.AdmitRequest(client, 0, 0)
}

func (c *Controls) control(client uint64) *clientControl {
	control := c.clients[client]
	if control == nil {
		control = &clientControl{}
		c.clients[client] = control
	}
	return control
}
