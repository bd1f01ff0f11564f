package core

import (
	"encoding/binary"

	"sequent/core/model"
)

// matchBuffers are the decode and result buffers of the matching operations, sized for
// the largest request when first used.
type matchBuffers struct {
	orders       []model.Order
	cancels      []model.OrderCancel
	replaces     []model.OrderReplace
	massCancels  []model.MassCancel
	instruments  []model.Instrument
	results      []model.OrderResult
	massResults  []model.MassCancelResult
	eventResults []model.EventResult
	ids          []uint64
	instrumentID []uint32
	foundOrders  []model.OrderState
	foundBooks   []model.Instrument
	depth        []model.DepthLevel
}

// sized returns s with length count, allocating the full batch capacity once.
func sized[T any](s *[]T, count int) []T {
	if cap(*s) < model.EventsPerRequestMax {
		*s = make([]T, model.EventsPerRequestMax)
	}
	return (*s)[:count]
}

// Report implements match.Sink: execution reports go to the output with the owner's next
// sequence number (machine state, so replicas and replays number them alike).
func (m *Machine) Report(report *model.ExecutionReport) {
	out := m.sinkOutput
	if out == nil {
		panic("core: report outside Apply")
	}
	m.reportSequences[report.Client]++
	start := len(out.reportBody)
	out.reportBody = append(out.reportBody, make([]byte, model.ExecutionReportSize)...)
	report.Encode(out.reportBody[start:])
	out.Reports = append(out.Reports, Report{Client: report.Client,
		Sequence: m.reportSequences[report.Client], start: start})
	out.Events.AppendOrder(report)
}

// MarketData implements match.Sink: the update, stamped with the op of the request that
// caused it, becomes an event of the output (published by the market-data feed).
func (m *Machine) MarketData(update *model.MarketDataUpdate) {
	out := m.sinkOutput
	if out == nil {
		panic("core: market data outside Apply")
	}
	update.Op = out.Events.Op()
	out.Events.AppendMarketData(update)
}

// dispatchMatch runs a matching operation; the bool says whether it was one.
func (m *Machine) dispatchMatch(request *Request, out *Output) (model.Status, bool) {
	body := request.Body
	switch request.Operation {
	case model.OperationCreateInstruments:
		return m.createInstruments(body, out), true
	case model.OperationPlaceOrders:
		events := sized(&m.matchBuffers.orders, len(body)/model.OrderSize)
		for i := range events {
			events[i].Decode(body[i*model.OrderSize:])
		}
		results := sized(&m.matchBuffers.results, len(events))
		m.match.PlaceOrders(&m.clock, request.Client, events, results, m)
		return m.encodeOrderResults(results, out), true
	case model.OperationCancelOrders:
		events := sized(&m.matchBuffers.cancels, len(body)/model.OrderCancelSize)
		for i := range events {
			events[i].Decode(body[i*model.OrderCancelSize:])
		}
		results := sized(&m.matchBuffers.results, len(events))
		m.match.CancelOrders(&m.clock, request.Client, events, results, m)
		return m.encodeOrderResults(results, out), true
	case model.OperationReplaceOrders:
		events := sized(&m.matchBuffers.replaces, len(body)/model.OrderReplaceSize)
		for i := range events {
			events[i].Decode(body[i*model.OrderReplaceSize:])
		}
		results := sized(&m.matchBuffers.results, len(events))
		m.match.ReplaceOrders(&m.clock, request.Client, events, results, m)
		return m.encodeOrderResults(results, out), true
	case model.OperationMassCancel:
		return m.massCancel(request.Client, body, out), true
	case model.OperationCancelSession:
		m.match.CancelAllForClient(&m.clock, binary.LittleEndian.Uint64(body), m)
		return model.StatusOK, true
	}
	return m.queryMatch(request, out)
}

func (m *Machine) createInstruments(body []byte, out *Output) model.Status {
	events := sized(&m.matchBuffers.instruments, len(body)/model.InstrumentSize)
	for i := range events {
		events[i].Decode(body[i*model.InstrumentSize:])
	}
	results := sized(&m.matchBuffers.eventResults, len(events))
	m.match.CreateInstruments(&m.clock, events, results)
	encoded := grow(out, len(results)*model.EventResultSize)
	for i := range results {
		results[i].Encode(encoded[i*model.EventResultSize:])
	}
	return model.StatusOK
}

