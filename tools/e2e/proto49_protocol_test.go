package e2e

// Session 49's protocol check (helper proto49): claims of netio/PROTOCOL.md a client
// written from the document alone codes against, that no earlier test pinned, checked
// against a real `sequent serve` with frames encoded by hand from the document (the
// docEncode client of hunt46b_protocol_test.go: no netio/wire, no netio/client).

import (
	endian "encoding/binary"
	"slices"
	"testing"
)

// Operations and statuses of sections 11 and 12 this file names (those the other hunt
// files do not).
const (
	p49OperationGetAccountBalances = 6
	p49OperationGetDepth           = 28
	p49OperationGetBook            = 29

	p49StatusReservedField            = 4
	p49StatusAccountNotFound          = 67
	p49StatusAccountHistoryNotEnabled = 68
	p49StatusInvalidFilter            = 69
	p49StatusAccountMustNotBeZero     = 122
	p49StatusInvalidFilterMatch       = 154

	// p49DepthLevelsPerSideMax is section 8a's get_book bound, "levels per side, up to
	// 4094"; p49LimitMax a filter's "limit (1 to 8189)".
	p49DepthLevelsPerSideMax = 4094
	p49LimitMax              = 8189

	p49AccountFlagHistory = 8
	p49BookHeaderBytes    = 32
)

// p49Requester numbers the requests of one connection.
type p49Requester struct {
	*docConn
	number uint64
}

// query sends a read and requires its reply to carry status, aux 0 and, refused, no body.
func (r *p49Requester) query(what string, operation byte, body []byte, status uint32) docFrame {
	r.t.Helper()
	r.number++
	reply := r.request(operation, 0, r.number, body)
	if reply.status != status || reply.aux != 0 || reply.flags != 0 ||
		(status != docStatusOK && len(reply.body) != 0) {
		r.t.Fatalf("%s: status %d aux %d flags %d body %d bytes, want status %d, aux 0",
			what, reply.status, reply.aux, reply.flags, len(reply.body), status)
	}
	return reply
}

// write sends a write and requires ok with every event's result ok.
func (r *p49Requester) write(what string, operation byte, body []byte, results int) docFrame {
	r.t.Helper()
	r.number++
	reply := r.request(operation, 0, r.number, body)
	if reply.status != docStatusOK || len(reply.body) != results*docEventResultBytes {
		r.t.Fatalf("%s: status %d body %x", what, reply.status, reply.body)
	}
	for i := range results {
		if status := eventStatus(reply.body, i); status != docStatusOK {
			r.t.Fatalf("%s: event %d status %d", what, i, status)
		}
	}
	return reply
}

// p49AccountFilter is section 10's AccountFilter: account, limit, flags, the rest zero.
func p49AccountFilter(account uint64, limit, flags uint32) []byte {
	filter := make([]byte, 128)
	endian.LittleEndian.PutUint64(filter, account)
	endian.LittleEndian.PutUint32(filter[120:], limit)
	endian.LittleEndian.PutUint32(filter[124:], flags)
	return filter
}

// p49Instrument is section 10's Instrument: id, base ledger 1, quote ledger 2, tick and
// lot 1, quantities 1 to 1000, no fee.
func p49Instrument(id uint32) []byte {
	record := make([]byte, 128)
	endian.LittleEndian.PutUint32(record, id)
	endian.LittleEndian.PutUint32(record[4:], 1)
	endian.LittleEndian.PutUint32(record[8:], 2)
	endian.LittleEndian.PutUint64(record[16:], 1)
	endian.LittleEndian.PutUint64(record[24:], 1)
	endian.LittleEndian.PutUint64(record[32:], 1)
	endian.LittleEndian.PutUint64(record[40:], 1000)
	return record
}

