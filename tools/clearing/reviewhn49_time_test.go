package clearing

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
)

// TestReviewHN49ParseTimeRefusesNanosecondsPastTheLogsClock: hunt49 refused a date after
// the last int64 nanosecond (2262-04-11T23:47:16.854775807Z) but the same instant written
// as nanoseconds was still taken up to 2^64-1: `--until 9223372036854775808` (the
// nanosecond after the last) was accepted and the report said "until
// 1677-09-21T00:12:43.145224192Z" (FormatTime's int64 wraps), a window that seems to end
// before it starts. The bound is the same whichever way the time is written.
func TestReviewHN49ParseTimeRefusesNanosecondsPastTheLogsClock(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	last := strconv.FormatInt(math.MaxInt64, 10)
	if got, err := ParseTime(last, now); err != nil || got != math.MaxInt64 {
		t.Errorf("ParseTime(%q) = %d, %v; want %d", last, got, err, int64(math.MaxInt64))
	}
	for _, text := range []string{"9223372036854775808", "18446744073709551615"} {
		if got, err := ParseTime(text, now); !errors.Is(err, ErrBadTime) {
			t.Errorf("ParseTime(%q) = %d (%s), %v; want ErrBadTime", text, got,
				FormatTime(got), err)
		}
	}
}