func (m *Machine) massCancel(client uint64, body []byte, out *Output) model.Status {
	events := sized(&m.matchBuffers.massCancels, len(body)/model.MassCancelSize)
	for i := range events {
		events[i].Decode(body[i*model.MassCancelSize:])
	}
	results := sized(&m.matchBuffers.massResults, len(events))
	m.match.MassCancel(&m.clock, client, events, results, m)
	encoded := grow(out, len(results)*model.MassCancelResultSize)
	for i := range results {
		results[i].Encode(encoded[i*model.MassCancelResultSize:])
	}
	return model.StatusOK
}

func (m *Machine) encodeOrderResults(results []model.OrderResult, out *Output) model.Status {
	encoded := grow(out, len(results)*model.OrderResultSize)
	for i := range results {
		results[i].Encode(encoded[i*model.OrderResultSize:])
		m.countStatus(results[i].Status)
	}
	return model.StatusOK
}

// queryMatch answers the matching engine's reads.
func (m *Machine) queryMatch(request *Request, out *Output) (model.Status, bool) {
	body := request.Body
	switch request.Operation {
	case model.OperationLookupInstruments:
		ids := sized(&m.matchBuffers.instrumentID, len(body)/model.InstrumentIDSize)
		for i := range ids {
			ids[i] = binary.LittleEndian.Uint32(body[i*model.InstrumentIDSize:])
		}
		found := m.match.LookupInstruments(ids, m.matchBuffers.foundBooks[:0])
		m.matchBuffers.foundBooks = found[:0]
		encoded := grow(out, len(found)*model.InstrumentSize)
		for i := range found {
			found[i].Encode(encoded[i*model.InstrumentSize:])
		}
		return model.StatusOK, true
	case model.OperationLookupOrders:
		ids := sized(&m.matchBuffers.ids, len(body)/model.OrderIDSize)
		for i := range ids {
			ids[i] = binary.LittleEndian.Uint64(body[i*model.OrderIDSize:])
		}
		return encodeOrderStates(m.match.LookupOrders(request.Client, ids,
			m.matchBuffers.foundOrders[:0]), model.StatusOK, out), true
	case model.OperationGetAccountOrders:
		var filter model.OrderFilter
		filter.Decode(body)
		found, status := m.match.AccountOrders(request.Client, &filter, m.matchBuffers.foundOrders[:0])
		return encodeOrderStates(found, status, out), true
	case model.OperationGetDepth:
		var filter model.DepthFilter
		filter.Decode(body)
		levels, status := m.match.Depth(&filter, m.matchBuffers.depth[:0])
		m.matchBuffers.depth = levels[:0]
		encoded := grow(out, len(levels)*model.DepthLevelSize)
		for i := range levels {
			levels[i].Encode(encoded[i*model.DepthLevelSize:])
		}
		return status, true
	case model.OperationGetBook:
		return m.getBook(body, out), true
	}
	return model.StatusUnknownOperation, false
}

func encodeOrderStates(found []model.OrderState, status model.Status, out *Output) model.Status {
	encoded := grow(out, len(found)*model.OrderStateSize)
	for i := range found {
		found[i].Encode(encoded[i*model.OrderStateSize:])
	}
	return status
}

// getBook answers the market-data snapshot: a BookHeader with the instrument's sequence
// and the last op applied, then the depth (bids best first, then asks best first).
func (m *Machine) getBook(body []byte, out *Output) model.Status {
	var filter model.DepthFilter
	filter.Decode(body)
	levels, status := m.match.Depth(&filter, m.matchBuffers.depth[:0])
	m.matchBuffers.depth = levels[:0]
	if status != model.StatusOK {
		return status
	}
	header := model.BookHeader{Op: m.opLast, Instrument: filter.Instrument}
	header.Sequence, _ = m.match.MarketDataSequence(filter.Instrument)
	for i := range levels {
		if levels[i].Side == model.SideBuy {
			header.BidCount++
		} else {
			header.AskCount++
		}
	}
	encoded := grow(out, (1+len(levels))*model.DepthLevelSize)
	header.Encode(encoded)
	for i := range levels {
		levels[i].Encode(encoded[(1+i)*model.DepthLevelSize:])
	}
	return model.StatusOK
}
