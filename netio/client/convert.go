package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"sequent/core/model"
)

// Currency conversion between two ledgers, through the operator's liquidity accounts.
//
// A conversion is one request holding a linked chain of two transfers:
//
//	source leg: payer            → source liquidity   on the source ledger (the payer pays)
//	target leg: target liquidity → payee              on the target ledger (the payee is paid)
//
// A linked chain in one request is atomic (both legs are applied or neither: a refused
// target leg — a liquidity limit, a closed payee — rolls the source leg back) and lands in
// one log entry, so a crash cannot split it either. Both legs must live on the shard that
// applies the request: with one shard per process today that always holds; with several
// shards, both ledgers' four accounts must be placed on one shard until cross-shard linked
// chains exist (README, Clearing).
//
// # Amounts and rounding
//
// A ledger's scale is the number of decimal places of its minor unit (USD 2, BTC 8, USDC
// 6). The rate is target major units per source major unit, an exact decimal (Rate). In
// minor units, target = source × Mantissa × 10^TargetScale / (10^Places × 10^SourceScale),
// computed exactly with 256-bit intermediates (model.MulDiv). The result is rarely whole,
// and the fraction always stays with the operator:
//
//   - SourceAmount given (the payer sends exactly this): the payee receives the floor.
//   - TargetAmount given (the payee receives exactly this): the payer pays the ceiling.
//
// Either way the operator's liquidity accounts gain the remainder, less than one minor
// unit of the target currency (send) or of the source currency (receive) per conversion;
// ConversionPlan.Remainder states it exactly. A conversion that would move 0 is refused.
//
// # User data layout of both legs
//
//	user_data_128  the quote id (the same on both legs: it links them)
//	user_data_64   the rate's mantissa
//	user_data_32   bits 24..31: kind (ClearingKindConversionSource or …Target)
//	               bits 16..23: target ledger scale
//	               bits  8..15: source ledger scale
//	               bits  0..7:  the rate's decimal places
//
// so each leg alone says what rate and scales produced it (ConversionTagOf decodes it).
// The kind byte's high nibble is the layout version (1); tools/clearing uses kind
// ClearingKindSettlement for booked settlements.

// Rate is an exchange rate as an exact decimal: Mantissa / 10^Places target major units
// per source major unit. "1.0842" is {10842, 4}.
type Rate struct {
	Mantissa uint64
	Places   uint8
}

// Bounds of a rate and of a ledger's scale. Together they keep every intermediate of the
// amount formula within what model.MulDiv and model.Pow10 handle (10^37 < 2^128).
const (
	RatePlacesMax = 19 // Most decimal places of a rate (a u64 mantissa has 19 digits).
	ScaleMax      = 18 // Most decimal places of a ledger's minor unit.
)

// Kinds in the top byte of user_data_32 of transfers made by the clearing helpers. The
// high nibble is the layout version, 1.
const (
	ClearingKindConversionSource uint8 = 0x11 // The source leg of a conversion.
	ClearingKindConversionTarget uint8 = 0x12 // The target leg of a conversion.
	ClearingKindSettlement       uint8 = 0x13 // A booked settlement (tools/clearing).
)

// ParseRate parses a positive decimal such as "1.0842", "25" or "0.000031": digits with
// at most one point, no sign or exponent, at most RatePlacesMax decimals, and a mantissa
// that fits in 64 bits.
func ParseRate(text string) (Rate, error) {
	whole, fraction, hasPoint := strings.Cut(text, ".")
	if text == "" || (hasPoint && fraction == "") || !allDigits(whole) || !allDigits(fraction) {
		return Rate{}, fmt.Errorf("client: rate %q: want a positive decimal like 1.0842", text)
	}
	if len(fraction) > RatePlacesMax {
		return Rate{}, fmt.Errorf("client: rate %q: more than %d decimal places", text,
			RatePlacesMax)
	}
	digits := strings.TrimLeft(whole+fraction, "0")
	if digits == "" {
		return Rate{}, fmt.Errorf("client: rate %q must be above zero", text)
	}
	mantissa, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return Rate{}, fmt.Errorf("client: rate %q: its digits do not fit in 64 bits", text)
	}
	return Rate{Mantissa: mantissa, Places: uint8(len(fraction))}, nil
}

