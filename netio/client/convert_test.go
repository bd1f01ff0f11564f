package client

import (
	"errors"
	"math/big"
	"testing"

	"pgregory.net/rapid"

	"sequent/core/model"
)

func TestParseRate(t *testing.T) {
	valid := []struct {
		text string
		rate Rate
		back string
	}{
		{"1.0842", Rate{10842, 4}, "1.0842"},
		{"25", Rate{25, 0}, "25"},
		{"0.000031", Rate{31, 6}, "0.000031"},
		{"007.50", Rate{750, 2}, "7.50"},
		{"18446744073709551615", Rate{18446744073709551615, 0}, "18446744073709551615"},
		{"0.0000000000000000001", Rate{1, 19}, "0.0000000000000000001"},
	}
	for _, c := range valid {
		rate, err := ParseRate(c.text)
		if err != nil || rate != c.rate || rate.String() != c.back {
			t.Errorf("ParseRate(%q) = %+v %q, %v; want %+v %q", c.text, rate, rate, err,
				c.rate, c.back)
		}
	}
	for _, text := range []string{"", "0", "0.000", "-1", "1.", ".5x", "1e3", "1,5",
		"1.2.3", "18446744073709551616", "0.00000000000000000001", " 1"} {
		if rate, err := ParseRate(text); err == nil {
			t.Errorf("ParseRate(%q) accepted: %+v", text, rate)
		}
	}
}

// usdToEUR is a valid conversion of 100.00 USD (ledger 1, scale 2) into EUR (ledger 2,
// scale 2) at 0.9234.
func usdToEUR() Conversion {
	return Conversion{SourceTransferID: model.U128(10), TargetTransferID: model.U128(11),
		Payer: model.U128(1), Payee: model.U128(2), SourceLiquidity: model.U128(3),
		TargetLiquidity: model.U128(4), SourceLedger: 1, TargetLedger: 2, SourceScale: 2,
		TargetScale: 2, Rate: Rate{9234, 4}, QuoteID: model.U128(77), Code: 5,
		SourceAmount: model.U128(10_000)}
}

