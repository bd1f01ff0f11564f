package ops

import "testing"

// TestHunt52cLevelBodyKeyWrittenPlain: log-level's body is refused when its one key is
// written with an escape, as the risk bodies' keys are (jsonkeys.Check), so the README's
// rule for every ops body holds; the plain key, and an escape in the value, still pass.
func TestHunt52cLevelBodyKeyWrittenPlain(t *testing.T) {
	if level, err := parseLevelBody([]byte(`{"\u006cevel":"debug"}`)); err == nil {
		t.Errorf(`{"\u006cevel":"debug"}: accepted as %q, want refused`, level)
	}
	for body, want := range map[string]string{
		`{"level":"debug"}`: "debug", ` {"level" : "\u0064ebug"} `: "debug",
	} {
		if level, err := parseLevelBody([]byte(body)); err != nil || level != want {
			t.Errorf("%s: %q, %v, want %q", body, level, err, want)
		}
	}
}