func allDigits(text string) bool {
	for _, character := range text {
		if character < '0' || character > '9' {
			return false
		}
	}
	return true
}

// String formats the rate as a decimal with exactly Places decimals.
func (r Rate) String() string { return FormatDecimal(model.U128(r.Mantissa), r.Places) }

// FormatDecimal writes value / 10^places as a decimal with exactly places decimals:
// (12345, 2) is "123.45", (5, 3) is "0.005". Amounts in minor units print in major units
// this way, given their ledger's scale.
func FormatDecimal(value model.Uint128, places uint8) string {
	digits := value.String()
	if places == 0 {
		return digits
	}
	if pad := int(places) + 1 - len(digits); pad > 0 {
		digits = strings.Repeat("0", pad) + digits
	}
	point := len(digits) - int(places)
	return digits[:point] + "." + digits[point:]
}

// Conversion describes one conversion. Set exactly one of SourceAmount and TargetAmount.
type Conversion struct {
	SourceTransferID model.Uint128 // Id of the source leg (payer → source liquidity).
	TargetTransferID model.Uint128 // Id of the target leg (target liquidity → payee).
	Payer            model.Uint128 // Debited, on the source ledger.
	Payee            model.Uint128 // Credited, on the target ledger.
	SourceLiquidity  model.Uint128 // The operator's account on the source ledger (credited).
	TargetLiquidity  model.Uint128 // The operator's account on the target ledger (debited).
	SourceLedger     uint32
	TargetLedger     uint32
	SourceScale      uint8         // Decimal places of the source ledger's minor unit.
	TargetScale      uint8         // Decimal places of the target ledger's minor unit.
	Rate             Rate          // Target major units per source major unit (an input).
	QuoteID          model.Uint128 // The quote the rate came from; not 0 (it links the legs).
	Code             uint16        // Transfer code of both legs; not 0.
	SourceAmount     model.Uint128 // The payer pays exactly this (minor units), or 0.
	TargetAmount     model.Uint128 // The payee receives exactly this (minor units), or 0.
}

// DefaultTargetTransferID sets the target transfer's id, when none was given, to the
// source transfer's + 1 (the CLI's and the HTTP API's default). The largest id has no
// successor: that is an error for the caller to report (it used to panic in MustAdd,
// on a request body's id).
func (c *Conversion) DefaultTargetTransferID() error {
	if !c.TargetTransferID.IsZero() || c.SourceTransferID.IsZero() {
		return nil
	}
	target, overflow := c.SourceTransferID.Add(model.U128(1))
	if overflow {
		return errors.New("the source transfer's id is the largest: give the target's id")
	}
	c.TargetTransferID = target
	return nil
}

// ConversionPlan is what a conversion will book: the two linked transfers and their
// amounts. The operator keeps Remainder = RemainderNumerator / RemainderDenominator
// minor units of the target currency (what the rounding did not pass on).
type ConversionPlan struct {
	Transfers            [2]model.Transfer // Source leg (linked), then target leg.
	SourceAmount         model.Uint128
	TargetAmount         model.Uint128
	RemainderNumerator   model.Uint128
	RemainderDenominator model.Uint128
}

// Errors of Conversion.Plan (before anything is sent).
var (
	// ErrConversionInvalid is wrapped by every error about the conversion's fields.
	ErrConversionInvalid = errors.New("client: invalid conversion")
	// ErrConversionTooSmall: at this rate the amount converts to 0 minor units.
	ErrConversionTooSmall = errors.New("client: conversion amount rounds to zero")
	// ErrConversionOverflow: the converted amount does not fit in 128 bits.
	ErrConversionOverflow = errors.New("client: converted amount overflows 128 bits")
)

