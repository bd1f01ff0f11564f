package main

import (
	"errors"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio/client"
)

// TestClientOrderReadsOnSeveralShardsNameTheFlag: on a node whose instruments are on
// several shards, `order lookup` and `order list` without --instrument are refused whole
// with status 85 (client.ErrOrderReadNeedsInstrument); the CLI then says what to give
// (--instrument, and for lookup the list command), keeps the status in its error (exit
// 1 as for any refusal), and `order list --instrument` is answered.
func TestClientOrderReadsOnSeveralShardsNameTheFlag(t *testing.T) {
	_, _, run, common := twoShardNode(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"order", "lookup", "1", "2"}, "order list --account ACCOUNT --instrument"},
		{[]string{"order", "list", "--account", "1"}, "give --instrument INSTRUMENT"},
	} {
		output, err := runClient(t, append(c.args, common...)...)
		var refused *client.StatusError
		if !errors.Is(err, client.ErrOrderReadNeedsInstrument) || !errors.As(err, &refused) ||
			refused.Status != model.StatusInstrumentShardUnknown {
			t.Fatalf("%v: error %v, want status 85\n%s", c.args, err, output)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %q does not say %q", c.args, err, c.want)
		}
	}
	run("order", "list", "--account", "1", "--instrument", "5")
}
