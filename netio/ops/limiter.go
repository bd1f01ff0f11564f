package ops

import (
	"bytes"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"sequent/netio/peer"
)

// addressLimiter is a token bucket per peer address (per /64 for IPv6: peer.Bucket): each
// may make rate requests a second, burst at once. It is called by every request (any fasthttp worker), so its
// state sits behind one short mutex and nothing blocks. The map is bounded by
// limitedAddressesMax: when full, buckets idle long enough to be full again are dropped,
// and if none is, an unknown address is refused (a scan from many addresses cannot grow
// memory; the allow-list is the real fence for a port exposed that widely).
type addressLimiter struct {
	rate    float64 // Tokens a second; 0: no limit.
	burst   float64 // Bucket size.
	mutex   sync.Mutex
	buckets map[netip.Addr]*tokenBucket
}

// tokenBucket is one address's budget.
type tokenBucket struct {
	tokens  float64
	updated time.Time
}

func newAddressLimiter(rate int) *addressLimiter {
	return &addressLimiter{rate: float64(rate), burst: float64(rate * requestBurstSeconds),
		buckets: map[netip.Addr]*tokenBucket{}}
}

// allow takes one token for address at now, reporting false when it has none left.
func (l *addressLimiter) allow(address netip.Addr, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	address = peer.Bucket(address)
	l.mutex.Lock()
	defer l.mutex.Unlock()
	bucket := l.buckets[address]
	if bucket == nil {
		if len(l.buckets) >= limitedAddressesMax && !l.sweep(now) {
			return false
		}
		bucket = &tokenBucket{tokens: l.burst, updated: now}
		l.buckets[address] = bucket
	}
	elapsed := now.Sub(bucket.updated).Seconds()
	bucket.tokens = min(l.burst, bucket.tokens+max(elapsed, 0)*l.rate)
	bucket.updated = now
	if bucket.tokens < 1 {
		return false
	}
	bucket.tokens--
	return true
}

// sweep drops the buckets that would be full by now (their addresses have been quiet
// for a whole burst) and reports whether there is room for a new one. The caller holds
// the mutex.
func (l *addressLimiter) sweep(now time.Time) bool {
	refill := time.Duration(l.burst / l.rate * float64(time.Second))
	for address, bucket := range l.buckets {
		if now.Sub(bucket.updated) >= refill {
			delete(l.buckets, address)
		}
	}
	return len(l.buckets) < limitedAddressesMax
}

// metricsCache renders the Prometheus exposition at most once per interval and serves
// that body meanwhile, so a flood of scrapes costs one gather a second instead of one
// each (a gather walks every metric family, the Go runtime's included, and allocates
// for each). Concurrent scrapes of a stale body wait for the one render in progress.
// The body buffer is reused: handlers copy it into their response (fasthttp's SetBody
// copies) under the mutex.
type metricsCache struct {
	interval time.Duration // 0 or less: render every time.
	mutex    sync.Mutex
	body     bytes.Buffer
	rendered time.Time // Zero: nothing rendered yet.
}

// render calls use with a current body (rendered now if older than interval: prepare,
// then the registry's gather), and reports the gather errors of that render (a series
// left out) and whether encoding failed (then nothing is cached and use is not called).
func (c *metricsCache) render(registry *prometheus.Registry, now time.Time, prepare func(),
	use func(body []byte)) (gatherErr error, encoded bool) {
	c.mutex.Lock()
	defer c.mutex.Unlock()
	if c.interval > 0 && !c.rendered.IsZero() && now.Sub(c.rendered) < c.interval {
		use(c.body.Bytes())
		return nil, true
	}
	prepare()
	families, gatherErr := registry.Gather()
	c.body.Reset()
	for _, family := range families {
		if _, err := expfmt.MetricFamilyToText(&c.body, family); err != nil {
			c.rendered = time.Time{}
			return gatherErr, false
		}
	}
	c.rendered = now
	use(c.body.Bytes())
	return gatherErr, true
}
