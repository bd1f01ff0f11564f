package core

import (
	"testing"

	"sequent/core/model"
)

// The issuing-right tests for orders: an order's hold is a debit the client asks for, so
// from rules version 6 a hold (or a replace's growth of one) that would take an account
// without debits_must_not_exceed_credits above its credits posted needs the right to
// issue money there, as a transfer does (issuing_right_test.go), and is refused
// insufficient_funds without it, the code an account with the flag gets. They start from
// newIssuingCase: the payer's account 3000 (quote ledger 2, no flag, credits 500) was
// created under a transfer grant withdrawn since; the owner's sell of 10 at 500 rests on
// instrument 5 (matrixMachine). The payer receives base into its own limited account on
// ledger 1 (issuingBase, credits 1,000).

// issuingBase is the payer's limited account on ledger 1 (matrixMachine's subjects).
const issuingBase = matrixPayer + 1000

// issuingBuy is a buy of the payer's: base into issuingBase, paid from 3000.
func issuingBuy(clientOrderID, price, quantity uint64, timeInForce model.TimeInForce) *model.Order {
	return &model.Order{ClientOrderID: clientOrderID, Account: 1,
		BaseAccountID: model.U128(issuingBase), QuoteAccountID: model.U128(3000),
		Price: price, Quantity: quantity, Instrument: 5, Side: model.SideBuy,
		Type: model.OrderLimit, TimeInForce: timeInForce}
}

// orders applies a place_orders or replace_orders request of client's (session 11, whose
// request numbers it shares with c.apply) and returns the order results.
func (c *issuingCase) orders(client uint64, operation model.Operation,
	body []byte) []model.OrderResult {
	c.h.t.Helper()
	c.number++
	out := c.h.apply(Request{Client: client, Session: 11, Number: c.number,
		Operation: operation, Body: body})
	if out.Replies[0].Status != model.StatusOK {
		c.h.t.Fatalf("%s: %s", operation, out.Replies[0].Status)
	}
	body = out.Body(&out.Replies[0])
	results := make([]model.OrderResult, len(body)/model.OrderResultSize)
	for i := range results {
		results[i].Decode(body[i*model.OrderResultSize:])
	}
	return results
}

// place places one order of client's and returns its result.
func (c *issuingCase) place(client uint64, order *model.Order) model.OrderResult {
	c.h.t.Helper()
	return c.orders(client, model.OperationPlaceOrders,
		encodeRecords(model.OrderSize, order))[0]
}

// replace replaces one of the payer's orders and returns the result.
func (c *issuingCase) replace(orderID, clientOrderID, price, quantity uint64) model.OrderResult {
	c.h.t.Helper()
	return c.orders(matrixPayer, model.OperationReplaceOrders,
		encodeRecords(model.OrderReplaceSize, &model.OrderReplace{
			ClientOrderID: clientOrderID, Account: 1, OrderID: orderID, Price: price,
			Quantity: quantity}))[0]
}

// expectOrder checks an order result's status.
func (c *issuingCase) expectOrder(what string, got model.OrderResult, want model.Status) {
	c.h.t.Helper()
	if got.Status != want {
		c.h.t.Errorf("%s: %s, want %s", what, got.Status, want)
	}
}

// expectDebits checks account 3000's debits (pending: the holds; posted: what it paid).
func (c *issuingCase) expectDebits(what string, pending, posted uint64) {
	c.h.t.Helper()
	if a := c.balance(3000); a.DebitsPending != model.U128(pending) ||
		a.DebitsPosted != model.U128(posted) {
		c.h.t.Errorf("%s: account 3000 debits pending %s posted %s, want %d and %d", what,
			a.DebitsPending, a.DebitsPosted, pending, posted)
	}
}

// TestOrderIssuingRightRulesVersion: the hole grants42 found. With its grant withdrawn,
// the payer places an immediate-or-cancel buy of 10 at 500 (a hold of 5,000) paid from
// 3000, whose credits are 500. From rules version 6 it is refused insufficient_funds and
// nothing moves: no hold, no payment, no base received. Below version 6 (a log written
// before the check) it is accepted as it was, 3000 paying 5,000 of money it did not have
// for the owner's 10 base units, so that such a log replays bit for bit.
func TestOrderIssuingRightRulesVersion(t *testing.T) {
	for _, version := range []uint32{rulesVersionIssuingRight - 1, rulesVersionIssuingRight} {
		c := newIssuingCase(t, version)
		got := c.place(matrixPayer, issuingBuy(1, 500, 10, model.ImmediateOrCancel))
		base := c.balance(issuingBase).CreditsPosted
		if version < rulesVersionIssuingRight {
			c.expectOrder("version 5: the buy", got, model.StatusOK)
			c.expectDebits("version 5: after the buy", 0, 5_000)
			if base != model.U128(1_010) {
				t.Errorf("version 5: the payer's base credits %s, want 1010", base)
			}
			continue
		}
		c.expectOrder("version 6: the buy", got, model.StatusInsufficientFunds)
		c.expectDebits("version 6: after the refused buy", 0, 0)
		if base != model.U128(1_000) {
			t.Errorf("version 6: the payer's base credits %s, want 1000 (nothing bought)", base)
		}
	}
}