// Plan checks the conversion and computes its two transfers.
func (c *Conversion) Plan() (ConversionPlan, error) {
	if err := c.validate(); err != nil {
		return ConversionPlan{}, err
	}
	numerator, denominator := c.ratio()
	plan := ConversionPlan{RemainderDenominator: denominator}
	var ok bool
	if !c.SourceAmount.IsZero() {
		plan.SourceAmount = c.SourceAmount
		plan.TargetAmount, plan.RemainderNumerator, ok = model.MulDiv(c.SourceAmount,
			numerator, denominator)
	} else {
		plan.TargetAmount = c.TargetAmount
		plan.SourceAmount, ok = model.MulDivCeil(c.TargetAmount, denominator, numerator)
		if ok {
			plan.RemainderNumerator, ok = receiveRemainder(plan.SourceAmount,
				plan.TargetAmount, numerator, denominator)
		}
	}
	switch {
	case !ok:
		return ConversionPlan{}, ErrConversionOverflow
	case plan.SourceAmount.IsZero() || plan.TargetAmount.IsZero():
		return ConversionPlan{}, ErrConversionTooSmall
	}
	plan.Transfers = c.transfers(plan.SourceAmount, plan.TargetAmount)
	return plan, nil
}

// ratio returns the rate in minor units, target per source, as numerator / denominator:
// Mantissa × 10^TargetScale / 10^(Places + SourceScale), with the common powers of ten
// cancelled so that both fit in 128 bits.
func (c *Conversion) ratio() (numerator, denominator model.Uint128) {
	exponent := int(c.TargetScale) - int(c.Rate.Places) - int(c.SourceScale)
	if exponent >= 0 {
		power, _ := model.Pow10(exponent) // At most 10^18.
		numerator, _ = power.Mul64(c.Rate.Mantissa)
		return numerator, model.U128(1)
	}
	denominator, _ = model.Pow10(-exponent) // At most 10^37.
	return model.U128(c.Rate.Mantissa), denominator
}

// receiveRemainder returns source × numerator − target × denominator (over denominator:
// what the payer paid beyond the target amount, in target minor units), exactly.
func receiveRemainder(source, target, numerator, denominator model.Uint128) (
	model.Uint128, bool) {
	value, remainder, ok := model.MulDiv(source, numerator, denominator)
	if !ok {
		return model.Uint128{}, false
	}
	excess, underflow := value.Sub(target) // value ≥ target: source is a ceiling.
	if underflow {
		panic("client: conversion ceiling below its target amount")
	}
	scaled, _, ok := model.MulDiv(excess, denominator, model.U128(1)) // A checked product.
	if !ok {
		return model.Uint128{}, false
	}
	sum, overflow := scaled.Add(remainder)
	return sum, !overflow
}

func (c *Conversion) validate() error {
	problem := ""
	switch {
	case c.SourceTransferID.IsZero() || c.TargetTransferID.IsZero():
		problem = "both leg ids are required"
	case c.SourceTransferID == c.TargetTransferID:
		problem = "the two legs need different ids"
	case c.QuoteID.IsZero():
		problem = "the quote id must not be 0 (it links the legs)"
	case c.Rate.Mantissa == 0 || c.Rate.Places > RatePlacesMax:
		problem = fmt.Sprintf("rate %s: want a mantissa above 0 and at most %d places",
			c.Rate, RatePlacesMax)
	case c.SourceScale > ScaleMax || c.TargetScale > ScaleMax:
		problem = fmt.Sprintf("ledger scales %d and %d: at most %d", c.SourceScale,
			c.TargetScale, ScaleMax)
	case c.SourceAmount.IsZero() == c.TargetAmount.IsZero():
		problem = "set exactly one of the source amount and the target amount"
	case c.SourceLedger == c.TargetLedger:
		problem = "a conversion is between two different ledgers"
	}
	if problem != "" {
		return fmt.Errorf("%w: %s", ErrConversionInvalid, problem)
	}
	return nil
}

