package client

import (
	"testing"

	"sequent/core/model"
)

// TestHunt44aReceiveRemainderInTargetUnits pins what README ("Amounts and rounding") and
// the OpenAPI document now say of the remainder: given the target amount, the payer pays
// the ceiling, so the operator keeps less than one *source* minor unit, which in target
// minor units (the remainder's unit) may be many. At 0.00001528 BTC per
// USD: the payee receives 1,000 sat, the payer pays 66 cents (65.44… rounded up), worth
// 1,008.48 sat: the operator keeps 8.48 sat, not "a fraction of one target minor unit"
// as the README said.
func TestHunt44aReceiveRemainderInTargetUnits(t *testing.T) {
	rate, err := ParseRate("0.00001528")
	if err != nil {
		t.Fatal(err)
	}
	c := Conversion{SourceTransferID: model.U128(1), TargetTransferID: model.U128(2),
		Payer: model.U128(10), Payee: model.U128(20), SourceLiquidity: model.U128(90),
		TargetLiquidity: model.U128(91), SourceLedger: 1, TargetLedger: 2, SourceScale: 2,
		TargetScale: 8, Rate: rate, QuoteID: model.U128(7), Code: 1,
		TargetAmount: model.U128(1000)}
	plan, err := c.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if plan.SourceAmount != model.U128(66) || plan.RemainderNumerator != model.U128(848) ||
		plan.RemainderDenominator != model.U128(100) {
		t.Fatalf("pays %s, remainder %s/%s sat; want 66 cents and 848/100", plan.SourceAmount,
			plan.RemainderNumerator, plan.RemainderDenominator)
	}
}
