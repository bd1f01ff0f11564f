package wal

import "sync/atomic"

// SubscribeDurable returns a new capacity-1 channel that receives a value whenever
// Durable advances, like DurableNotify (which belongs to the appending goroutine's owner,
// the sequencer). A standby's acknowledgement sender uses it, so that it wakes on every
// fsync without stealing the sequencer's notifications. Any goroutine; a subscription
// lasts until UnsubscribeDurable or the log's end.
func (l *Log) SubscribeDurable() <-chan struct{} {
	channel := make(chan struct{}, 1)
	addToList(&l.durableSubscribers, channel)
	return channel
}

// UnsubscribeDurable removes a channel SubscribeDurable returned (a no-op for any other).
// A subscriber that comes and goes (a standby's link, once per reconnect) must call it,
// or the list of channels signalled on every fsync grows without bound.
func (l *Log) UnsubscribeDurable(channel <-chan struct{}) {
	current := l.durableSubscribers.Load()
	if current == nil {
		return
	}
	for _, subscriber := range *current {
		if subscriber == channel {
			removeFromList(&l.durableSubscribers, subscriber)
			return
		}
	}
}

// addToList appends item to a copy-on-write list read lock-free by the writer goroutine.
func addToList[T any](list *atomic.Pointer[[]T], item T) {
	for {
		current := list.Load()
		var next []T
		if current != nil {
			next = append(next, *current...)
		}
		next = append(next, item)
		if list.CompareAndSwap(current, &next) {
			return
		}
	}
}

// removeFromList removes item from a list addToList built (a no-op if absent).
func removeFromList[T comparable](list *atomic.Pointer[[]T], item T) {
	for {
		current := list.Load()
		if current == nil {
			return
		}
		next := make([]T, 0, len(*current))
		for _, candidate := range *current {
			if candidate != item {
				next = append(next, candidate)
			}
		}
		if len(next) == len(*current) || list.CompareAndSwap(current, &next) {
			return
		}
	}
}