// TestProto49QueryFilters: the statuses of the query filters of section 10 (AccountFilter,
// OrderFilter, DepthFilter), their order, and get_book's levels. Section 6 says only "a
// query whose filter is rejected answers with a ledger status such as account_not_found
// (67), account_history_not_enabled (68) or invalid_filter (69)"; section 10 now says
// which status each check answers and in which order (a client must tell a filter it
// built wrong from an account it may not see), and that levels 0 is not "all levels"
// (section 8a's "get_book ... (all levels)" is levels 4094).
func TestProto49QueryFilters(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address)
	r := &p49Requester{docConn: docLogin(t, address, data, 4901)}
	history := docAccount(4_900_001)
	endian.LittleEndian.PutUint16(history[118:], 2|p49AccountFlagHistory)
	r.write("accounts", docOperationCreateAccounts, slices.Concat(history,
		docAccount(4_900_002)), 2)

	// AccountFilter, for get_account_transfers (5) and get_account_balances (6): reserved
	// bytes 46..103, then the flags (an undefined bit, or neither direction), the limit,
	// the time range, then the account (missing, 0, or not readable: account_not_found),
	// then (balances only) the history flag. Each refusal is built to fail the checks
	// after it as well, so that the order shows.
	for _, operation := range []byte{h48OperationGetAccountTransfers, p49OperationGetAccountBalances} {
		missing := uint64(4_900_099)
		cases := []struct {
			what   string
			filter []byte
			status uint32
		}{
			{"a reserved byte set", func() []byte {
				filter := p49AccountFilter(missing, 0, 8)
				filter[103] = 1
				return filter
			}(), p49StatusReservedField},
			{"an undefined flag bit", p49AccountFilter(missing, 0, 8|3), p49StatusInvalidFilter},
			{"no direction (reversed alone)", p49AccountFilter(missing, 0, 4), p49StatusInvalidFilter},
			{"limit 0", p49AccountFilter(missing, 0, 3), p49StatusInvalidFilter},
			{"limit 8190", p49AccountFilter(missing, p49LimitMax+1, 3), p49StatusInvalidFilter},
			{"timestamp_max below timestamp_min", func() []byte {
				filter := p49AccountFilter(missing, 1, 3)
				endian.LittleEndian.PutUint64(filter[104:], 2)
				endian.LittleEndian.PutUint64(filter[112:], 1)
				return filter
			}(), p49StatusInvalidFilter},
			{"a missing account", p49AccountFilter(missing, p49LimitMax, 3), p49StatusAccountNotFound},
			{"account 0", p49AccountFilter(0, 1, 1), p49StatusAccountNotFound},
		}
		for _, check := range cases {
			r.query(check.what, operation, check.filter, check.status)
		}
		r.query("the history account", operation, p49AccountFilter(4_900_001, 1, 2|4), docStatusOK)
		plain := docStatusOK
		if operation == p49OperationGetAccountBalances {
			plain = p49StatusAccountHistoryNotEnabled
		}
		r.query("an account without history", operation, p49AccountFilter(4_900_002, 1, 1), uint32(plain))
	}

	// OrderFilter (get_account_orders): reserved, account 0, limit, then the instrument.
	orderFilter := func(account uint64, instrument, limit uint32, reserved byte) []byte {
		filter := make([]byte, 32)
		endian.LittleEndian.PutUint64(filter, account)
		endian.LittleEndian.PutUint32(filter[16:], instrument)
		endian.LittleEndian.PutUint32(filter[20:], limit)
		filter[31] = reserved
		return filter
	}
	r.query("orders: reserved set", h48OperationGetAccountOrders, orderFilter(0, 7, 0, 1),
		p49StatusReservedField)
	r.query("orders: account 0", h48OperationGetAccountOrders, orderFilter(0, 7, 0, 0),
		p49StatusAccountMustNotBeZero)
	r.query("orders: limit 0", h48OperationGetAccountOrders, orderFilter(1, 7, 0, 0),
		p49StatusInvalidFilterMatch)
	r.query("orders: limit 8190", h48OperationGetAccountOrders, orderFilter(1, 7, p49LimitMax+1, 0),
		p49StatusInvalidFilterMatch)
	r.query("orders: a missing instrument", h48OperationGetAccountOrders,
		orderFilter(1, 7, p49LimitMax, 0), h48StatusInstrumentNotFound)
	r.query("orders: every instrument, a trading account without orders",
		h48OperationGetAccountOrders, orderFilter(1, 0, 1, 0), docStatusOK)

	// DepthFilter (get_depth, get_book): reserved, levels 1 to 4094, then the instrument.
	created := r.write("instrument 1", h48OperationCreateInstruments, p49Instrument(1), 1)
	depthFilter := func(instrument, levels uint32, reserved byte) []byte {
		filter := make([]byte, 16)
		endian.LittleEndian.PutUint32(filter, instrument)
		endian.LittleEndian.PutUint32(filter[4:], levels)
		filter[15] = reserved
		return filter
	}
	for _, operation := range []byte{p49OperationGetDepth, p49OperationGetBook} {
		r.query("depth: reserved set", operation, depthFilter(7, 0, 1), p49StatusReservedField)
		r.query("depth: levels 0", operation, depthFilter(7, 0, 0), p49StatusInvalidFilterMatch)
		r.query("depth: levels 4095", operation, depthFilter(7, p49DepthLevelsPerSideMax+1, 0),
			p49StatusInvalidFilterMatch)
		r.query("depth: a missing instrument", operation, depthFilter(7, p49DepthLevelsPerSideMax, 0),
			h48StatusInstrumentNotFound)
		r.query("depth: instrument 0", operation, depthFilter(0, 1, 0), h48StatusInstrumentNotFound)
		reply := r.query("depth: levels 4094", operation, depthFilter(1, p49DepthLevelsPerSideMax, 0),
			docStatusOK)
		want := 0 // An empty book: no level; get_book's BookHeader only.
		if operation == p49OperationGetBook {
			want = p49BookHeaderBytes
		}
		if len(reply.body) != want {
			t.Fatalf("operation %d of an empty book: %x", operation, reply.body)
		}
	}

	// BookHeader op (section 10): the op of the last request the instrument's shard
	// applied, whichever it was (an account created after the instrument moves it).
	bookOp := func(what string, write docFrame) {
		t.Helper()
		book := r.query("get_book", p49OperationGetBook, depthFilter(1, 1, 0), docStatusOK)
		if op := endian.LittleEndian.Uint64(book.body[8:]); op != write.aux {
			t.Fatalf("BookHeader op %d after %s, of op %d", op, what, write.aux)
		}
	}
	bookOp("the instrument's creation", created)
	bookOp("an account created after it", r.write("an account", docOperationCreateAccounts,
		docAccount(4_900_003), 1))

	// Instrument id events (lookup_instruments): their 4 reserved bytes are not checked.
	lookup := make([]byte, 8)
	endian.LittleEndian.PutUint32(lookup, 1)
	lookup[7] = 1
	if found := r.query("lookup_instruments, reserved bytes set", h48OperationLookupInstruments,
		lookup, docStatusOK); len(found.body) != 128 || endian.LittleEndian.Uint32(found.body) != 1 {
		t.Fatalf("lookup_instruments of 1 with reserved bytes set: %x", found.body)
	}
}

