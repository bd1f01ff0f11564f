package netio_test

import (
	"errors"
	"strings"
	"testing"

	"sequent/netio"
	"sequent/netio/ops"
)

// TestReview52aKeysFileRefusesAnAdminTokenTwoNamesHold: hunt52a made ops.TokenChecker
// refuse a token that two names hold, as its audit record could not say who acted
// (TestHunt52aSharedTokenNamesNoOne). Two gaps remained, both in the keys file that feeds
// it. (1) The file still loaded (and reload-keys still succeeded) with a token under two
// names, and from then on both holders were refused 403 "the token was not accepted"
// with nothing at start or reload to say why. (2) A token is hex of random bytes, and the
// same bytes written in another case ("00ff…" for alice, "00FF…" for bob) are two
// strings to TokenChecker: both were accepted, each named by its spelling, so whoever
// held the secret chose whom the audit named — the shared token by another path. A keys
// file in which two names hold the same token bytes is now refused at load, naming both.
func TestReview52aKeysFileRefusesAnAdminTokenTwoNamesHold(t *testing.T) {
	lower := strings.Repeat("00ff", 8)
	for _, tokens := range [][2]string{{lower, lower}, {lower, strings.ToUpper(lower)}} {
		file := netio.KeysFile{Version: netio.KeysFileVersion,
			AdminTokens: []netio.KeysFileAdminToken{{Name: "alice", Token: tokens[0]},
				{Name: "bob", Token: tokens[1]}, {Name: "carol", Token: strings.Repeat("0a", 16)}}}
		keyring, err := netio.NewKeyring(file)
		if err == nil {
			check := ops.TokenChecker(keyring.AdminTokens())
			first, firstOK := check(tokens[0])
			second, secondOK := check(tokens[1])
			t.Errorf("admin tokens %q (alice) and %q (bob) loaded; then %q %v and %q %v, "+
				"want the keys file refused", tokens[0], tokens[1], first, firstOK, second,
				secondOK)
			continue
		}
		if !errors.Is(err, netio.ErrKeysFile) || !strings.Contains(err.Error(), `"alice"`) ||
			!strings.Contains(err.Error(), `"bob"`) {
			t.Errorf("admin tokens %q and %q: %v, want ErrKeysFile naming alice and bob",
				tokens[0], tokens[1], err)
		}
	}
}