// TestConversionPlanRefusals lists every reason Plan refuses a conversion.
func TestConversionPlanRefusals(t *testing.T) {
	cases := []struct {
		name   string
		change func(c *Conversion)
		want   error
	}{
		{"no source id", func(c *Conversion) { c.SourceTransferID = model.Uint128{} }, ErrConversionInvalid},
		{"no target id", func(c *Conversion) { c.TargetTransferID = model.Uint128{} }, ErrConversionInvalid},
		{"same ids", func(c *Conversion) { c.TargetTransferID = c.SourceTransferID }, ErrConversionInvalid},
		{"no quote", func(c *Conversion) { c.QuoteID = model.Uint128{} }, ErrConversionInvalid},
		{"zero rate", func(c *Conversion) { c.Rate = Rate{0, 2} }, ErrConversionInvalid},
		{"rate places", func(c *Conversion) { c.Rate = Rate{1, RatePlacesMax + 1} }, ErrConversionInvalid},
		{"source scale", func(c *Conversion) { c.SourceScale = ScaleMax + 1 }, ErrConversionInvalid},
		{"target scale", func(c *Conversion) { c.TargetScale = ScaleMax + 1 }, ErrConversionInvalid},
		{"both amounts", func(c *Conversion) { c.TargetAmount = model.U128(1) }, ErrConversionInvalid},
		{"no amount", func(c *Conversion) { c.SourceAmount = model.Uint128{} }, ErrConversionInvalid},
		{"same ledger", func(c *Conversion) { c.TargetLedger = c.SourceLedger }, ErrConversionInvalid},
		{"rounds to zero", func(c *Conversion) { c.SourceAmount = model.U128(1) }, ErrConversionTooSmall},
		{"overflow", func(c *Conversion) {
			c.SourceAmount, c.Rate, c.TargetScale = model.Uint128Max, Rate{2, 0}, 2
		}, ErrConversionOverflow},
	}
	for _, c := range cases {
		conversion := usdToEUR()
		c.change(&conversion)
		if _, err := conversion.Plan(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestConversionPlanExamples works three conversions by hand, one per rounding case.
func TestConversionPlanExamples(t *testing.T) {
	// 100.00 USD at 0.9234 is exactly 92.34 EUR: no remainder (0 of 10^4, the rate's
	// precision in cents).
	conversion := usdToEUR()
	plan := mustPlan(t, &conversion)
	expectPlan(t, "exact", plan, 10_000, 9_234, 0, 10_000)

	// 0.001 BTC (100,000 sat, scale 8) at 65432.10 USD is 65.4321 USD: the payee gets
	// 65.43 (6,543 cents) and the operator keeps 0.21 of a cent (21/100).
	conversion = usdToEUR()
	conversion.SourceScale, conversion.Rate = 8, Rate{6543210, 2}
	conversion.SourceAmount = model.U128(100_000)
	expectPlan(t, "send", mustPlan(t, &conversion), 100_000, 6_543, 21_000_000, 100_000_000)

	// The payee must receive exactly 65.43 USD: one sat is worth 0.0654321 of a cent, so
	// the payer pays ceil(6543 / 0.0654321) = 99,997 sat (99,996.79… rounded up), worth
	// 6,543.0137037 cents, of which the operator keeps 0.0137037 of a cent (1,370,370 /
	// 10^8).
	conversion.SourceAmount, conversion.TargetAmount = model.Uint128{}, model.U128(6_543)
	expectPlan(t, "receive", mustPlan(t, &conversion), 99_997, 6_543, 1_370_370, 100_000_000)
}

func mustPlan(t *testing.T, c *Conversion) ConversionPlan {
	t.Helper()
	plan, err := c.Plan()
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func expectPlan(t *testing.T, name string, plan ConversionPlan, source, target, numerator,
	denominator uint64) {
	t.Helper()
	if plan.SourceAmount != model.U128(source) || plan.TargetAmount != model.U128(target) ||
		plan.RemainderNumerator != model.U128(numerator) ||
		plan.RemainderDenominator != model.U128(denominator) {
		t.Errorf("%s: source %s target %s remainder %s/%s; want %d %d %d/%d", name,
			plan.SourceAmount, plan.TargetAmount, plan.RemainderNumerator,
			plan.RemainderDenominator, source, target, numerator, denominator)
	}
}

// TestConversionPlanAgainstRationals checks the amounts and the remainder of random
// conversions against exact rational arithmetic (math/big): the payee gets the floor when
// the source amount is given, the payer pays the ceiling when the target amount is given,
// the remainder is exactly what the operator keeps and is below one minor unit, and the
// two transfers carry the plan, linked, with a user data tag that decodes back.
func TestConversionPlanAgainstRationals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := usdToEUR()
		c.SourceScale = uint8(rapid.IntRange(0, ScaleMax).Draw(t, "source scale"))
		c.TargetScale = uint8(rapid.IntRange(0, ScaleMax).Draw(t, "target scale"))
		c.Rate = Rate{Mantissa: rapid.Uint64Range(1, 1<<63).Draw(t, "mantissa"),
			Places: uint8(rapid.IntRange(0, RatePlacesMax).Draw(t, "places"))}
		amount := model.Uint128{Lo: rapid.Uint64().Draw(t, "amount"),
			Hi: rapid.Uint64Range(0, 1<<20).Draw(t, "amount.hi")}
		send := rapid.Bool().Draw(t, "send")
		if amount.IsZero() {
			amount = model.U128(1)
		}
		c.SourceAmount, c.TargetAmount = amount, model.Uint128{}
		if !send {
			c.SourceAmount, c.TargetAmount = model.Uint128{}, amount
		}
		plan, err := c.Plan()
		ratio := minorRatio(&c) // Target minor units per source minor unit.
		if err != nil {
			checkRefusal(t, err, &c, ratio, send)
			return
		}
		source, target := new(big.Rat).SetInt(plan.SourceAmount.Big()),
			new(big.Rat).SetInt(plan.TargetAmount.Big())
		value := new(big.Rat).Mul(source, ratio) // What the payer paid, in target units.
		remainder := new(big.Rat).Sub(value, target)
		stated := new(big.Rat).SetFrac(plan.RemainderNumerator.Big(),
			plan.RemainderDenominator.Big())
		if remainder.Cmp(stated) != 0 || remainder.Sign() < 0 {
			t.Fatalf("remainder %s, stated %s", remainder.RatString(), stated.RatString())
		}
		if send && (plan.SourceAmount != amount || remainder.Cmp(big.NewRat(1, 1)) >= 0) {
			t.Fatalf("send: source %s, remainder %s ≥ 1", plan.SourceAmount, remainder)
		}
		if !send && (plan.TargetAmount != amount || remainder.Cmp(ratio) >= 0) {
			t.Fatalf("receive: target %s, remainder %s ≥ one source unit %s",
				plan.TargetAmount, remainder, ratio)
		}
		checkLegs(t, &c, &plan)
	})
}

// minorRatio is the exact rate in minor units: rate × 10^TargetScale / 10^SourceScale.
func minorRatio(c *Conversion) *big.Rat {
	ten := big.NewInt(10)
	numerator := new(big.Int).Mul(new(big.Int).SetUint64(c.Rate.Mantissa),
		new(big.Int).Exp(ten, big.NewInt(int64(c.TargetScale)), nil))
	denominator := new(big.Int).Exp(ten, big.NewInt(int64(c.Rate.Places)+int64(c.SourceScale)), nil)
	return new(big.Rat).SetFrac(numerator, denominator)
}

// checkRefusal accepts only the refusals the exact arithmetic predicts.
func checkRefusal(t *rapid.T, err error, c *Conversion, ratio *big.Rat, send bool) {
	limit := new(big.Rat).SetInt(model.Uint128Max.Big())
	var converted *big.Rat
	if send {
		converted = new(big.Rat).Mul(new(big.Rat).SetInt(c.SourceAmount.Big()), ratio)
	} else {
		converted = new(big.Rat).Quo(new(big.Rat).SetInt(c.TargetAmount.Big()), ratio)
	}
	switch {
	case errors.Is(err, ErrConversionTooSmall) && send && converted.Cmp(big.NewRat(1, 1)) < 0:
	case errors.Is(err, ErrConversionOverflow) && converted.Cmp(limit) > 0:
	default:
		t.Fatalf("refused %v: converted %s", err, converted.FloatString(3))
	}
}

func checkLegs(t *rapid.T, c *Conversion, plan *ConversionPlan) {
	source, target := &plan.Transfers[0], &plan.Transfers[1]
	if source.Flags != model.TransferLinked || target.Flags != 0 ||
		source.Amount != plan.SourceAmount || target.Amount != plan.TargetAmount ||
		source.DebitAccountID != c.Payer || source.CreditAccountID != c.SourceLiquidity ||
		target.DebitAccountID != c.TargetLiquidity || target.CreditAccountID != c.Payee ||
		source.Ledger != c.SourceLedger || target.Ledger != c.TargetLedger {
		t.Fatalf("legs %+v %+v", *source, *target)
	}
	for i, kind := range []uint8{ClearingKindConversionSource, ClearingKindConversionTarget} {
		tag, ok := ConversionTagOf(&plan.Transfers[i])
		if !ok || tag != (ConversionTag{Kind: kind, QuoteID: c.QuoteID, Rate: c.Rate,
			SourceScale: c.SourceScale, TargetScale: c.TargetScale}) {
			t.Fatalf("leg %d tag %+v", i, tag)
		}
	}
}