// Market-data kinds and matching records of sections 8a and 10 this file uses.
const (
	p49KindMDSubscribed   = 21
	p49KindMDUpdate       = 22
	p49ChannelsBook       = 3 // levels and trades
	p49UpdateBytes        = 128
	p49UpdateKindLevel    = 1
	p49SideSell           = 2
	p49OrderResultBytes   = 24
	p49DepthLevelBytes    = 32
	p49BookAsksFirstPrice = 1001
)

// p49Sell is a section 10 Order: a good-till-cancel limit sell of quantity 1 at price,
// paid from base account 4_900_010 into quote account 4_900_011, trading account 1.
func p49Sell(key, price uint64) []byte {
	order := make([]byte, 128)
	endian.LittleEndian.PutUint64(order, key)
	endian.LittleEndian.PutUint64(order[8:], 1)
	endian.LittleEndian.PutUint64(order[16:], 4_900_010)
	endian.LittleEndian.PutUint64(order[32:], 4_900_011)
	endian.LittleEndian.PutUint64(order[48:], price)
	endian.LittleEndian.PutUint64(order[56:], 1)
	endian.LittleEndian.PutUint32(order[96:], 1)
	order[100], order[101], order[102] = p49SideSell, 1, 1
	return order
}

// tradingSetup creates what p49Sell needs: base account 4_900_010 (ledger 1) holding
// units, funded by an issuing account, quote account 4_900_011 (ledger 2), instrument 1.
func (r *p49Requester) tradingSetup(units uint64) {
	r.t.Helper()
	issuer := docAccount(4_900_001)
	endian.LittleEndian.PutUint16(issuer[118:], 0) // May go negative: issues money.
	quote := docAccount(4_900_011)
	endian.LittleEndian.PutUint32(quote[112:], 2)
	r.write("accounts", docOperationCreateAccounts, slices.Concat(issuer,
		docAccount(4_900_010), quote), 3)
	r.write("funding", docOperationCreateTransfers,
		docTransfer(4_900_001, 4_900_001, 4_900_010, units), 1)
	r.write("instrument 1", h48OperationCreateInstruments, p49Instrument(1), 1)
}

// p49BookReader is a connection following one instrument's book by section 8a's steps,
// keeping the md_update records read while it waits for a reply.
type p49BookReader struct {
	*p49Requester
	updates [][]byte
}

// call sends a request and returns its reply, buffering the updates read before it.
func (b *p49BookReader) call(operation byte, body []byte) docFrame {
	b.t.Helper()
	b.number++
	b.docConn.write(docEncode(docKindRequest, operation, 0, b.session, b.number, body))
	for {
		frame := b.next()
		switch {
		case frame.kind == p49KindMDUpdate:
			for at := 0; at+p49UpdateBytes <= len(frame.body); at += p49UpdateBytes {
				b.updates = append(b.updates, frame.body[at:at+p49UpdateBytes])
			}
		case frame.kind == docKindReply && frame.number == b.number:
			return frame
		default:
			b.t.Fatalf("waiting for reply %d: kind %d number %d status %d", b.number,
				frame.kind, frame.number, frame.status)
		}
	}
}

// snapshot is get_book of instrument 1, all levels (4094 a side): the BookHeader's
// sequence and the asks by price (this book has no bid).
func (b *p49BookReader) snapshot() (sequence uint64, asks map[uint64]uint64) {
	b.t.Helper()
	filter := make([]byte, 16)
	endian.LittleEndian.PutUint32(filter, 1)
	endian.LittleEndian.PutUint32(filter[4:], p49DepthLevelsPerSideMax)
	reply := b.call(p49OperationGetBook, filter)
	body := reply.body
	if reply.status != docStatusOK || len(body) < p49BookHeaderBytes {
		b.t.Fatalf("get_book: status %d, %d bytes", reply.status, len(body))
	}
	bids := endian.LittleEndian.Uint32(body[20:])
	count := endian.LittleEndian.Uint32(body[24:])
	if bids != 0 || len(body) != p49BookHeaderBytes+int(count)*p49DepthLevelBytes {
		b.t.Fatalf("get_book: %d bids, %d asks in %d bytes", bids, count, len(body))
	}
	asks = make(map[uint64]uint64, count)
	for at := p49BookHeaderBytes; at < len(body); at += p49DepthLevelBytes {
		asks[endian.LittleEndian.Uint64(body[at:])] = endian.LittleEndian.Uint64(body[at+8:])
	}
	return endian.LittleEndian.Uint64(body), asks
}

