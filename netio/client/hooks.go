package client

import (
	"time"

	"sequent/netio/wire"
)

// Test hooks, nil in production: a test sets them before it starts a client and resets
// them in a cleanup once the client is closed (no test of this package runs in
// parallel). They mark the points where a test needs to interleave another goroutine
// deterministically, without sleeping.
var (
	// testHookAnswerApplied is called by a reader once it has applied a subscribed or
	// md_subscribed answer of its connection (kind), with mu released: the point at which
	// a reconnect may come before what follows (callbacks, the caller's answer, a
	// retry's timer).
	testHookAnswerApplied func(kind wire.Kind)
	// testHookHandlerTurnWait is called by a reader, with mu released, each time it
	// starts waiting for the handlers of an older connection to return
	// (handlerTurnLocked).
	testHookHandlerTurnWait func()
	// testHookSubscribeAbandoned is called by a first Subscribe whose context ended
	// before it was answered, once it has taken that end (subscribeAbandoned), before
	// it returns (the context's error, or the answer applied already).
	testHookSubscribeAbandoned func()
	// testHookAfterDelay, when set, is given a resubscription's retry instead of
	// time.AfterFunc: the test runs it when it chooses.
	testHookAfterDelay func(delay time.Duration, retry func())
)

// afterDelay runs retry on its own goroutine after delay (time.AfterFunc), or hands it to
// testHookAfterDelay.
func afterDelay(delay time.Duration, retry func()) {
	if testHookAfterDelay != nil {
		testHookAfterDelay(delay, retry)
		return
	}
	time.AfterFunc(delay, retry)
}
