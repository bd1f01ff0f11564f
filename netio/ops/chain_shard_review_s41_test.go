package ops

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestChainShardGivenOnce (session 41 review): GET /v1/audit/chain's answer does not say
// which shard's log it verified, so the shard asked for must be unambiguous. A query
// naming two shards ("shard=1&shard=0") was answered for the first one; a proxy, an
// allow-list or an auditor's tool that reads the last value (as many HTTP stacks do)
// would take that answer for shard 0's. FAILS without the check in chainArguments.
func TestChainShardGivenOnce(t *testing.T) {
	for _, text := range []string{"shard=1&shard=0", "shard=0&shard=0", "shard=1&until=now&shard=1"} {
		var arguments fasthttp.Args
		arguments.Parse(text)
		if query, err := chainArguments(&arguments); err == nil {
			t.Errorf("%q: accepted, verifying shard %d", text, query.Shard)
		}
	}
	var arguments fasthttp.Args
	arguments.Parse("shard=1&until=now")
	if query, err := chainArguments(&arguments); err != nil || query.Shard != 1 {
		t.Errorf("shard=1: %+v, %v", query, err)
	}
}