// TestProto49BookDeeperThanSnapshot: section 8a, "Building a book, step by step", ended
// with "A book kept this way equals the engine's book at every sequence". get_book gives
// at most 4094 levels a side (section 10, DepthFilter), so of a side with more levels the
// snapshot holds the best 4094 and nothing in it says more exist; once the best level
// goes, the 4095th becomes part of the engine's best 4094 while the book built by the
// steps never heard of it. The text now says what the steps give (every level at a price
// up to the snapshot's worst on a side it filled, and further levels only once an update
// names them) and how a client tells (a count of 4094); this test pins both.
func TestProto49BookDeeperThanSnapshot(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address)
	r := &p49Requester{docConn: docLogin(t, address, data, 4903)}
	const orders = p49DepthLevelsPerSideMax + 1
	r.tradingSetup(orders)
	sells := make([]byte, 0, orders*128)
	for i := range uint64(orders) {
		sells = append(sells, p49Sell(i+1, p49BookAsksFirstPrice+i)...)
	}
	r.number++
	placed := r.request(h48OperationPlaceOrders, 0, r.number, sells)
	if placed.status != docStatusOK || len(placed.body) != orders*p49OrderResultBytes {
		t.Fatalf("placing %d sells: status %d, %d bytes", orders, placed.status, len(placed.body))
	}
	for i := range orders {
		if status := endian.LittleEndian.Uint32(placed.body[i*p49OrderResultBytes+16:]); status != docStatusOK {
			t.Fatalf("sell %d: status %d", i, status)
		}
	}
	best := endian.LittleEndian.Uint64(placed.body) // The order at the best ask.

	// Steps 1 to 3: subscribe (levels and trades, live), then the snapshot.
	b := &p49BookReader{p49Requester: r}
	b.docConn.write(docMarketDataSubscribe(b.session, 1, p49ChannelsBook, 0))
	if answer := b.next(); answer.kind != p49KindMDSubscribed || answer.status != docStatusOK {
		t.Fatalf("md_subscribe answered kind %d status %d", answer.kind, answer.status)
	}
	sequence, book := b.snapshot()
	worst := uint64(p49BookAsksFirstPrice + p49DepthLevelsPerSideMax - 1)
	if len(book) != p49DepthLevelsPerSideMax || book[p49BookAsksFirstPrice] != 1 ||
		book[worst] != 1 {
		t.Fatalf("snapshot of %d asks: %d levels, want the best 4094 (%d to %d)", orders,
			len(book), p49BookAsksFirstPrice, worst)
	}

	// The best ask canceled; steps 4 and 5 apply its level update.
	cancel := make([]byte, 32)
	endian.LittleEndian.PutUint64(cancel, orders+1) // client_order_id
	endian.LittleEndian.PutUint64(cancel[8:], 1)    // trading account
	endian.LittleEndian.PutUint64(cancel[16:], best)
	if reply := b.call(h48OperationCancelOrders, cancel); reply.status != docStatusOK ||
		endian.LittleEndian.Uint32(reply.body[16:]) != docStatusOK {
		t.Fatalf("cancel of the best ask: status %d body %x", reply.status, reply.body)
	}
	// Wait for an update past the snapshot (it may have come before the cancel's reply;
	// those of the placement may come live after the md_subscribe answer, section 8a's
	// live_from_op, and are at or below the snapshot's sequence).
	past := func() bool {
		return slices.ContainsFunc(b.updates, func(update []byte) bool {
			return endian.LittleEndian.Uint64(update) > sequence
		})
	}
	for !past() {
		frame := b.next()
		if frame.kind == p49KindMDUpdate {
			for at := 0; at+p49UpdateBytes <= len(frame.body); at += p49UpdateBytes {
				b.updates = append(b.updates, frame.body[at:at+p49UpdateBytes])
			}
		}
	}
	for _, update := range b.updates {
		if endian.LittleEndian.Uint64(update) <= sequence {
			continue
		}
		if update[20] != p49UpdateKindLevel || update[21] != p49SideSell ||
			endian.LittleEndian.Uint64(update) != sequence+1 {
			t.Fatalf("update %x after sequence %d: want the best ask's level", update, sequence)
		}
		sequence++
		price, quantity := endian.LittleEndian.Uint64(update[24:]), endian.LittleEndian.Uint64(update[32:])
		if quantity == 0 {
			delete(book, price)
		} else {
			book[price] = quantity
		}
	}
	if _, still := book[p49BookAsksFirstPrice]; still {
		t.Fatal("the canceled best ask's level is still in the book")
	}

	// The engine's best 4094 asks now include the 4095th price, which the book built by
	// the steps lacks; every level at a price up to the first snapshot's worst agrees.
	engineSequence, engine := b.snapshot()
	if engineSequence != sequence {
		t.Fatalf("engine at sequence %d, book at %d", engineSequence, sequence)
	}
	deeper := worst + 1
	if _, known := book[deeper]; known || engine[deeper] != 1 {
		t.Fatalf("price %d: in the book %v, in the engine's %d", deeper, known, engine[deeper])
	}
	for price, quantity := range engine {
		if price <= worst && book[price] != quantity {
			t.Fatalf("price %d: book %d, engine %d", price, book[price], quantity)
		}
	}
	if len(book) != len(engine)-1 {
		t.Fatalf("book of %d levels, engine's best %d", len(book), len(engine))
	}
}

// p49Exchange sends a request on c and reads until its reply and others more frames
// (reports or market-data updates) have come, in whichever order they come (section
// 17: "A report may come before or after the reply to the request that caused it").
func p49Exchange(c *docConn, operation byte, number uint64, body []byte, others int) (
	docFrame, []docFrame) {
	c.t.Helper()
	c.write(docEncode(docKindRequest, operation, 0, c.session, number, body))
	var reply docFrame
	var rest []docFrame
	for replied := false; !replied || len(rest) < others; {
		frame := c.next()
		if frame.kind == docKindReply {
			if replied || frame.number != number {
				c.t.Fatalf("request %d: a reply numbered %d", number, frame.number)
			}
			reply, replied = frame, true
			continue
		}
		rest = append(rest, frame)
	}
	return reply, rest
}

