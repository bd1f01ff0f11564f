package wal

// SubscribeDurable returns a new capacity-1 channel that receives a value whenever
// Durable advances, like DurableNotify (which belongs to the appending goroutine's owner,
// the sequencer). A standby's acknowledgement sender uses it, so that it wakes on every
// fsync without stealing the sequencer's notifications. Any goroutine; subscriptions last
// as long as the log.
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
