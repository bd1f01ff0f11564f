package api

import (
	"encoding/hex"
	"testing"

	"sequent/netio"
)

// TestRateLimitedClientsCannotFillTheNonceCache: a client whose keys file limits it to
// one request every ten seconds must not be able to hold the shared nonce cache. Every
// authenticated request stores its nonce before the rate limit is applied (submit), and
// a client's share of the cache was half of it whatever its rate, so two such clients,
// each sending a burst of signed requests that are nearly all refused (429
// rate_limited), filled the whole cache: every other client was then refused
// 503 nonce_cache_full until the nonces expired (the clock window, 30 s, up to twice
// that). Method: a cache of the smallest size (1024); the two limited clients send 512
// requests each on a frozen clock; then the operator (unlimited) must still be served.
// (The configuration refuses a smaller cache, so the rate is low enough for the share a
// rate leaves a client, nonceShareRateFactor times its need, to be well below half.)
func TestRateLimitedClientsCannotFillTheNonceCache(t *testing.T) {
	const secondLimitedClient = 8
	secret := hex.EncodeToString(testSecret)
	keys, err := netio.NewKeyring(netio.KeysFile{Version: netio.KeysFileVersion,
		Clients: []netio.KeysFileClient{
			{ID: operatorClient, Name: "operator", Permissions: []string{"admin"},
				Keys:   []netio.KeysFileKey{{ID: 1, Secret: secret}},
				Grants: []netio.KeysFileGrant{{Scopes: []string{"operator"}}}},
			{ID: limitedClient, Name: "limited", Permissions: []string{"read"},
				Keys:   []netio.KeysFileKey{{ID: 1, Secret: secret}},
				Limits: netio.ClientLimits{RequestsPerSecond: 0.1}},
			{ID: secondLimitedClient, Name: "limited-too", Permissions: []string{"read"},
				Keys:   []netio.KeysFileKey{{ID: 1, Secret: secret}},
				Limits: netio.ClientLimits{RequestsPerSecond: 0.1}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.NoncesMax = 1024; c.Keys = keys })
	h.clock.freeze() // No nonce expires meanwhile, however slow the machine.
	served := map[uint64]int{}
	for _, client := range []uint64{limitedClient, secondLimitedClient} {
		signer := &Signer{Client: client, Key: 1, Secret: testSecret, Now: h.clock.now}
		for range 512 {
			if r := h.do(signer, "GET", "/v1/accounts/1", ""); r.code != 429 {
				served[client]++ // The first (its one-second burst); later 503s too.
			}
		}
	}
	t.Logf("answered other than 429: %v", served)
	r := h.operator("GET", "/v1/accounts/1", "")
	if r.code != 404 {
		t.Fatalf("after two clients limited to 0.1 request/s sent 512 requests each, the "+
			"operator got HTTP %d (want 404, the account does not exist): %s", r.code, r.body)
	}
}
