package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"sequent/tools/clearing"
)

// TestChainAnchorParsing (session 41 review) checks --chain-anchor's parsing itself:
// TestClearingCommands' bad anchors are given with --http 127.0.0.1:1, where nothing
// listens, so an anchor wrongly accepted still ends in a usage error (the chain check
// cannot connect; exit 2 whatever the cause) and those cases pass whatever the parser
// does. An anchor whose hash is not hex was accepted: it can match no chain, so the
// check then reported the node's history as changed ("the chain at anchor op N is ..., the
// anchor says ...", exit 1, the verdict of tampering) instead of refusing the typo.
// FAILS without the hex check in chainCheck.
func TestChainAnchorParsing(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	command := &cobra.Command{Use: "reconcile"}
	for _, c := range []struct {
		anchor    string
		shard     int
		op        uint64
		wantError bool
	}{
		{"5:" + hash, 0, 5, false},
		{"1:5:" + strings.ToUpper(hash), 1, 5, false},
		{"5:abc", 0, 0, true},
		{"x:5:" + hash, 0, 0, true},
		{"-1:5:" + hash, 0, 0, true},
		{"1:5:5:" + hash, 0, 0, true},
		{"0:" + hash, 0, 0, true},
		{"5:" + strings.Repeat("zz", 32), 0, 0, true},
		{"1:5:" + strings.Repeat("g", 64), 0, 0, true},
	} {
		options := reconcileOptions{anchor: c.anchor, http: []string{"127.0.0.1:1"}}
		check, err := options.chainCheck(command, clearing.Window{})
		var usage usageError
		switch {
		case c.wantError && !errors.As(err, &usage):
			t.Errorf("%q: accepted (shard %d, op %d, chain %q), want a usage error",
				c.anchor, check.AnchorShard, check.AnchorOp, check.AnchorChain)
		case !c.wantError && (err != nil || check.AnchorShard != c.shard ||
			check.AnchorOp != c.op || check.AnchorChain != hash):
			t.Errorf("%q: %v, shard %d op %d chain %q", c.anchor, err, check.AnchorShard,
				check.AnchorOp, check.AnchorChain)
		}
	}
}
