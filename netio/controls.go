package netio

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"sequent/core/model"
	"sequent/netio/wire"
)

// ControlsConfig configures the security controls of the binary port.
type ControlsConfig struct {
	// AllowedNetworks lists where connections may come from; empty: anywhere. A client's
	// own allowed_networks (keys file) narrow it further at login.
	AllowedNetworks []netip.Prefix
	// LoginAttemptsPerMinute bounds new connections (each may try one login) per remote
	// address per minute; 0: LoginAttemptsPerMinuteDefault.
	LoginAttemptsPerMinute int
	// Now is the clock (tests replace it); nil: time.Now.
	Now func() time.Time
}

// Controls implements Admission: the binary port's allow-list, per-address login attempt
// limit, and per-client connection limits and rate limits from the keys file. It is
// called from every event loop, so its state sits behind short mutexes and nothing blocks.
type Controls struct {
	config   ControlsConfig
	mutex    sync.Mutex
	attempts map[netip.Addr]*attemptWindow // Connections per address in the current minute.
	clients  map[uint64]*clientControl     // Per client: connections and token buckets.
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

// tokenBucket allows rate per second with a burst of one second's worth.
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
	if b.last.IsZero() {
		b.tokens = rate
	} else {
		b.tokens = min(rate, b.tokens+now.Sub(b.last).Seconds()*rate)
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
		clients: map[uint64]*clientControl{}}
}

func addressOf(remote net.Addr) (netip.Addr, bool) {
	if tcp, ok := remote.(*net.TCPAddr); ok {
		address, ok := netip.AddrFromSlice(tcp.IP)
		return address.Unmap(), ok
	}
	addrPort, err := netip.ParseAddrPort(remote.String())
	return addrPort.Addr().Unmap(), err == nil
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

// AdmitConnection applies the allow-list and the per-address attempt limit.
func (c *Controls) AdmitConnection(remote net.Addr) wire.ErrorCode {
	address, ok := addressOf(remote)
	if !ok || !allowed(address, c.config.AllowedNetworks) {
		return wire.ErrorConnectionRefused
	}
	now := c.config.Now()
	c.mutex.Lock()
	defer c.mutex.Unlock()
	window := c.attempts[address]
	if window == nil || now.Sub(window.start) >= time.Minute {
		if len(c.attempts) >= attemptAddressesMax {
			c.forgetOldAttempts(now)
		}
		if len(c.attempts) >= attemptAddressesMax {
			return wire.ErrorTooManyAttempts // Bounded memory beats a forgetful limit.
		}
		window = &attemptWindow{start: now}
		c.attempts[address] = window
	}
	window.count++
	if window.count > c.config.LoginAttemptsPerMinute {
		return wire.ErrorTooManyAttempts
	}
	return 0
}

// forgetOldAttempts drops windows older than a minute. The caller holds the mutex.
func (c *Controls) forgetOldAttempts(now time.Time) {
	for address, window := range c.attempts {
		if now.Sub(window.start) >= time.Minute {
			delete(c.attempts, address)
		}
	}
}

// AdmitLogin applies the client's own networks and its connection limit. A login that
// proved its key gives its attempt back: the attempt limit is there to slow down guessing,
// not clients that reconnect often (through a failover, say).
func (c *Controls) AdmitLogin(client *Client, remote net.Addr, takeover bool) wire.ErrorCode {
	address, ok := addressOf(remote)
	if !ok || !allowed(address, client.AllowedNetworks) {
		return wire.ErrorConnectionRefused
	}
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if window := c.attempts[address]; window != nil && window.count > 0 {
		window.count--
	}
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
// second of burst); excess gets rate_limited, never a silent drop.
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

func (c *Controls) control(client uint64) *clientControl {
	control := c.clients[client]
	if control == nil {
		control = &clientControl{}
		c.clients[client] = control
	}
	return control
}
