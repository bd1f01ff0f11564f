package ops

import (
	"testing"
)

// FuzzParseLevelBody feeds arbitrary bodies to the log-level body parser: it never
// panics, and whatever it accepts re-parses to the same level and passes checkLevel only
// when it is one of the four names. Seeds cover the accepted shape and near misses.
func FuzzParseLevelBody(f *testing.F) {
	for _, seed := range []string{`{"level":"debug"}`, ` {"level" : "warn"} `,
		`{"level":"info","level":"error"}`, `{"level":1}`, `{"level":"info"}{}`, `[`, ``,
		`{"level":"\u0064ebug"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		level, err := parseLevelBody(body)
		if err != nil {
			return
		}
		if level == "" {
			t.Fatalf("%q: accepted an empty level", body)
		}
		if canonical, err := checkLevel(level); err == nil && canonical != level {
			t.Fatalf("%q: level %q became %q", body, level, canonical)
		}
	})
}

// FuzzBearerToken feeds arbitrary Authorization values to the bearer parser: a token it
// returns is non-empty, within tokenBytesMax, and made only of b64token characters.
func FuzzBearerToken(f *testing.F) {
	for _, seed := range []string{"Bearer abc", "bearer  a+b/c==", "Basic x", "Bearer ", "",
		"Bearer a b", "Bearer =="} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, header []byte) {
		token, present := bearerToken(header)
		if token == "" {
			return
		}
		if !present || len(token) > tokenBytesMax {
			t.Fatalf("%q: token %q present %v", header, token, present)
		}
		for _, c := range []byte(token) {
			if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == ',' {
				t.Fatalf("%q: token %q has %q", header, token, c)
			}
		}
	})
}