// p49CheckReport requires frame to be the report of sequence of the order placed with
// key (an accepted sell, section 10's ExecutionReport), for the subscription labelled 0,
// carrying c's session (section 3).
func p49CheckReport(c *docConn, frame docFrame, sequence, order, key uint64) {
	c.t.Helper()
	body := frame.body
	if frame.kind != h47KindReport || frame.aux != sequence || frame.number != 0 ||
		frame.session != c.session || frame.status != 0 || len(body) != 128 ||
		endian.LittleEndian.Uint64(body) != order || endian.LittleEndian.Uint64(body[8:]) != key ||
		endian.LittleEndian.Uint32(body[32:]) != 1 || body[40] != h47ReportKindAccepted ||
		body[41] != p49SideSell || endian.LittleEndian.Uint64(body[72:]) != 1 ||
		endian.LittleEndian.Uint64(body[80:]) != 1 || endian.LittleEndian.Uint64(body[88:]) != 0 {
		c.t.Fatalf("session %d: kind %d status %d number %d aux %d session %d body %x, want "+
			"report %d: order %d (key %d) accepted", c.session, frame.kind, frame.status,
			frame.number, frame.aux, frame.session, body, sequence, order, key)
	}
}

// p49ExpectReport reads the next frame of c, which must be the report p49CheckReport
// describes.
func p49ExpectReport(c *docConn, sequence, order, key uint64) {
	c.t.Helper()
	p49CheckReport(c, c.next(), sequence, order, key)
}

// p49ExpectSubscribed requires the subscribed answer of a subscription made with shard
// field 0: status 0, label 0, next_sequence, oldest_sequence and replayed_through.
func p49ExpectSubscribed(t *testing.T, what string, answer docFrame, next, oldest,
	replayedThrough uint64) {
	t.Helper()
	if answer.kind != docKindSubscribed || answer.status != docStatusOK || answer.number != 0 ||
		answer.aux != next || len(answer.body) != 16 ||
		endian.LittleEndian.Uint64(answer.body) != oldest ||
		endian.LittleEndian.Uint64(answer.body[8:]) != replayedThrough {
		t.Fatalf("%s: kind %d status %d number %d aux %d body %x, want subscribed, "+
			"next_sequence %d, oldest_sequence %d, replayed_through %d", what, answer.kind,
			answer.status, answer.number, answer.aux, answer.body, next, oldest, replayedThrough)
	}
}

// TestProto49ReportReplay: section 8 and section 4's subscribed frame, on a node of one
// shard. A live subscription (from_sequence 0) is answered first, next_sequence in aux,
// oldest_sequence and replayed_through 0; one from n replays the retained reports from n
// on, in order, then answers. oldest_sequence is "the oldest the server held when the
// replay began" whatever n was: 1 for n = 2 and 3, so report 1 is not sent although the
// subscribed table said "every report of the client from this one on is sent" (and
// section 8 "Every report from oldest_sequence on is sent"); the text now says "from this
// one or from from_sequence, whichever is higher". A client with no report yet asking
// from 1 gets oldest_sequence = its next sequence. Every connection of the client
// subscribed to the shard gets each report, each under its own session.
func TestProto49ReportReplay(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address)
	r := &p49Requester{docConn: docLogin(t, address, data, 4910)}
	r.tradingSetup(10)
	p49ExpectSubscribed(t, "live, no report yet", r.subscribe(0, 0), 1, 0, 0)
	early := docLogin(t, address, data, 4911)
	p49ExpectSubscribed(t, "from 1, no report yet", early.subscribe(1, 0), 1, 1, 0)
	orders := make([]uint64, 0, 4)
	place := func(key uint64, subscribers ...*docConn) {
		r.number++
		reply, reports := p49Exchange(r.docConn, h48OperationPlaceOrders, r.number,
			p49Sell(key, 100+key), 1)
		if reply.status != docStatusOK || endian.LittleEndian.Uint32(reply.body[16:]) != docStatusOK {
			t.Fatalf("sell %d: status %d body %x", key, reply.status, reply.body)
		}
		orders = append(orders, endian.LittleEndian.Uint64(reply.body))
		p49CheckReport(r.docConn, reports[0], key, orders[key-1], key)
		for _, c := range subscribers[1:] {
			p49ExpectReport(c, key, orders[key-1], key)
		}
	}
	for key := uint64(1); key <= 3; key++ {
		place(key, r.docConn, early)
	}
	// A shard retains a report just after it sent the reply (section 8): a write applied
	// after the third place makes sure that its report is retained before the replays.
	r.write("a write after the places", docOperationCreateAccounts, docAccount(4_900_020), 1)
	subscribers := []*docConn{r.docConn, early}
	for _, from := range []uint64{2, 3, 4, 9} {
		c := docLogin(t, address, data, 4920+from)
		c.sendSubscribe(from, 0)
		for sequence := from; sequence <= 3; sequence++ {
			p49ExpectReport(c, sequence, orders[sequence-1], sequence)
		}
		replayed := uint64(3)
		if from > 3 {
			replayed = 0
		}
		p49ExpectSubscribed(t, "a replay", c.next(), 4, 1, replayed)
		subscribers = append(subscribers, c)
	}
	place(4, subscribers...)
}