// TestOrderIssuingRightBoundary: under version 6 without the right, holds are judged as
// the flag would judge them, counting the holds already there: a buy of 1 at 400 (400)
// is accepted; one at 101 (501 in all) is refused; one at 100 (exactly 500) is accepted.
// A replace that grows a hold beyond the credits (the 100 to 2 lots: 600) is refused and
// leaves the holds as they were; one that shrinks (the 400 to 300) is accepted, and the
// 100 can then grow again exactly to the credits (to 2 lots: 500).
func TestOrderIssuingRightBoundary(t *testing.T) {
	c := newIssuingCase(t, rulesVersionIssuingRight)
	first := c.place(matrixPayer, issuingBuy(1, 400, 1, model.GoodTillCancel))
	c.expectOrder("a hold within the credits", first, model.StatusOK)
	c.expectOrder("one unit above, counting the first hold",
		c.place(matrixPayer, issuingBuy(2, 101, 1, model.GoodTillCancel)),
		model.StatusInsufficientFunds)
	second := c.place(matrixPayer, issuingBuy(3, 100, 1, model.GoodTillCancel))
	c.expectOrder("exactly to the credits", second, model.StatusOK)
	c.expectDebits("holds at the credits", 500, 0)
	c.expectOrder("a replace growing the hold beyond",
		c.replace(second.OrderID, 4, 100, 2), model.StatusInsufficientFunds)
	c.expectDebits("after the refused replace", 500, 0)
	c.expectOrder("a replace shrinking a hold", c.replace(first.OrderID, 5, 300, 1),
		model.StatusOK)
	c.expectDebits("after the shrink", 400, 0)
	c.expectOrder("a replace growing exactly to the credits",
		c.replace(second.OrderID, 6, 100, 2), model.StatusOK)
	c.expectDebits("after the growth", 500, 0)
	// The refusal keeps its place in the precedence order: a post-only buy that would
	// cross is post_only_would_cross, checked before the hold, whatever it would hold.
	postOnly := issuingBuy(7, 500, 10, model.PostOnly)
	c.expectOrder("a crossing post-only buy", c.place(matrixPayer, postOnly),
		model.StatusPostOnlyWouldCross)
}

// TestOrderIssuingRightShrinkAboveCredits: holds placed while the payer had the right
// (a buy of 3 at 300: 900, on credits of 500) stay when it is withdrawn; a replace that
// shrinks such a hold gives funds back and is accepted though the rest still exceeds the
// credits (2 lots: 600); growing it again (3 lots) is refused.
func TestOrderIssuingRightShrinkAboveCredits(t *testing.T) {
	c := newIssuingCase(t, rulesVersionIssuingRight)
	c.grants(issuingOperator, issuingGrant)
	placed := c.place(matrixPayer, issuingBuy(1, 300, 3, model.GoodTillCancel))
	c.expectOrder("the buy under the grant", placed, model.StatusOK)
	c.grants(issuingOperator) // Withdrawn again.
	c.expectOrder("shrunk, still above the credits", c.replace(placed.OrderID, 2, 300, 2),
		model.StatusOK)
	c.expectDebits("after the shrink", 600, 0)
	c.expectOrder("grown again", c.replace(placed.OrderID, 3, 300, 3),
		model.StatusInsufficientFunds)
	c.expectDebits("after the refused growth", 600, 0)
}

// TestOrderIssuingRightWhoMay: under version 6 the right to issue is what the hold
// needs, as for a transfer: the operator may place the immediate-or-cancel buy of 10 at
// 500 paid from 3000 (into its bank 100), and so may the payer once its transfer grant
// over 3000 is given back; either way 3000 pays 5,000.
func TestOrderIssuingRightWhoMay(t *testing.T) {
	t.Run("operator", func(t *testing.T) {
		c := newIssuingCase(t, rulesVersionIssuingRight)
		buy := issuingBuy(1, 500, 10, model.ImmediateOrCancel)
		buy.BaseAccountID = model.U128(100)
		c.expectOrder("the operator's buy", c.place(matrixOperator, buy), model.StatusOK)
		c.expectDebits("after the operator's buy", 0, 5_000)
	})
	t.Run("client with the grant", func(t *testing.T) {
		c := newIssuingCase(t, rulesVersionIssuingRight)
		c.grants(issuingOperator, issuingGrant)
		c.expectOrder("the payer's buy under the grant",
			c.place(matrixPayer, issuingBuy(1, 500, 10, model.ImmediateOrCancel)),
			model.StatusOK)
		c.expectDebits("after the payer's buy", 0, 5_000)
	})
}
