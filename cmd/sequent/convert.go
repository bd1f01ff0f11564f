package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"sequent/core/model"
	"sequent/netio/client"
	"sequent/netio/jsonview"
	"sequent/tools/clearing"
)

// conversionFields are the flags of `sequent client convert`.
type conversionFields struct {
	id, targetID, payer, payee, sourceLiquidity, targetLiquidity string
	sourceLedger, targetLedger                                   uint32
	sourceScale, targetScale                                     int
	rate, quoteID, amount, receive                               string
	code                                                         uint16
	ledgers                                                      string
}

func newConvertCommand(options *clientOptions) *cobra.Command {
	var f conversionFields
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert between two ledgers at a given rate, through the operator's liquidity accounts (atomic)",
		Long: `Book a currency conversion as one request: a linked chain of two transfers,
payer → source liquidity on the source ledger and target liquidity → payee on the target
ledger. Both are applied or neither (a refused second leg rolls the first back), in one
log entry. The rate (target major units per source major unit) and the quote id are
recorded in both legs' user data (layout: netio/client/convert.go).

Amounts are integers in minor units. Give --amount (the payer pays exactly this; the
payee gets the floor of the converted value) or --receive (the payee gets exactly this;
the payer pays the ceiling). Either way the fraction stays with the operator. Scales
(decimal places of each ledger's minor unit) come from --source-scale/--target-scale or
from the ledger registry (--ledgers, SEQUENT_LEDGERS).

Run it with the payer's key (once account ownership exists, it needs the right to debit
the target liquidity account too) or an operator's. On a node of several shards the four
accounts must be on one shard: the command reads the node's shard map and refuses a
conversion across shards before sending anything.`,
		Example: `  sequent client convert --id 500 --payer 1 --payee 2 --source-liquidity 90 \
      --target-liquidity 91 --source-ledger 1 --target-ledger 2 --rate 0.9234 \
      --quote-id 7001 --code 5 --amount 10000 --ledgers ledgers.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conversion, ledgers, err := f.conversion(cmd)
			if err != nil {
				return err
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				if err := conversionOnOneShard(cmd, ctx, c, &conversion); err != nil {
					return err
				}
				result, err := c.Convert(ctx, conversion)
				if err != nil {
					return err
				}
				return printConversion(cmd, options, &conversion, &result, ledgers)
			})
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&f.id, "id", "0", "id of the source leg (required)")
	flags.StringVar(&f.targetID, "target-id", "0", "id of the target leg (default: --id + 1)")
	flags.StringVar(&f.payer, "payer", "0", "account debited, on the source ledger")
	flags.StringVar(&f.payee, "payee", "0", "account credited, on the target ledger")
	flags.StringVar(&f.sourceLiquidity, "source-liquidity", "0", "the operator's liquidity account on the source ledger (credited)")
	flags.StringVar(&f.targetLiquidity, "target-liquidity", "0", "the operator's liquidity account on the target ledger (debited)")
	flags.Uint32Var(&f.sourceLedger, "source-ledger", 0, "source ledger")
	flags.Uint32Var(&f.targetLedger, "target-ledger", 0, "target ledger")
	flags.IntVar(&f.sourceScale, "source-scale", -1, "decimal places of the source ledger's minor unit (default: from --ledgers)")
	flags.IntVar(&f.targetScale, "target-scale", -1, "decimal places of the target ledger's minor unit (default: from --ledgers)")
	flags.StringVar(&f.rate, "rate", "", "target major units per source major unit, a decimal (required)")
	flags.StringVar(&f.quoteID, "quote-id", "0", "the quote the rate comes from (required; recorded in both legs)")
	flags.Uint16Var(&f.code, "code", 0, "transfer code of both legs (required)")
	flags.StringVar(&f.amount, "amount", "", "source amount in minor units: the payer pays exactly this")
	flags.StringVar(&f.receive, "receive", "", "target amount in minor units: the payee receives exactly this")
	flags.StringVar(&f.ledgers, "ledgers", os.Getenv("SEQUENT_LEDGERS"), "ledger registry file (JSON: currency names and scales, each key once and lower case; SEQUENT_LEDGERS)")
	return cmd
}

// conversion builds the Conversion from the flags.
func (f *conversionFields) conversion(cmd *cobra.Command) (client.Conversion, *clearing.Ledgers,
	error) {
	var c client.Conversion
	ledgers, err := clearing.LoadLedgers(f.ledgers)
	if err != nil {
		return c, nil, usage(cmd, "--ledgers: %v", err)
	}
	if f.amount != "" && f.receive != "" || f.amount == "" && f.receive == "" {
		return c, nil, usage(cmd, "give exactly one of --amount and --receive")
	}
	fields := []struct {
		name, text string
		into       *model.Uint128
	}{{"id", f.id, &c.SourceTransferID}, {"target-id", f.targetID, &c.TargetTransferID},
		{"payer", f.payer, &c.Payer}, {"payee", f.payee, &c.Payee},
		{"source-liquidity", f.sourceLiquidity, &c.SourceLiquidity},
		{"target-liquidity", f.targetLiquidity, &c.TargetLiquidity},
		{"quote-id", f.quoteID, &c.QuoteID}, {"amount", orZero(f.amount), &c.SourceAmount},
		{"receive", orZero(f.receive), &c.TargetAmount}}
	for _, field := range fields {
		if *field.into, err = parseID(cmd, field.name, field.text); err != nil {
			return c, nil, err
		}
	}
	if err := c.DefaultTargetTransferID(); err != nil {
		return c, nil, usage(cmd, "--target-id: %v", err)
	}
	if c.Rate, err = client.ParseRate(f.rate); err != nil {
		return c, nil, usage(cmd, "--rate: %v", err)
	}
	c.SourceLedger, c.TargetLedger, c.Code = f.sourceLedger, f.targetLedger, f.code
	if c.SourceScale, err = scaleOf(cmd, "source", f.sourceScale, ledgers, c.SourceLedger); err != nil {
		return c, nil, err
	}
	if c.TargetScale, err = scaleOf(cmd, "target", f.targetScale, ledgers, c.TargetLedger); err != nil {
		return c, nil, err
	}
	if _, err := c.Plan(); err != nil {
		return c, nil, usage(cmd, "%v", err)
	}
	return c, ledgers, nil
}

func orZero(text string) string {
	if text == "" {
		return "0"
	}
	return text
}

// scaleOf returns a ledger's scale from its flag, else from the registry.
func scaleOf(cmd *cobra.Command, side string, flag int, ledgers *clearing.Ledgers,
	ledger uint32) (uint8, error) {
	if flag >= 0 {
		if flag > client.ScaleMax {
			return 0, usage(cmd, "--%s-scale %d: at most %d", side, flag, client.ScaleMax)
		}
		return uint8(flag), nil
	}
	info, ok := ledgers.Ledger(ledger)
	if !ok {
		return 0, usage(cmd, "the %s ledger %d's scale is unknown: give --%s-scale or a "+
			"--ledgers registry that lists it", side, ledger, side)
	}
	return info.Scale, nil
}

func printConversion(cmd *cobra.Command, options *clientOptions, c *client.Conversion,
	result *client.ConversionResult, ledgers *clearing.Ledgers) error {
	plan := &result.Plan
	out := jsonview.NewConversion(c, result)
	if options.asJSON {
		if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
			return err
		}
	} else {
		w := cmd.OutOrStdout()
		verdict := "applied"
		if !out.Applied {
			verdict = "REFUSED (" + out.Refusal + "), nothing moved; it would have been"
		}
		fmt.Fprintf(w, "conversion %s at %s (quote %s): payer %s pays %s %s, payee %s receives "+
			"%s %s; the operator keeps %s of a %s minor unit\n", verdict, out.Rate, out.QuoteID,
			c.Payer,
			clearing.FormatAmount(plan.SourceAmount, c.SourceScale), ledgers.Name(c.SourceLedger),
			c.Payee, clearing.FormatAmount(plan.TargetAmount, c.TargetScale),
			ledgers.Name(c.TargetLedger), out.Remainder, ledgers.Name(c.TargetLedger))
		for i, leg := range result.Results {
			fmt.Fprintf(w, "leg %s: %s\n", plan.Transfers[i].ID, describeStatus(leg.Status))
		}
	}
	if !out.Applied {
		return errEventsFailed
	}
	return nil
}

// conversionOnOneShard refuses, before anything is sent, a conversion whose accounts the
// server's shard map places on several shards (the node would refuse the chain with
// linked_chain_spans_shards; the message here says which account is where).
func conversionOnOneShard(cmd *cobra.Command, ctx context.Context, c *client.Client,
	conversion *client.Conversion) error {
	plan, err := conversion.Plan()
	if err != nil {
		return nil // Convert reports it, as without shards.
	}
	placement, err := serverShardMap(ctx, c)
	if err != nil {
		return err
	}
	problem := chainSpanningShards(placement, plan.Transfers[:], []string{"payer",
		"source liquidity", "target liquidity", "payee"})
	if problem != "" {
		return usage(cmd, "%s", problem)
	}
	return nil
}
