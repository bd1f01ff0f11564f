package api

import (
	"runtime"
	"strings"
	"testing"
)

// TestReview50APIEscapeLongPathIsNotSplit (review of apiescape50; claim: an unknown
// path costs the server some sixteen times its length before authentication). match
// splits the path as sent at every slash before comparing it with the routes, none of
// which has more than five segments after the leading one: a path of 8,000 slashes, as
// much as the 8 KiB header buffer takes, allocated 8,001 strings (128 KB) for a 404
// that any peer on the allow-list can ask without signing. A path of more slashes than
// a route has is no route, found by counting them, nothing allocated.
func TestReview50APIEscapeLongPathIsNotSplit(t *testing.T) {
	path := strings.Repeat("/", 8000)
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if route, _, status := match("GET", path); route != nil || status != 404 {
			t.Fatalf("match of 8,000 slashes: %v, %d; want no route, 404", route, status)
		}
	}
	runtime.ReadMemStats(&after)
	// 16 KiB a call is slack for whatever else allocates meanwhile: the split was 128 KB.
	if perCall := (after.TotalAlloc - before.TotalAlloc) / runs; perCall > 16<<10 {
		t.Errorf("match of 8,000 slashes allocated %d bytes a call, want about none", perCall)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/accounts/1/transfers", 200}, {"POST", "/v1/transfers/5/void", 200},
		{"GET", "/v1/transfers/5/void", 405}, {"GET", "/v1/accounts/1/transfers/", 404},
		{"GET", "/v1/accounts/1/transfers/x/y", 404},
	} {
		if _, _, status := match(c.method, c.path); status != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, status, c.status)
		}
	}
}