// p49ExpectMDSubscribed reads c's next frame: an md_subscribed with status, header number
// 0 (a node of one shard), echoing instrument, channels and from_op (section 8a), and
// returns its live_from_op (header aux).
func p49ExpectMDSubscribed(c *docConn, what string, status, instrument, channels uint32,
	fromOp uint64) uint64 {
	c.t.Helper()
	answer := c.next()
	if answer.kind != p49KindMDSubscribed || answer.status != status || answer.number != 0 ||
		len(answer.body) != 32 || endian.LittleEndian.Uint32(answer.body) != instrument ||
		endian.LittleEndian.Uint32(answer.body[4:]) != channels ||
		endian.LittleEndian.Uint64(answer.body[8:]) != fromOp {
		c.t.Fatalf("%s: kind %d status %d number %d aux %d body %x, want md_subscribed "+
			"status %d echoing %d, %d, %d", what, answer.kind, answer.status, answer.number,
			answer.aux, answer.body, status, instrument, channels, fromOp)
	}
	return answer.aux
}

// TestProto49MarketDataSubscribeAnswers: section 8a's md_subscribe on a node of one
// shard. An instrument that does not exist yet may be subscribed (status 0: the text
// said nothing of it, and now says this), and its updates come once it is created and
// traded; a channel bit above 4 is refused 206 with the request echoed and live_from_op
// 0 ("0 with any other status"); and live_from_op, "the server's newest published op +
// 1", is the op of the last update published + 1 (record offset 120).
func TestProto49MarketDataSubscribeAnswers(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address)
	r := &p49Requester{docConn: docLogin(t, address, data, 4930)}
	r.tradingSetup(10)
	r.docConn.write(docMarketDataSubscribe(r.session, 2, p49ChannelsBook, 0))
	p49ExpectMDSubscribed(r.docConn, "instrument 2, not created yet", docStatusOK, 2,
		p49ChannelsBook, 0)
	r.docConn.write(docMarketDataSubscribe(r.session, 1, 32, 0))
	if live := p49ExpectMDSubscribed(r.docConn, "an undefined channel bit", docStatusInvalidBody,
		1, 32, 0); live != 0 {
		t.Fatalf("a refused md_subscribe carries live_from_op %d, want 0", live)
	}
	r.write("instrument 2", h48OperationCreateInstruments, p49Instrument(2), 1)
	sell := p49Sell(1, 101)
	endian.LittleEndian.PutUint32(sell[96:], 2)
	r.number++
	reply, updates := p49Exchange(r.docConn, h48OperationPlaceOrders, r.number, sell, 1)
	if reply.status != docStatusOK || endian.LittleEndian.Uint32(reply.body[16:]) != docStatusOK {
		t.Fatalf("sell on instrument 2: status %d body %x", reply.status, reply.body)
	}
	update := updates[0]
	if update.kind != p49KindMDUpdate || len(update.body) != p49UpdateBytes ||
		endian.LittleEndian.Uint64(update.body) != 1 ||
		endian.LittleEndian.Uint32(update.body[16:]) != 2 || update.body[20] != p49UpdateKindLevel ||
		endian.LittleEndian.Uint64(update.body[24:]) != 101 {
		t.Fatalf("after the sell: kind %d body %x, want instrument 2's first level update",
			update.kind, update.body)
	}
	op := endian.LittleEndian.Uint64(update.body[120:])
	other := docLogin(t, address, data, 4931)
	other.write(docMarketDataSubscribe(other.session, 1, p49ChannelsBook, 0))
	if live := p49ExpectMDSubscribed(other, "instrument 1, live", docStatusOK, 1,
		p49ChannelsBook, 0); live != op+1 {
		t.Fatalf("live_from_op %d after an update of op %d, want %d", live, op, op+1)
	}
}

// Report kinds, statuses and login options of sections 4, 10 and 12 the next test uses.
const (
	p49OptionCancelOnDisconnect  = 1
	p49ReportKindRejected        = 2
	p49ReportKindCanceled        = 4
	p49StatusCanceledDisconnect  = 172
	p49StatusPriceMustNotBeZero  = 127
	p49PermissionsAll            = 15
	p49LoginAcceptedOptionsField = 12
)

// p49Report is the fields of section 10's ExecutionReport the next test reads.
type p49Report struct {
	order, key, client, account                   uint64
	instrument, status                            uint32
	kind, side, liquidity, orderType              byte
	price, quantity, leaves, filled, tradeID, fee uint64
}

func p49DecodeReport(body []byte) p49Report {
	return p49Report{order: endian.LittleEndian.Uint64(body),
		key: endian.LittleEndian.Uint64(body[8:]), client: endian.LittleEndian.Uint64(body[16:]),
		account: endian.LittleEndian.Uint64(body[24:]), instrument: endian.LittleEndian.Uint32(body[32:]),
		status: endian.LittleEndian.Uint32(body[36:]), kind: body[40], side: body[41],
		liquidity: body[42], orderType: body[43], tradeID: endian.LittleEndian.Uint64(body[48:]),
		price: endian.LittleEndian.Uint64(body[64:]), quantity: endian.LittleEndian.Uint64(body[72:]),
		leaves: endian.LittleEndian.Uint64(body[80:]), filled: endian.LittleEndian.Uint64(body[88:]),
		fee: endian.LittleEndian.Uint64(body[96:]) | endian.LittleEndian.Uint64(body[104:])}
}

