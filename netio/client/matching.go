package client

import (
	"context"
	"fmt"

	"sequent/core/model"
)

// record is a fixed-size wire record of package model.
type record[T any] interface {
	*T
	Encode(b []byte)
	Decode(b []byte)
}

// events sends events of one operation in as many requests as needed (all pipelined)
// and returns the results decoded in order. resultsPerEvent says the reply carries one
// result per event (create and command operations), which is then checked.
func events[E any, R any, PE record[E], PR record[R]](ctx context.Context, c *Client,
	operation model.Operation, list []E, resultsPerEvent bool) ([]R, error) {
	info, ok := operation.Info()
	if !ok {
		return nil, fmt.Errorf("client: unknown operation %d", operation)
	}
	var one [1][2]int
	runs, _ := chunks(one[:0], len(list), func(int) bool { return false })
	var results []R
	err := c.batch(ctx, operation, 0, runs, func(run [2]int) []byte {
		body := make([]byte, (run[1]-run[0])*info.EventSize)
		for i := run[0]; i < run[1]; i++ {
			PE(&list[i]).Encode(body[(i-run[0])*info.EventSize:])
		}
		return body
	}, nil, nil, func(body []byte) { results = decodeAll[R, PR](results, body, info.ResultSize) })
	if err == nil && resultsPerEvent && len(results) != len(list) {
		err = fmt.Errorf("client: %d results for %d events", len(results), len(list))
	}
	return results, err
}

func decodeAll[R any, PR record[R]](results []R, body []byte, size int) []R {
	for offset := 0; offset+size <= len(body); offset += size {
		// Decoded in place: a local passed to Decode through the type parameter's
		// method would be moved to the heap, one allocation per result.
		results = append(results, *new(R))
		PR(&results[len(results)-1]).Decode(body[offset:])
	}
	return results
}

// CreateInstruments creates order books (admin permission); one result per instrument.
func (c *Client) CreateInstruments(ctx context.Context, instruments []model.Instrument) (
	[]model.EventResult, error) {
	return events[model.Instrument, model.EventResult](ctx, c,
		model.OperationCreateInstruments, instruments, true)
}

// PlaceOrders places orders; one OrderResult per order. Resending an order with the same
// client order id answers the original result.
func (c *Client) PlaceOrders(ctx context.Context, orders []model.Order) (
	[]model.OrderResult, error) {
	return events[model.Order, model.OrderResult](ctx, c, model.OperationPlaceOrders, orders,
		true)
}

// CancelOrders cancels open orders; one OrderResult per cancel.
func (c *Client) CancelOrders(ctx context.Context, cancels []model.OrderCancel) (
	[]model.OrderResult, error) {
	return events[model.OrderCancel, model.OrderResult](ctx, c, model.OperationCancelOrders,
		cancels, true)
}

// ReplaceOrders changes open orders' price or quantity; one OrderResult per replace.
func (c *Client) ReplaceOrders(ctx context.Context, replaces []model.OrderReplace) (
	[]model.OrderResult, error) {
	return events[model.OrderReplace, model.OrderResult](ctx, c,
		model.OperationReplaceOrders, replaces, true)
}

// MassCancel cancels every open order of trading accounts (optionally one instrument or
// side); one MassCancelResult per event.
func (c *Client) MassCancel(ctx context.Context, cancels []model.MassCancel) (
	[]model.MassCancelResult, error) {
	return events[model.MassCancel, model.MassCancelResult](ctx, c, model.OperationMassCancel,
		cancels, true)
}

// LookupInstruments returns the instruments found, in the order of ids.
func (c *Client) LookupInstruments(ctx context.Context, ids []uint32) (
	[]model.Instrument, error) {
	keys := make([]instrumentID, len(ids))
	for i, id := range ids {
		keys[i] = instrumentID(id)
	}
	return events[instrumentID, model.Instrument](ctx, c, model.OperationLookupInstruments,
		keys, false)
}

// LookupOrders returns the open orders found, in the order of ids. On a node whose
// instruments are on several shards the node refuses it whole (an order id names no
// shard): the error then matches ErrOrderReadNeedsInstrument (errors.Is), and no order
// is returned; ask GetAccountOrders per instrument there.
func (c *Client) LookupOrders(ctx context.Context, ids []uint64) ([]model.OrderState, error) {
	keys := make([]orderID, len(ids))
	for i, id := range ids {
		keys[i] = orderID(id)
	}
	return events[orderID, model.OrderState](ctx, c, model.OperationLookupOrders, keys, false)
}

// GetAccountOrders returns open orders of one of the caller's trading accounts. Of
// every instrument (filter.Instrument 0) on a node whose instruments are on several
// shards, the node refuses it whole: the error matches ErrOrderReadNeedsInstrument
// (errors.Is); name the instrument there, whose shard answers.
func (c *Client) GetAccountOrders(ctx context.Context, filter model.OrderFilter) (
	[]model.OrderState, error) {
	return events[model.OrderFilter, model.OrderState](ctx, c, model.OperationGetAccountOrders,
		[]model.OrderFilter{filter}, false)
}

// GetDepth returns the best price levels of an instrument: bids first (best first),
// then asks (best first).
func (c *Client) GetDepth(ctx context.Context, filter model.DepthFilter) (
	[]model.DepthLevel, error) {
	return events[model.DepthFilter, model.DepthLevel](ctx, c, model.OperationGetDepth,
		[]model.DepthFilter{filter}, false)
}

// instrumentID is an instrument id as a lookup event: u32 and four zero bytes.
type instrumentID uint32

func (id *instrumentID) Encode(b []byte) {
	_ = b[model.InstrumentIDSize-1]
	b[0], b[1], b[2], b[3] = byte(*id), byte(*id>>8), byte(*id>>16), byte(*id>>24)
	b[4], b[5], b[6], b[7] = 0, 0, 0, 0
}

func (id *instrumentID) Decode(b []byte) {
	*id = instrumentID(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

// orderID is an order id as a lookup event: u64.
type orderID uint64

func (id *orderID) Encode(b []byte) {
	_ = b[model.OrderIDSize-1]
	for i := 0; i < 8; i++ {
		b[i] = byte(*id >> (8 * i))
	}
}

func (id *orderID) Decode(b []byte) {
	var value uint64
	for i := 0; i < 8; i++ {
		value |= uint64(b[i]) << (8 * i)
	}
	*id = orderID(value)
}
