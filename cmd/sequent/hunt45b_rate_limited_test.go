package main

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/client"
)

// TestRateLimitedRepliesAreCounted (hunt45b): sequent_network_rate_limited_replies_total
// ("requests answered rate_limited by a client's configured limit", README "Metrics": the
// security controls at work) must count the requests a client's limit refused. It stayed
// 0: the network server counted them only among its refusals, and /v1/status and the
// metric had nothing to read. A client limited to one request a second sends ten reads at
// once; every rate_limited answer it gets must show in the node's snapshot.
func TestRateLimitedRepliesAreCounted(t *testing.T) {
	running, keysPath, dev := startDevNode(t, shardmap.Spec{})
	data, err := os.ReadFile(keysPath)
	if err != nil {
		t.Fatal(err)
	}
	file, err := netio.ParseKeysFile(data)
	if err != nil {
		t.Fatal(err)
	}
	file.Clients[0].Limits.RequestsPerSecond = 1
	if err := netio.WriteKeysFile(keysPath, file, true); err != nil {
		t.Fatal(err)
	}
	if err := running.reloadKeys(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialDev(t, ctx, running.server.Address(), dev)
	const reads = 10
	calls := make([]*client.Call, reads)
	for i := range calls {
		calls[i] = c.Go(ctx, model.OperationLookupAccounts, 0, model.U128(1).Append(nil), nil)
	}
	limited := uint64(0)
	for _, call := range calls {
		_, err := call.Wait(ctx)
		var status *client.StatusError
		if errors.As(err, &status) && status.Status == model.StatusRateLimited {
			limited++
		} else if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if limited == 0 {
		t.Fatalf("none of %d reads at once was rate_limited under a limit of 1 a second", reads)
	}
	if got := running.opsSnapshot().Network.RateLimitedReplies; got != limited {
		t.Fatalf("the client got %d rate_limited answers; /v1/status and "+
			"sequent_network_rate_limited_replies_total say %d", limited, got)
	}
}