// TestProto49CancelOnDisconnectReports: section 5, cancel-on-disconnect, end to end: a
// login with option bit 0 (login_accepted echoes it, with every permission for the
// development key); "every order of the client (whichever session placed it)" is
// canceled when that connection ends with a logout, each with a canceled report of
// status canceled_disconnect (172); "A client that has read the answering logout ... and
// then logs in again finds the cancel queued ahead of anything it sends on the new
// connection" (get_account_orders right after the login lists none). And section 10's
// ExecutionReport fields of the kinds the text left open, now stated: a canceled report
// carries the order's price, its total quantity, the quantity it left open when it was
// canceled as leaves_quantity (not 0) and its filled quantity; a rejected report carries
// the refused command's key, account and instrument, the status, and zero in every
// field that describes an order (order_id among them for a refused place).
func TestProto49CancelOnDisconnectReports(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address)
	client, key, secret := credentials(t, data)
	r := &p49Requester{docConn: docLogin(t, address, data, 4960)}
	r.tradingSetup(10)
	const session = 4961
	conn, challenge := h48Dial(t, address, session)
	conn.write(docEncode(docKindLogin, 0, 0, session, 0, h48LoginBody(challenge.body, client,
		key, p49OptionCancelOnDisconnect, secret, session)))
	accepted := conn.next()
	if accepted.kind != docKindLoginAccepted || accepted.session != session ||
		endian.LittleEndian.Uint64(accepted.body) != client ||
		endian.LittleEndian.Uint32(accepted.body[8:]) != p49PermissionsAll ||
		endian.LittleEndian.Uint32(accepted.body[p49LoginAcceptedOptionsField:]) != p49OptionCancelOnDisconnect ||
		endian.LittleEndian.Uint64(accepted.body[24:]) != 0 {
		t.Fatalf("login with cancel-on-disconnect: kind %d session %d body %x", accepted.kind,
			accepted.session, accepted.body)
	}
	cancelling := &p49Requester{docConn: conn}
	orders := map[uint64]uint64{} // order id -> its key (and price - 100)
	for i, placer := range []*p49Requester{cancelling, r} {
		placer.number++
		key := uint64(i + 1)
		reply := placer.request(h48OperationPlaceOrders, 0, placer.number, p49Sell(key, 100+key))
		if reply.status != docStatusOK || endian.LittleEndian.Uint32(reply.body[16:]) != docStatusOK {
			t.Fatalf("sell %d: status %d body %x", key, reply.status, reply.body)
		}
		orders[endian.LittleEndian.Uint64(reply.body)] = key
	}
	refused := p49Sell(3, 0)
	r.number++
	reply := r.request(h48OperationPlaceOrders, 0, r.number, refused)
	if reply.status != docStatusOK || endian.LittleEndian.Uint32(reply.body[16:]) != p49StatusPriceMustNotBeZero ||
		endian.LittleEndian.Uint64(reply.body) != 0 {
		t.Fatalf("a sell at price 0: status %d body %x, want price_must_not_be_zero, order 0",
			reply.status, reply.body)
	}
	conn.write(docEncode(h48KindLogout, 0, 0, session, 0, nil))
	if answer := conn.next(); answer.kind != h48KindLogout {
		t.Fatalf("logout answered kind %d", answer.kind)
	}

	after := docLogin(t, address, data, 4962)
	filter := make([]byte, 32)
	endian.LittleEndian.PutUint64(filter, 1)       // trading account
	endian.LittleEndian.PutUint32(filter[20:], 10) // limit
	if open := after.request(h48OperationGetAccountOrders, 0, 1, filter); open.status != docStatusOK ||
		len(open.body) != 0 {
		t.Fatalf("open orders right after the logout: status %d body %x, want none",
			open.status, open.body)
	}
	after.sendSubscribe(1, 0)
	canceled := map[uint64]bool{}
	// Five reports, in sequence order, replayed before the subscribed answer or (those
	// retained after the replay began) live after it.
	subscribed := false
	for sequence := uint64(1); sequence <= 5; sequence++ {
		frame := after.next()
		if frame.kind == docKindSubscribed && !subscribed {
			if frame.status != docStatusOK || frame.aux > sequence {
				t.Fatalf("subscribed: status %d next_sequence %d after %d reports",
					frame.status, frame.aux, sequence-1)
			}
			subscribed = true
			frame = after.next()
		}
		if frame.kind != h47KindReport || frame.aux != sequence {
			t.Fatalf("frame kind %d aux %d, want report %d", frame.kind, frame.aux, sequence)
		}
		report := p49DecodeReport(frame.body)
		common := report.client == client && report.account == 1 && report.instrument == 1
		switch sequence {
		case 1, 2:
			if !common || report.kind != h47ReportKindAccepted || orders[report.order] != sequence {
				t.Fatalf("report %d: %+v, want sell %d accepted", sequence, report, sequence)
			}
		case 3:
			if !common || report != (p49Report{key: 3, client: client, account: 1, instrument: 1,
				status: p49StatusPriceMustNotBeZero, kind: p49ReportKindRejected}) {
				t.Fatalf("report 3: %+v, want the refused sell's rejection, order fields 0", report)
			}
		default:
			key := orders[report.order]
			if !common || key == 0 || canceled[report.order] || report.kind != p49ReportKindCanceled ||
				report.status != p49StatusCanceledDisconnect || report.key != key ||
				report.side != p49SideSell || report.orderType != 1 || report.price != 100+key ||
				report.quantity != 1 || report.leaves != 1 || report.filled != 0 ||
				report.tradeID != 0 || report.fee != 0 || report.liquidity != 0 {
				t.Fatalf("report %d: %+v, want a canceled_disconnect of an open sell", sequence,
					report)
			}
			canceled[report.order] = true
		}
	}
	if !subscribed {
		if frame := after.next(); frame.kind != docKindSubscribed || frame.aux != 6 {
			t.Fatalf("after 5 reports: kind %d aux %d, want subscribed, next_sequence 6",
				frame.kind, frame.aux)
		}
	}

	// Rejected reports of a cancel and a replace: a cancel naming a missing order by id
	// carries that id and instrument 0; a replace of an open order refused for its price
	// carries the order and its instrument.
	placed, reports := p49Exchange(after, h48OperationPlaceOrders, 2, p49Sell(4, 104), 1)
	order := endian.LittleEndian.Uint64(placed.body)
	if placed.status != docStatusOK || endian.LittleEndian.Uint32(placed.body[16:]) != docStatusOK {
		t.Fatalf("sell 4: status %d body %x", placed.status, placed.body)
	}
	if report := p49DecodeReport(reports[0].body); reports[0].kind != h47KindReport ||
		report.kind != h47ReportKindAccepted || report.order != order {
		t.Fatalf("after sell 4: %+v, want its accepted report", report)
	}
	cancel := make([]byte, 32)
	endian.LittleEndian.PutUint64(cancel, 5)          // client_order_id
	endian.LittleEndian.PutUint64(cancel[8:], 1)      // trading account
	endian.LittleEndian.PutUint64(cancel[16:], 4_999) // order_id: none such
	replace := make([]byte, 64)
	endian.LittleEndian.PutUint64(replace, 6)
	endian.LittleEndian.PutUint64(replace[8:], 1)
	endian.LittleEndian.PutUint64(replace[16:], order)
	endian.LittleEndian.PutUint64(replace[40:], 1) // quantity; price 0
	for _, refusal := range []struct {
		what       string
		operation  byte
		body       []byte
		status     uint32
		key, order uint64
		instrument uint32
	}{
		{"a cancel of a missing order", h48OperationCancelOrders, cancel, 152, 5, 4_999, 0},
		{"a replace at price 0", h48OperationReplaceOrders, replace, p49StatusPriceMustNotBeZero, 6,
			order, 1},
	} {
		reply, reports := p49Exchange(after, refusal.operation, refusal.key-2, refusal.body, 1)
		if reply.status != docStatusOK || endian.LittleEndian.Uint32(reply.body[16:]) != refusal.status {
			t.Fatalf("%s: status %d body %x", refusal.what, reply.status, reply.body)
		}
		report := p49DecodeReport(reports[0].body)
		if report != (p49Report{order: refusal.order, key: refusal.key, client: client, account: 1,
			instrument: refusal.instrument, status: refusal.status, kind: p49ReportKindRejected}) {
			t.Fatalf("%s: report %+v", refusal.what, report)
		}
	}
}

