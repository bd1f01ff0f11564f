package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"sequent/core/node"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/client"
)

// TestOrderPlaceClientOrderIDsIncreasing: `sequent client order place
// --client-order-ids-increasing` opts the trading account in on a real node, so a later
// place of that account under a lower key is refused with client_order_id_not_increasing,
// while another trading account keeps accepting any unused key.
func TestOrderPlaceClientOrderIDsIncreasing(t *testing.T) {
	running, keys, _ := startDevNode(t, shardmap.Spec{})
	common := []string{"--addr", running.server.Address(), "--keys", keys}
	place := func(key, account string, extra ...string) []string {
		return append([]string{"order", "place", "--client-order-id", key, "--account",
			account, "--instrument", "1", "--side", "buy", "--price", "100", "--quantity",
			"1", "--base-account", "2", "--quote-account", "1"}, extra...)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"create-accounts", "1", "--ledger", "1", "--code", "1"}, ""},
		{[]string{"create-accounts", "2", "--ledger", "2", "--code", "1"}, ""},
		{[]string{"instrument", "create", "--id", "1", "--base-ledger", "2",
			"--quote-ledger", "1"}, ""},
		{place("10", "1", "--client-order-ids-increasing"), "order place: ok"},
		{place("11", "1"), "order place: ok"},
		{place("5", "1"), "refused: client_order_id_not_increasing (160)"},
		{place("5", "2"), "order place: ok"}, // Trading account 2 did not opt in.
		{place("3", "2"), "order place: ok"},
	}
	for _, step := range steps {
		output, err := runClient(t, append(step.args, common...)...)
		if !strings.Contains(output, step.want) || (err != nil) != strings.Contains(step.want,
			"refused") {
			t.Fatalf("%v: %v\n%s", step.args, err, output)
		}
	}
}

// startDevNode starts a node in a temporary directory with a development keys file, on a
// free port, with room for 4,096 accounts and 65,536 transfers; placement, when it names
// more than one shard, is the node's shard map (the zero Spec: one shard). It returns the
// node, the keys file's path and its key; the test's cleanup stops the node.
func startDevNode(t *testing.T, placement shardmap.Spec) (*runningNode, string, netio.DevKey) {
	t.Helper()
	dir := t.TempDir()
	keys := node.Layout{Dir: dir}.KeysPath()
	dev, err := netio.GenerateDevKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	options := defaultServeOptions()
	options.data, options.address, options.logLevel = dir, "127.0.0.1:0", "error"
	options.accountsCapacity, options.transfersCapacity = 1<<12, 1<<16
	if placement.Shards > 1 {
		options.placement = placement
	}
	running, err := startNode(context.Background(), &options, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = running.stop() })
	return running, keys, dev
}

// dialDev connects a Go client to address with the development key dev; the test's
// cleanup closes it.
func dialDev(t *testing.T, ctx context.Context, address string, dev netio.DevKey) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, client.Config{Addresses: []string{address},
		Client: dev.Client, Key: dev.Key, Secret: mustDecodeSecret(t, dev.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