// transfers builds the linked chain: the source leg (linked) then the target leg.
func (c *Conversion) transfers(source, target model.Uint128) [2]model.Transfer {
	tag := func(kind uint8) uint32 {
		return uint32(kind)<<24 | uint32(c.TargetScale)<<16 | uint32(c.SourceScale)<<8 |
			uint32(c.Rate.Places)
	}
	return [2]model.Transfer{
		{ID: c.SourceTransferID, DebitAccountID: c.Payer, CreditAccountID: c.SourceLiquidity,
			Amount: source, UserData128: c.QuoteID, UserData64: c.Rate.Mantissa,
			UserData32: tag(ClearingKindConversionSource), Ledger: c.SourceLedger,
			Code: c.Code, Flags: model.TransferLinked},
		{ID: c.TargetTransferID, DebitAccountID: c.TargetLiquidity, CreditAccountID: c.Payee,
			Amount: target, UserData128: c.QuoteID, UserData64: c.Rate.Mantissa,
			UserData32: tag(ClearingKindConversionTarget), Ledger: c.TargetLedger,
			Code: c.Code},
	}
}

// ConversionTag is what a conversion leg's user data records.
type ConversionTag struct {
	Kind        uint8 // ClearingKindConversionSource or ClearingKindConversionTarget.
	QuoteID     model.Uint128
	Rate        Rate
	SourceScale uint8
	TargetScale uint8
}

// ConversionTagOf decodes a transfer's user data as a conversion leg's, and reports
// whether it is one (by the kind byte; any transfer may carry such bytes by chance, so
// check the code too when that matters).
func ConversionTagOf(t *model.Transfer) (ConversionTag, bool) {
	kind := uint8(t.UserData32 >> 24)
	if kind != ClearingKindConversionSource && kind != ClearingKindConversionTarget {
		return ConversionTag{}, false
	}
	tag := ConversionTag{Kind: kind, QuoteID: t.UserData128,
		Rate:        Rate{Mantissa: t.UserData64, Places: uint8(t.UserData32)},
		SourceScale: uint8(t.UserData32 >> 8), TargetScale: uint8(t.UserData32 >> 16)}
	return tag, true
}

// ConversionResult is the outcome of Client.Convert.
type ConversionResult struct {
	Plan    ConversionPlan
	Results [2]model.EventResult // Of the source leg and the target leg.
}

// Applied reports whether both legs exist now: created by this call, or by an earlier
// identical one (exists). A linked chain never leaves one leg without the other.
func (r *ConversionResult) Applied() bool {
	for _, result := range r.Results {
		if result.Status != model.StatusOK && result.Status != model.StatusExists {
			return false
		}
	}
	return true
}

// Refusal returns the status that refused the conversion (the leg that failed; the other
// one says linked_event_failed), or StatusOK when it was applied.
func (r *ConversionResult) Refusal() model.Status {
	for _, result := range r.Results {
		if result.Status != model.StatusOK && result.Status != model.StatusExists &&
			result.Status != model.StatusLinkedEventFailed {
			return result.Status
		}
	}
	return model.StatusOK
}

// Convert books a conversion as one request (a linked chain of its two legs) and
// returns both legs' results. An error means the conversion was invalid (nothing was
// sent) or the request failed (its outcome is then unknown: retry the same conversion,
// whose legs answer exists if they were applied). A refusal by the ledger is not an
// error: see ConversionResult.Applied and Refusal.
func (c *Client) Convert(ctx context.Context, conversion Conversion) (ConversionResult, error) {
	plan, err := conversion.Plan()
	if err != nil {
		return ConversionResult{}, err
	}
	results, err := c.CreateTransfers(ctx, plan.Transfers[:])
	if err != nil {
		return ConversionResult{Plan: plan}, err
	}
	return ConversionResult{Plan: plan, Results: [2]model.EventResult{results[0], results[1]}},
		nil
}
