package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"

	"sequent/netio/client"
	"sequent/netio/wire"
)

// marketDataProbe measures order received → market-data update at a subscriber: K
// extra connections subscribe to every instrument's updates and note when the first
// update of each op reaches them; the workers note, for each measured request, its op
// (from the reply) and its intended send time. After the load the two are joined by op:
// latency = arrival − intended send time (open loop: no coordinated omission).
type marketDataProbe struct {
	run         *run
	subscribers []*client.Client
	arrivals    []*arrivalLog // One per subscriber.

	mutex    sync.Mutex
	intended map[uint64]int64 // Op → intended send time (run ns) of measured requests.
	stale    atomic.Uint64
	started  atomic.Bool // The load started: run.start is set (read it only after this).
}

// arrivalLog is one subscriber's first arrival per op, in op order.
type arrivalLog struct {
	mutex  sync.Mutex
	lastOp uint64
	ops    []uint64
	times  []int64
	count  uint64 // Update records received.
}

// startMarketData dials and subscribes the probe's subscribers (none: nil).
func startMarketData(ctx context.Context, r *run) (*marketDataProbe, error) {
	if r.config.MarketDataSubscribers == 0 {
		return nil, nil
	}
	p := &marketDataProbe{run: r, intended: map[uint64]int64{}}
	for range r.config.MarketDataSubscribers {
		c, err := client.Dial(ctx, client.Config{Addresses: r.config.Addresses,
			Client: r.config.Client, Key: r.config.Key, Secret: r.config.Secret,
			Logger: r.config.Logger})
		if err != nil {
			p.close()
			return nil, fmt.Errorf("%w: market-data subscriber: %w", ErrUnreachable, err)
		}
		log := &arrivalLog{}
		p.subscribers, p.arrivals = append(p.subscribers, c), append(p.arrivals, log)
		handler := func(event client.MarketDataEvent) { p.arrived(log, event) }
		if _, err := c.SubscribeMarketData(ctx, 0, wire.ChannelBook, handler); err != nil {
			p.close()
			return nil, fmt.Errorf("bench: market-data subscription: %w", err)
		}
	}
	return p, nil
}

// arrived runs on a subscriber's reader goroutine.
func (p *marketDataProbe) arrived(log *arrivalLog, event client.MarketDataEvent) {
	if event.Stale != nil {
		p.stale.Add(1)
		return
	}
	if len(event.Updates) == 0 || !p.started.Load() {
		return
	}
	now := p.run.since()
	log.mutex.Lock()
	defer log.mutex.Unlock()
	log.count += uint64(len(event.Updates))
	for i := range event.Updates {
		if op := event.Updates[i].Op; op != log.lastOp {
			log.lastOp = op
			log.ops, log.times = append(log.ops, op), append(log.times, now)
		}
	}
}

// sent notes a measured request's op and intended send time (worker goroutines).
func (p *marketDataProbe) sent(op uint64, intendedNs int64) {
	if p == nil || op == 0 {
		return
	}
	p.mutex.Lock()
	p.intended[op] = intendedNs
	p.mutex.Unlock()
}

// latency joins arrivals with sends into one histogram over every subscriber.
func (p *marketDataProbe) latency() (*hdrhistogram.Histogram, uint64) {
	histogram := newHistogram()
	updates := uint64(0)
	p.mutex.Lock()
	defer p.mutex.Unlock()
	for _, log := range p.arrivals {
		log.mutex.Lock()
		updates += log.count
		for i, op := range log.ops {
			if intended, ok := p.intended[op]; ok {
				_ = histogram.RecordValue(min(max(log.times[i]-intended, latencyNsMin),
					latencyNsMax))
			}
		}
		log.mutex.Unlock()
	}
	return histogram, updates
}

func (p *marketDataProbe) close() {
	if p != nil {
		closeAll(p.subscribers)
	}
}

// MarketDataReport is the probe's part of the report.
type MarketDataReport struct {
	Subscribers int     `json:"subscribers"`
	LatencyUs   Latency `json:"latency_us"` // Order's intended send → update at a subscriber.
	Updates     uint64  `json:"updates"`    // Update records received over all subscribers.
	Stale       uint64  `json:"stale"`      // md_stale notices (subscribers that fell behind).
}

func (p *marketDataProbe) report() *MarketDataReport {
	if p == nil {
		return nil
	}
	histogram, updates := p.latency()
	return &MarketDataReport{Subscribers: len(p.subscribers), LatencyUs: latencyOf(histogram),
		Updates: updates, Stale: p.stale.Load()}
}
