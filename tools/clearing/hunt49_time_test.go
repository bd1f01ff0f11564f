package clearing

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestHunt49ParseTimeRefusesTimesPastTheLogsClock: log timestamps are int64 nanoseconds
// since 1970 (time.Unix(0, ns)), so the last time there is 2262-04-11T23:47:16.854775807Z.
// A later date, such as the "far future" an operator may give as a window's end, used to
// wrap silently (time.Time.UnixNano is undefined past it): `--until 2600-01-01` was the
// cut-off 2015-06-13T00:25:26Z, and the settlement or reconciliation left out everything
// after 2015 without a word, and `9999-12-31` printed "until 1816-03-29". Now such a time
// is refused (ErrBadTime) and the last representable one is still taken.
func TestHunt49ParseTimeRefusesTimesPastTheLogsClock(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	last := "2262-04-11T23:47:16.854775807Z"
	if got, err := ParseTime(last, now); err != nil || got != math.MaxInt64 {
		t.Errorf("ParseTime(%q) = %d, %v; want %d", last, got, err, int64(math.MaxInt64))
	}
	for _, text := range []string{"2262-04-11T23:47:16.854775808Z", "2262-04-12",
		"2600-01-01", "2999-12-31", "9999-12-31", "9999-12-31T23:59:59Z"} {
		if got, err := ParseTime(text, now); !errors.Is(err, ErrBadTime) {
			t.Errorf("ParseTime(%q) = %d (%s), %v; want ErrBadTime", text, got,
				FormatTime(got), err)
		}
	}
}
