package wal

// SubscribeDurable returns a new capacity-1 channel that receives a value whenever
// Durable advances, like DurableNotify (which belongs to the appending goroutine's owner,
// the sequencer). A standby's acknowledgement sender uses it, so that it wakes on every
// fsync without stealing the sequencer's notifications. Any goroutine; a subscription
// lasts until UnsubscribeDurable or the log's end.
func (l *Log) SubscribeDurable() <-chan struct{} {
	channel := make(chan struct{}, 1)
	for {
		current := l.durableSubscribers.Load()
		var next []chan struct{}
		if current != nil {
			next = append(next, *current...)
		}
		next = append(next, channel)
		if l.durableSubscribers.CompareAndSwap(current, &next) {
			return channel
		}
	}
}

// UnsubscribeDurable removes a channel SubscribeDurable returned (a no-op for any other).
// A subscriber that comes and goes (a standby's link, once per reconnect) must call it,
// or the list of channels signalled on every fsync grows without bound.
func (l *Log) UnsubscribeDurable(channel <-chan struct{}) {
	for {
		current := l.durableSubscribers.Load()
		if current == nil {
			return
		}
		next := make([]chan struct{}, 0, len(*current))
		for _, subscriber := range *current {
			if subscriber != channel {
				next = append(next, subscriber)
			}
		}
		if len(next) == len(*current) || l.durableSubscribers.CompareAndSwap(current, &next) {
			return
		}
	}
}