// p49ChannelTop is section 8a's channel bit 2, top of book.
const p49ChannelTop = 4

// TestProto49MarketDataTopChannel: section 8a, "`top` sends the updates that change the
// best bid or ask (price or quantity) from what this connection was last sent for the
// instrument". With channels 4 alone: a first ask is sent (sequence 1), an ask behind it
// is not (sequence 2: the top is unchanged), a second order at the best price is (its
// quantity changed: sequence 3 follows 1), and each carries the top after it (record
// offsets 88 and 96).
func TestProto49MarketDataTopChannel(t *testing.T) {
	data := t.TempDir()
	address := freePort(t)
	startServer(t, data, address)
	r := &p49Requester{docConn: docLogin(t, address, data, 4980)}
	r.tradingSetup(10)
	r.docConn.write(docMarketDataSubscribe(r.session, 1, p49ChannelTop, 0))
	p49ExpectMDSubscribed(r.docConn, "top of instrument 1", docStatusOK, 1, p49ChannelTop, 0)
	type top struct{ sequence, askPrice, askQuantity uint64 }
	var seen []top
	for key, price := range []uint64{101, 105, 101} {
		r.number++
		others := 1
		if key == 1 {
			others = 0 // The top did not change: nothing is sent.
		}
		reply, updates := p49Exchange(r.docConn, h48OperationPlaceOrders, r.number,
			p49Sell(uint64(key+1), price), others)
		if reply.status != docStatusOK || endian.LittleEndian.Uint32(reply.body[16:]) != docStatusOK {
			t.Fatalf("sell %d at %d: status %d body %x", key+1, price, reply.status, reply.body)
		}
		for _, frame := range updates {
			if frame.kind != p49KindMDUpdate || len(frame.body) != p49UpdateBytes {
				t.Fatalf("after sell %d: kind %d, %d bytes", key+1, frame.kind, len(frame.body))
			}
			seen = append(seen, top{endian.LittleEndian.Uint64(frame.body),
				endian.LittleEndian.Uint64(frame.body[88:]), endian.LittleEndian.Uint64(frame.body[96:])})
		}
	}
	if want := []top{{1, 101, 1}, {3, 101, 2}}; !slices.Equal(seen, want) {
		t.Fatalf("top-of-book updates %v, want %v", seen, want)
	}
}
