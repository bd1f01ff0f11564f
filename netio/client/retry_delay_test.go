package client

import (
	"testing"
	"time"
)

// TestRetryDelayBacksOffWithRetriesOff: with busy retries off (a negative BusyRetryDelay)
// the client still resends a request of unknown outcome answered shutting_down, an empty
// not_primary or rate_limited (reporting it refused could hide an applied write). Each such
// resend must wait, backing off from the default delay up to the cap; computed from the
// negative setting the delay was negative, so the resend followed at once, again and
// again, against a server that was refusing. The default and a positive setting keep
// their schedule.
func TestRetryDelayBacksOffWithRetriesOff(t *testing.T) {
	for _, setting := range []time.Duration{-1, -time.Second, 0, 3 * time.Millisecond} {
		c := &Client{config: Config{BusyRetryDelay: setting}}
		first := setting
		if setting <= 0 {
			first = BusyRetryDelayDefault
		}
		previous := time.Duration(0)
		for retries := 1; retries <= 24; retries++ {
			delay := c.retryDelay(retries)
			want := min(first<<min(retries-1, 16), busyRetryDelayMax)
			if delay != want || delay < previous || delay <= 0 {
				t.Fatalf("BusyRetryDelay %v, refusal %d: waits %v before the resend, want %v",
					setting, retries, delay, want)
			}
			previous = delay
		}
		if last := c.retryDelay(24); last != busyRetryDelayMax {
			t.Fatalf("BusyRetryDelay %v: the back-off stops at %v, want the cap %v", setting,
				last, busyRetryDelayMax)
		}
	}
}
