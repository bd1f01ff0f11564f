package netio_test

// Conformance tests of session 52: each checks promises of netio/PROTOCOL.md (quoted by
// section) from the bytes a client sees on a loopback connection, for what was added
// since the audits of sessions 34 and 36: market data (section 8a), the matching,
// clearing and risk rule records (section 10) and their filters' order of checks. Every
// record is encoded and decoded here by hand from the document's offsets
// (encoding/binary), never with package model's or wire's record codecs, so that a
// layout the document gets wrong fails here as it would fail an independent client.
// Header fields are read through the test connection's frame decoder, which sections 3
// and 4 are checked against by conformance_s34_test.go. Status and op numbers are the
// document's literals, or read from its table of statuses (section 12).
//
// The audit found no server bug. It found the document wrong or silent in four places,
// settled in the document: live_from_op is the op of the newest update published + 1,
// not the log's newest op + 1 (TestConformanceMarketDataFromTheDocument); OrderState
// shows the values in effect, self_trade 1 and a limit buy's price for the 0s sent
// (TestConformanceOrderStateValuesInEffect); section 15 said limits and
// allowed_networks were enforced "once [admission controls] are enabled", while the
// server always enforces them at login (TestConformanceKeysFileExample); the
// Instrument's fee accounts had no rule (TestConformanceInstrumentFeeAccounts).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core"

	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/wire"
	"sequent/wal"
)

// Ledgers, accounts and the instrument of the market the tests of this file build.
const (
	s52BaseLedger  = 1
	s52QuoteLedger = 2
	s52Instrument  = 7
	s52BaseIssuer  = 10 // May go negative: issues the base units.
	s52QuoteIssuer = 20
	s52SellerBase  = 11
	s52SellerQuote = 21
	s52BuyerBase   = 12
	s52BuyerQuote  = 22
	s52Session     = 52
)

// s52Account is section 10's Account: id u128 at 0, ledger u32 at 112, code u16 at 116,
// flags u16 at 118, everything else 0 when creating.
func s52Account(id uint64, ledger uint32, flags uint16) []byte {
	b := make([]byte, 128)
	binary.LittleEndian.PutUint64(b[0:], id)
	binary.LittleEndian.PutUint32(b[112:], ledger)
	binary.LittleEndian.PutUint16(b[116:], 1)
	binary.LittleEndian.PutUint16(b[118:], flags)
	return b
}

// s52Transfer is section 10's Transfer: id at 0, debit at 16, credit at 32, amount at 48
// (u128 each), ledger u32 at 112, code u16 at 116.
func s52Transfer(id, debit, credit, amount uint64, ledger uint32) []byte {
	b := make([]byte, 128)
	binary.LittleEndian.PutUint64(b[0:], id)
	binary.LittleEndian.PutUint64(b[16:], debit)
	binary.LittleEndian.PutUint64(b[32:], credit)
	binary.LittleEndian.PutUint64(b[48:], amount)
	binary.LittleEndian.PutUint32(b[112:], ledger)
	binary.LittleEndian.PutUint16(b[116:], 1)
	return b
}

// s52Order is section 10's Order, a limit good-till-cancel order.
func s52Order(clientOrderID, account, base, quote, price, quantity uint64, side uint8) []byte {
	b := make([]byte, 128)
	binary.LittleEndian.PutUint64(b[0:], clientOrderID)
	binary.LittleEndian.PutUint64(b[8:], account)
	binary.LittleEndian.PutUint64(b[16:], base)
	binary.LittleEndian.PutUint64(b[32:], quote)
	binary.LittleEndian.PutUint64(b[48:], price)
	binary.LittleEndian.PutUint64(b[56:], quantity)
	binary.LittleEndian.PutUint32(b[96:], s52Instrument)
	b[100] = side
	b[101] = 1 // limit
	b[102] = 1 // good-till-cancel
	return b
}

// s52Subscribe is an md_subscribe frame (section 8a: instrument u32 at 0, channels u32
// at 4, from_op u64 at 8).
func s52Subscribe(instrument, channels uint32, fromOp uint64) []byte {
	body := make([]byte, 16)
	binary.LittleEndian.PutUint32(body[0:], instrument)
	binary.LittleEndian.PutUint32(body[4:], channels)
	binary.LittleEndian.PutUint64(body[8:], fromOp)
	return rawFrame(20, 0, 0, 0, s52Session, 0, 0, 0, body)
}

// s52Update is section 10's MarketDataUpdate as a client decodes it.
type s52Update struct {
	sequence, timestamp            uint64
	instrument                     uint32
	kind, side                     uint8
	shard                          uint16
	price, quantity                uint64
	orderCount, reserved           uint32
	tradeID                        uint64
	bidPrice, bidQuantity          uint64
	askPrice, askQuantity          uint64
	bidOrderCount, askOrderCount   uint32
	op                             uint64
	quantityHigh, bidHigh, askHigh uint64 // The u128s' high halves: 0 here.
}

func s52DecodeUpdate(b []byte) s52Update {
	le := binary.LittleEndian
	return s52Update{sequence: le.Uint64(b[0:]), timestamp: le.Uint64(b[8:]),
		instrument: le.Uint32(b[16:]), kind: b[20], side: b[21], shard: le.Uint16(b[22:]),
		price: le.Uint64(b[24:]), quantity: le.Uint64(b[32:]), quantityHigh: le.Uint64(b[40:]),
		orderCount: le.Uint32(b[48:]), reserved: le.Uint32(b[52:]), tradeID: le.Uint64(b[56:]),
		bidPrice: le.Uint64(b[64:]), bidQuantity: le.Uint64(b[72:]), bidHigh: le.Uint64(b[80:]),
		askPrice: le.Uint64(b[88:]), askQuantity: le.Uint64(b[96:]), askHigh: le.Uint64(b[104:]),
		bidOrderCount: le.Uint32(b[112:]), askOrderCount: le.Uint32(b[116:]),
		op: le.Uint64(b[120:])}
}

// s52Answer is an md_subscribed body (section 8a) and the header fields it uses.
type s52Answer struct {
	status                              uint32
	shard                               uint64 // Header number.
	liveFromOp                          uint64 // Header aux.
	instrument, channels                uint32
	fromOp, oldestOp, replayedThroughOp uint64
}

// s52UntilAnswer reads md_update frames until an md_subscribed, returning the updates
// and the answer, each frame checked against section 8a's sizes.
func s52UntilAnswer(t *testing.T, c *rawConn) ([]s52Update, s52Answer) {
	t.Helper()
	var updates []s52Update
	for {
		frame := c.next()
		switch frame.Kind {
		case 22: // md_update: 1 to 128 records of 128 bytes.
			if len(frame.Body) < 128 || len(frame.Body) > 16384 || len(frame.Body)%128 != 0 {
				t.Fatalf("md_update of %d bytes", len(frame.Body))
			}
			for at := 0; at < len(frame.Body); at += 128 {
				updates = append(updates, s52DecodeUpdate(frame.Body[at:]))
			}
		case 21:
			if len(frame.Body) != 32 {
				t.Fatalf("md_subscribed of %d bytes, want 32", len(frame.Body))
			}
			le := binary.LittleEndian
			return updates, s52Answer{status: frame.Status, shard: frame.Number,
				liveFromOp: frame.Aux, instrument: le.Uint32(frame.Body[0:]),
				channels: le.Uint32(frame.Body[4:]), fromOp: le.Uint64(frame.Body[8:]),
				oldestOp: le.Uint64(frame.Body[16:]), replayedThroughOp: le.Uint64(frame.Body[24:])}
		default:
			t.Fatalf("%s frame while waiting for md_subscribed", frame.Kind)
		}
	}
}

// s52Market is a server in front of a real shard, and a connection of client 1, which
// holds the operator scope (section 15) so that it may issue money, with a funded seller
// and buyer (trading accounts 1 and 2 of the same client: section 10, self-trade
// prevention applies within one trading account only) and instrument 7.
type s52Market struct {
	server *netio.Server
	shard  *shard.Shard
	c      *rawConn
	number uint64
}

func newS52Market(t *testing.T) *s52Market {
	t.Helper()
	file := testKeysFile()
	file.Clients[0].Grants = []netio.KeysFileGrant{{Scopes: []string{"operator"}}}
	keys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	log, err := wal.Open(wal.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := shard.New(shard.Config{PulseInterval: time.Hour, Logger: testLogger()},
		core.New(core.Config{RulesVersion: core.RulesVersionCurrent}), log)
	if err != nil {
		t.Fatal(err)
	}
	server, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys,
		Logger: testLogger()}, s)
	if err != nil {
		t.Fatal(err)
	}
	s.AddConsumer(server.MarketDataOf(0), nil) // As the server command does.
	s.Start(shard.RepliesOnly(server))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("shard close: %v", err)
		}
		if err := log.Close(); err != nil {
			t.Errorf("log close: %v", err)
		}
	})
	// The grants are logged before any request, as the server command does at start.
	if err := s.SetGrants(keys.GrantsBody()); err != nil {
		t.Fatal(err)
	}
	m := &s52Market{server: server, shard: s, c: dialRaw(t, server.Address())}
	m.c.login(clientAll, 1, secretOne, s52Session)
	accounts := append(s52Account(s52BaseIssuer, s52BaseLedger, 0),
		s52Account(s52QuoteIssuer, s52QuoteLedger, 0)...)
	for _, id := range []uint64{s52SellerBase, s52BuyerBase} {
		accounts = append(accounts, s52Account(id, s52BaseLedger, 2)...)
	}
	for _, id := range []uint64{s52SellerQuote, s52BuyerQuote} {
		accounts = append(accounts, s52Account(id, s52QuoteLedger, 2)...)
	}
	m.expectCreated(t, "accounts", 1, accounts, 16)
	m.expectCreated(t, "funding", 2, append(
		s52Transfer(1, s52BaseIssuer, s52SellerBase, 1000, s52BaseLedger),
		s52Transfer(2, s52QuoteIssuer, s52BuyerQuote, 100000, s52QuoteLedger)...), 16)
	// Section 10's Instrument: id at 0, ledgers at 4 and 8, tick at 16, lot at 24,
	// quantity min and max at 32 and 40; no fees, so no fee accounts.
	instrument := make([]byte, 128)
	binary.LittleEndian.PutUint32(instrument[0:], s52Instrument)
	binary.LittleEndian.PutUint32(instrument[4:], s52BaseLedger)
	binary.LittleEndian.PutUint32(instrument[8:], s52QuoteLedger)
	binary.LittleEndian.PutUint64(instrument[16:], 1)
	binary.LittleEndian.PutUint64(instrument[24:], 1)
	binary.LittleEndian.PutUint64(instrument[32:], 1)
	binary.LittleEndian.PutUint64(instrument[40:], 1000000)
	m.expectCreated(t, "instrument", 20, instrument, 16)
	return m
}

// request sends one request with the next number and returns its reply.
func (m *s52Market) request(operation model.Operation, body []byte) wire.Frame {
	m.number++
	return m.c.roundTripOn(s52Session, m.number, operation, body)
}

// expectCreated sends a write whose every result (resultSize bytes, status u32 at 8 in
// each: section 10, EventResult and OrderResult at 16) must be 0, and returns the reply.
func (m *s52Market) expectCreated(t *testing.T, what string, operation model.Operation,
	body []byte, resultSize int) wire.Frame {
	t.Helper()
	reply := m.request(operation, body)
	if reply.Status != 0 {
		t.Fatalf("%s: request status %d", what, reply.Status)
	}
	statusAt := 8
	if resultSize == 24 {
		statusAt = 16
	}
	for at := 0; at+resultSize <= len(reply.Body); at += resultSize {
		if status := binary.LittleEndian.Uint32(reply.Body[at+statusAt:]); status != 0 {
			t.Fatalf("%s: result %d status %d", what, at/resultSize, status)
		}
	}
	if len(reply.Body) == 0 {
		t.Fatalf("%s: no results", what)
	}
	return reply
}

// place sends one place_orders request whose every event must be placed and reads
// until its reply, collecting the md_update records that come before it (section 17:
// frames arrive interleaved, an update may overtake the reply to the request that
// caused it).
func (m *s52Market) place(t *testing.T, orders []byte, events int,
	updates *[]s52Update) wire.Frame {
	t.Helper()
	m.number++
	m.c.write(rawFrame(wire.KindRequest, 21, 0, 0, s52Session, m.number, 0, 0, orders))
	for {
		frame := m.c.next()
		if frame.Kind == wire.KindReply {
			if frame.Status != 0 || len(frame.Body) != 24*events {
				t.Fatalf("place: status %d, %d bytes", frame.Status, len(frame.Body))
			}
			for at := 0; at < len(frame.Body); at += 24 {
				if status := binary.LittleEndian.Uint32(frame.Body[at+16:]); status != 0 {
					t.Fatalf("place: order %d status %d", at/24, status)
				}
			}
			return frame
		}
		s52AppendUpdates(t, frame, updates)
	}
}

// collectUpdates reads md_update frames until updates holds count records.
func (m *s52Market) collectUpdates(t *testing.T, count int, updates *[]s52Update) {
	t.Helper()
	for len(*updates) < count {
		s52AppendUpdates(t, m.c.next(), updates)
	}
}

// s52AppendUpdates checks that frame is an md_update of 1 to 128 whole records
// (section 8a) and appends them.
func s52AppendUpdates(t *testing.T, frame wire.Frame, updates *[]s52Update) {
	t.Helper()
	if frame.Kind != 22 || len(frame.Body) < 128 || len(frame.Body) > 128*128 ||
		len(frame.Body)%128 != 0 {
		t.Fatalf("%s frame of %d bytes, want an md_update of 1 to 128 records", frame.Kind,
			len(frame.Body))
	}
	for at := 0; at < len(frame.Body); at += 128 {
		*updates = append(*updates, s52DecodeUpdate(frame.Body[at:]))
	}
}

// TestConformanceMarketDataFromTheDocument: section 8a and section 10's
// MarketDataUpdate, BookHeader, DepthLevel and OrderState, read from the bytes. An
// md_subscribe of instrument 7 (channels levels, trades and top) is answered by a 32-byte
// md_subscribed echoing it, with status 0, header number 0 (one shard) and
// live_from_op (aux) the op of the newest update published + 1 (1: none was, though the
// log holds four entries); a resting sell publishes one level update
// (sequence 1, the op the place's reply carries in aux, the top of book after it); a
// buy that trades against it publishes a trade (side: the taker's) and the level's new
// absolute quantity, sequences 2 and 3; get_book answers a BookHeader at sequence 3
// then the one ask level; get_account_orders the resting order's state, whose
// self_trade reads 1 for an order placed with 0 (the default, cancel newest: section 10
// as worded since this audit). A second
// connection resuming from the first update's op is replayed the three updates before
// its answer, whose replayed_through_op is the last one's op. And "Resuming past the
// server's log": from_op newest op + 1 is answered 0, or 230 with channel bit 4
// (from_op_read); newest op + 2 is 230 either way.
func TestConformanceMarketDataFromTheDocument(t *testing.T) {
	m := newS52Market(t)
	le := binary.LittleEndian
	const channels = 1 | 2 | 4 // levels, trades, top
	m.c.write(s52Subscribe(s52Instrument, channels, 0))
	replayed, answer := s52UntilAnswer(t, m.c)
	if len(replayed) != 0 || answer.status != 0 || answer.shard != 0 ||
		answer.instrument != s52Instrument || answer.channels != channels ||
		answer.fromOp != 0 || answer.replayedThroughOp != 0 || answer.liveFromOp != 1 {
		// Ops 1 to 4 (the grants, the accounts, the funding and the instrument) published
		// no update: live_from_op is the op of the newest update published + 1, not the
		// log's newest op + 1 (section 8a, as worded since this audit).
		t.Fatalf("live subscription: %d updates, answer %+v; want none, status 0, "+
			"shard 0, the request echoed, replayed_through_op 0, live_from_op 1",
			len(replayed), answer)
	}

	var published []s52Update
	sell := m.place(t, s52Order(1, 1, s52SellerBase, s52SellerQuote, 100, 10, 2), 1,
		&published)
	sellOp := sell.Aux
	sellOrderID := le.Uint64(sell.Body[0:])
	m.collectUpdates(t, 1, &published)
	if len(published) != 1 {
		t.Fatalf("the sell published %d updates, want one", len(published))
	}
	level := published[0]
	want := s52Update{sequence: 1, timestamp: level.timestamp, instrument: s52Instrument,
		kind: 1, side: 2, price: 100, quantity: 10, orderCount: 1, askPrice: 100,
		askQuantity: 10, askOrderCount: 1, op: sellOp}
	if level != want || level.timestamp == 0 || sellOp != 5 {
		t.Fatalf("the sell's update %+v (op in the reply %d), want %+v", level, sellOp, want)
	}

	buy := m.place(t, s52Order(2, 2, s52BuyerBase, s52BuyerQuote, 100, 4, 1), 1, &published)
	m.collectUpdates(t, 3, &published)
	updates := published[1:]
	if len(updates) != 2 {
		t.Fatalf("the buy published %d updates, want a trade and a level", len(updates))
	}
	trade, after := updates[0], updates[1]
	if trade.kind != 2 {
		trade, after = after, trade
	}
	if trade.sequence+after.sequence != 2+3 || trade.kind != 2 || trade.side != 1 ||
		trade.price != 100 || trade.quantity != 4 || trade.tradeID == 0 ||
		trade.op != buy.Aux || trade.instrument != s52Instrument {
		t.Fatalf("trade update %+v (buy op %d): want kind 2, the taker's side 1, price 100, "+
			"quantity 4, a trade id, the buy's op", trade, buy.Aux)
	}
	want = s52Update{sequence: after.sequence, timestamp: after.timestamp,
		instrument: s52Instrument, kind: 1, side: 2, price: 100, quantity: 6, orderCount: 1,
		askPrice: 100, askQuantity: 6, askOrderCount: 1, op: buy.Aux}
	if after != want || updates[0].sequence != 2 || updates[1].sequence != 3 {
		t.Fatalf("updates of the buy %+v, want sequences 2 and 3 in order, and the level "+
			"%+v", updates, want)
	}

	// get_book (29): DepthFilter instrument u32 at 0, levels u32 at 4.
	filter := make([]byte, 16)
	le.PutUint32(filter[0:], s52Instrument)
	le.PutUint32(filter[4:], 10)
	book := m.request(29, filter)
	if book.Status != 0 || len(book.Body) != 64 {
		t.Fatalf("get_book: status %d, %d bytes, want a BookHeader and one level",
			book.Status, len(book.Body))
	}
	header, ask := book.Body[:32], book.Body[32:]
	if le.Uint64(header[0:]) != 3 || le.Uint64(header[8:]) != buy.Aux ||
		le.Uint32(header[16:]) != s52Instrument || le.Uint32(header[20:]) != 0 ||
		le.Uint32(header[24:]) != 1 || le.Uint32(header[28:]) != 0 {
		t.Fatalf("BookHeader % x: want sequence 3, op %d, instrument 7, 0 bids, 1 ask",
			header, buy.Aux)
	}
	if le.Uint64(ask[0:]) != 100 || le.Uint64(ask[8:]) != 6 || le.Uint64(ask[16:]) != 0 ||
		le.Uint32(ask[24:]) != 1 || ask[28] != 2 || ask[29]|ask[30]|ask[31] != 0 {
		t.Fatalf("DepthLevel % x: want price 100, quantity 6, 1 order, side 2", ask)
	}

	// get_depth (28): the same DepthFilter; its results are the DepthLevels alone.
	if depth := m.request(28, filter); depth.Status != 0 || !bytes.Equal(depth.Body, ask) {
		t.Fatalf("get_depth: status %d, % x; want the one ask level % x", depth.Status,
			depth.Body, ask)
	}

	// get_account_orders (27): OrderFilter account u64 at 0, limit u32 at 20.
	orders := make([]byte, 32)
	le.PutUint64(orders[0:], 1)
	le.PutUint32(orders[20:], 10)
	open := m.request(27, orders)
	if open.Status != 0 || len(open.Body) != 128 {
		t.Fatalf("get_account_orders: status %d, %d bytes, want one OrderState",
			open.Status, len(open.Body))
	}
	state := open.Body
	if le.Uint64(state[0:]) != sellOrderID || le.Uint64(state[8:]) != 1 ||
		le.Uint64(state[16:]) != clientAll || le.Uint64(state[24:]) != 1 ||
		le.Uint64(state[32:]) != s52SellerBase || le.Uint64(state[48:]) != s52SellerQuote ||
		le.Uint64(state[64:]) != 100 || le.Uint64(state[72:]) != 10 ||
		le.Uint64(state[80:]) != 6 || le.Uint64(state[88:]) != 4 ||
		le.Uint64(state[96:]) != 0 || le.Uint64(state[104:]) != 0 ||
		le.Uint32(state[112:]) != s52Instrument || state[116] != 2 || state[117] != 1 ||
		state[118] != 1 || state[119] != 1 || le.Uint64(state[120:]) == 0 {
		t.Fatalf("OrderState % x: want order %d, client order id 1, client 1, account 1, "+
			"accounts 11 and 21, price 100, quantity 10, leaves 6, filled 4, sell limit GTC, "+
			"self-trade 1 (placed with 0, the default: cancel newest)",
			state, sellOrderID)
	}

	// Resuming on another connection from the first update's op.
	other := dialRaw(t, m.server.Address())
	other.login(clientAll, 1, secretOne, s52Session+1)
	frameOf := func(instrument, channels uint32, fromOp uint64) []byte {
		frame := s52Subscribe(instrument, channels, fromOp)
		binary.LittleEndian.PutUint64(frame[16:], s52Session+1)
		return reseal(frame)
	}
	other.write(frameOf(s52Instrument, 3, sellOp))
	replayed, answer = s52UntilAnswer(t, other)
	if len(replayed) != 3 || replayed[0] != level || answer.status != 0 ||
		answer.replayedThroughOp != buy.Aux || answer.oldestOp > sellOp ||
		answer.liveFromOp != buy.Aux+1 || answer.fromOp != sellOp || answer.channels != 3 {
		t.Fatalf("resumption from op %d: %d updates replayed, answer %+v; want the 3 "+
			"updates, status 0, replayed_through_op %d, oldest_op at most %d, "+
			"live_from_op %d", sellOp, len(replayed), answer, buy.Aux, sellOp, buy.Aux+1)
	}
	newest := buy.Aux
	for _, c := range []struct {
		channels uint32
		fromOp   uint64
		status   uint32
	}{
		{3, newest + 1, 0}, {3 | 16, newest + 1, 230}, {3, newest + 2, 230},
		{3 | 16, newest, 0},
	} {
		other.write(frameOf(s52Instrument, c.channels, c.fromOp))
		replayed, answer := s52UntilAnswer(t, other)
		if answer.status != c.status || answer.channels != c.channels ||
			answer.fromOp != c.fromOp {
			t.Errorf("channels %d from_op %d (newest op %d): answer %+v, want status %d "+
				"echoing the request", c.channels, c.fromOp, newest, answer, c.status)
		}
		if c.status == 0 && answer.liveFromOp != newest+1 ||
			c.status == 230 && (len(replayed) != 0 || answer.liveFromOp != newest+1) {
			t.Errorf("channels %d from_op %d: %d replayed, live_from_op %d, want "+
				"live_from_op %d (and nothing replayed with 230)", c.channels, c.fromOp,
				len(replayed), answer.liveFromOp, newest+1)
		}
	}
}

// TestConformanceMarketDataSubscribeRefusals: section 8a, md_subscribe's channels:
// "other bits: status invalid_body" (206, nothing subscribed, the channels echoed, aux 0:
// "0 with any other status"); section 3: a fixed-size kind with another body length is
// error bad_body_length (1005); no channel bit (0, or bits 3 and 4 alone) unsubscribes,
// answered 0; an instrument not created yet is subscribed (status 0), by a client whose
// only permission is trade.
func TestConformanceMarketDataSubscribeRefusals(t *testing.T) {
	m := newS52Market(t)
	for _, channels := range []uint32{32, 1 | 64, 1 << 31} {
		m.c.write(s52Subscribe(s52Instrument, channels, 0))
		replayed, answer := s52UntilAnswer(t, m.c)
		if len(replayed) != 0 || answer.status != 206 || answer.channels != channels ||
			answer.instrument != s52Instrument || answer.liveFromOp != 0 {
			t.Errorf("channels %#x: answer %+v, want 206 invalid_body echoing them, aux 0",
				channels, answer)
		}
	}
	for _, channels := range []uint32{0, 8, 16, 8 | 16} {
		m.c.write(s52Subscribe(s52Instrument, channels, 0))
		if _, answer := s52UntilAnswer(t, m.c); answer.status != 0 ||
			answer.channels != channels {
			t.Errorf("unsubscription with channels %d: answer %+v, want 0", channels, answer)
		}
	}
	// Nothing is subscribed now: a resting order publishes nothing to this connection,
	// and the reply to the next request is the next frame.
	m.expectCreated(t, "sell", 21, s52Order(1, 1, s52SellerBase, s52SellerQuote, 100, 1, 2), 24)
	m.number++
	m.c.write(rawFrame(wire.KindRequest, 3, 0, 0, s52Session, m.number, 0, 0,
		make([]byte, 16)))
	if frame := m.c.next(); frame.Kind != wire.KindReply {
		t.Fatalf("after unsubscribing: %s frame, want the reply", frame.Kind)
	}
	// "an instrument that does not exist yet is subscribed as any other, status 0"; and
	// md_subscribe "needs the read permission (every permission includes it)": a client
	// with trade alone is served.
	trader := dialRaw(t, m.server.Address())
	trader.login(clientTrader, 1, secretTrader, s52Session)
	trader.write(s52Subscribe(99, 3, 0))
	if _, answer := s52UntilAnswer(t, trader); answer.status != 0 || answer.instrument != 99 {
		t.Errorf("a trade-only client's md_subscribe of instrument 99, not created: %+v, "+
			"want status 0", answer)
	}
	short := s52Subscribe(s52Instrument, 1, 0)
	short = reseal(withBodyLength(append(short[:wire.HeaderSize:wire.HeaderSize],
		short[wire.HeaderSize:wire.HeaderSize+15]...), 15))
	m.c.write(short)
	m.c.expectErrorFrame(1005)
}

// TestConformanceFiltersInOrder: section 10's orders of checks, each refusal the reply's
// request status with no body: DepthFilter (get_depth 28 and get_book 29: reserved → 4,
// levels 0 or above 4094 → 154, an instrument that does not exist, 0 among them → 102),
// OrderFilter (get_account_orders 27: reserved → 4, account 0 → 122, limit 0 or above
// 8189 → 154, an unknown instrument → 102), LedgerFilter (get_ledger_totals 36:
// reserved → 4, limit 0 or above 8189 → 69, ledger_max below ledger_min → 69) and
// RiskRuleFilter (get_risk_rules 52: reserved → 4, limit out of range → 69). Each case
// breaks its rule and every later one, so that a check made out of order shows.
func TestConformanceFiltersInOrder(t *testing.T) {
	m := newS52Market(t)
	le := binary.LittleEndian
	type filterCase struct {
		name      string
		operation model.Operation
		build     func(b []byte)
		status    uint32
	}
	depth := func(instrument, levels uint32, reserved uint64) func([]byte) {
		return func(b []byte) {
			le.PutUint32(b[0:], instrument)
			le.PutUint32(b[4:], levels)
			le.PutUint64(b[8:], reserved)
		}
	}
	orders := func(account uint64, instrument, limit uint32, reserved uint64) func([]byte) {
		return func(b []byte) {
			le.PutUint64(b[0:], account)
			le.PutUint32(b[16:], instrument)
			le.PutUint32(b[20:], limit)
			le.PutUint64(b[24:], reserved)
		}
	}
	ledgers := func(low, high, limit, reserved uint32) func([]byte) {
		return func(b []byte) {
			le.PutUint32(b[0:], low)
			le.PutUint32(b[4:], high)
			le.PutUint32(b[8:], limit)
			le.PutUint32(b[12:], reserved)
		}
	}
	rules := func(limit uint32, reserved uint64) func([]byte) {
		return func(b []byte) {
			le.PutUint32(b[4:], limit)
			le.PutUint64(b[8:], reserved)
		}
	}
	var cases []filterCase
	for _, operation := range []model.Operation{28, 29} {
		cases = append(cases,
			filterCase{"depth reserved", operation, depth(0, 0, 1), 4},
			filterCase{"depth levels 0", operation, depth(0, 0, 0), 154},
			filterCase{"depth levels 4095", operation, depth(0, 4095, 0), 154},
			filterCase{"depth instrument 0", operation, depth(0, 4094, 0), 102},
			filterCase{"depth instrument 8", operation, depth(8, 1, 0), 102},
			filterCase{"depth whole book", operation, depth(s52Instrument, 4094, 0), 0})
	}
	cases = append(cases,
		filterCase{"orders reserved", 27, orders(0, 8, 0, 1), 4},
		filterCase{"orders account 0", 27, orders(0, 8, 0, 0), 122},
		filterCase{"orders limit 0", 27, orders(1, 8, 0, 0), 154},
		filterCase{"orders limit 8190", 27, orders(1, 8, 8190, 0), 154},
		filterCase{"orders instrument 8", 27, orders(1, 8, 8189, 0), 102},
		filterCase{"orders", 27, orders(1, 0, 8189, 0), 0},
		filterCase{"ledgers reserved", 36, ledgers(2, 1, 0, 1), 4},
		filterCase{"ledgers limit 0", 36, ledgers(2, 1, 0, 0), 69},
		filterCase{"ledgers limit 8190", 36, ledgers(2, 1, 8190, 0), 69},
		filterCase{"ledgers max below min", 36, ledgers(2, 1, 8189, 0), 69},
		filterCase{"ledgers", 36, ledgers(2, 0, 8189, 0), 0},
		filterCase{"rules reserved", 52, rules(0, 1), 4},
		filterCase{"rules limit 0", 52, rules(0, 0), 69},
		filterCase{"rules limit 8190", 52, rules(8190, 0), 69},
		filterCase{"rules", 52, rules(8189, 0), 0})
	for _, c := range cases {
		size := map[model.Operation]int{27: 32, 28: 16, 29: 16, 36: 16, 52: 16}[c.operation]
		body := make([]byte, size)
		c.build(body)
		reply := m.request(c.operation, body)
		if reply.Status != c.status || (c.status != 0 && len(reply.Body) != 0) {
			t.Errorf("%s (operation %d): status %d with %d bytes, want %d", c.name,
				c.operation, reply.Status, len(reply.Body), c.status)
		}
	}
}

// TestConformanceLedgerTotals: section 10, LedgerTotals (get_ledger_totals 36): one
// 128-byte record per ledger with accounts in the range, lowest first, at most limit;
// accounts u64 at 8; each sum's low 128 bits at 16, 32, 48, 64 and its bits 128..191 at
// 80..104; reserved bytes 0; an operator's totals cover every account, the instrument's
// escrow accounts among them. Double entry shows as Σ debits_posted = Σ credits_posted.
// A client that may read no account of a ledger is given no record of it.
func TestConformanceLedgerTotals(t *testing.T) {
	m := newS52Market(t)
	le := binary.LittleEndian
	filter := make([]byte, 16)
	le.PutUint32(filter[0:], 1)
	le.PutUint32(filter[8:], 1)
	reply := m.request(36, filter)
	if reply.Status != 0 || len(reply.Body) != 128 {
		t.Fatalf("ledgers from 1, limit 1: status %d, %d bytes, want one record",
			reply.Status, len(reply.Body))
	}
	le.PutUint32(filter[8:], 10)
	reply = m.request(36, filter)
	if reply.Status != 0 || len(reply.Body) != 256 {
		t.Fatalf("ledgers from 1: status %d, %d bytes, want two records", reply.Status,
			len(reply.Body))
	}
	// Ledger 1: the issuer, the seller's and buyer's base accounts and the base escrow;
	// 1000 moved from the issuer to the seller. Ledger 2 likewise with 100000.
	for i, want := range []struct {
		ledger uint32
		moved  uint64
	}{{1, 1000}, {2, 100000}} {
		record := reply.Body[i*128 : (i+1)*128]
		if le.Uint32(record[0:]) != want.ledger || le.Uint32(record[4:]) != 0 ||
			le.Uint64(record[8:]) != 4 {
			t.Fatalf("record %d: % x, want ledger %d with 4 accounts", i, record, want.ledger)
		}
		for _, at := range []int{16, 48} { // The pending sums: nothing pending.
			if le.Uint64(record[at:]) != 0 || le.Uint64(record[at+8:]) != 0 {
				t.Fatalf("ledger %d: pending sum at %d not 0: % x", want.ledger, at, record)
			}
		}
		if le.Uint64(record[32:]) != want.moved || le.Uint64(record[40:]) != 0 ||
			le.Uint64(record[64:]) != want.moved || le.Uint64(record[72:]) != 0 {
			t.Fatalf("ledger %d: posted sums % x, want %d each", want.ledger, record[32:80],
				want.moved)
		}
		for at := 80; at < 128; at++ {
			if record[at] != 0 {
				t.Fatalf("ledger %d: byte %d is %d, want the high bits and reserved 0",
					want.ledger, at, record[at])
			}
		}
	}
	// Section 5: "a ledger where it may read none is not listed": a reader without
	// grants, owning no account, gets no record (status ok).
	reader := dialRaw(t, m.server.Address())
	reader.login(clientReader, 1, secretReader, 9)
	if none := reader.roundTripOn(9, 1, 36, filter); none.Status != 0 || len(none.Body) != 0 {
		t.Fatalf("a reader owning no account: status %d, %d bytes, want 0 and none",
			none.Status, len(none.Body))
	}
}

// s52RiskRule is section 10's RiskRule: id u32 at 0, kind u8 at 4, scope u8 at 5,
// account u128 at 16, amount u128 at 48, everything else 0 (the kinds used here take no
// other field: section 12, "A rule's fields that its kind does not use must be 0").
func s52RiskRule(id uint32, kind, scope uint8, account, amount uint64) []byte {
	b := make([]byte, 128)
	binary.LittleEndian.PutUint32(b[0:], id)
	b[4], b[5] = kind, scope
	binary.LittleEndian.PutUint64(b[16:], account)
	binary.LittleEndian.PutUint64(b[48:], amount)
	return b
}

// TestConformanceRiskRulesFromTheBytes: section 10's RiskRule, RiskDetail and
// EventResult's rule field, and section 12's precedence among the risk statuses. Rules
// are set as the operators' HTTP API sets them (internal operation 50, which a client
// frame may not carry: section 11, error unknown_operation). get_risk_rules (52, admin)
// returns them in id order with the fields as set and their timestamp; a reader without
// admin is refused permission_denied (204) with the connection kept. A transfer over an
// account's max_amount is refused 304 with the rule's id at EventResult offset 12, and
// with flag 1 its 144-byte result holds a RiskDetail (rule, kind 1, scope 2, action 0,
// limit the maximum, current 0, amount the transfer's, until 0) where balances would
// be. Once the account is blocked too, the same transfer is refused 300
// (risk_debit_account_blocked comes first), and its retry id_already_failed (24).
func TestConformanceRiskRulesFromTheBytes(t *testing.T) {
	m := newS52Market(t)
	le := binary.LittleEndian
	internal := rawFrame(wire.KindRequest, 50, 0, 0, s52Session, 1, 0, 0,
		s52RiskRule(1, 1, 2, s52SellerBase, 100))
	probe := dialRaw(t, m.server.Address())
	probe.login(clientAll, 1, secretOne, s52Session+2)
	binary.LittleEndian.PutUint64(internal[16:], s52Session+2)
	probe.write(reseal(internal))
	probe.expectErrorFrame(1010)

	write := func(rules ...[]byte) {
		t.Helper()
		var body []byte
		for _, rule := range rules {
			body = append(body, rule...)
		}
		results, err := m.shard.WriteInternal(50, body, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		for at := 0; at < len(results); at += 16 {
			if status := le.Uint32(results[at+8:]); status != 0 {
				t.Fatalf("rule %d: status %d", at/16, status)
			}
		}
	}
	write(s52RiskRule(5, 1, 2, s52SellerBase, 100)) // max_amount 100 on the seller's base.

	filter := make([]byte, 16)
	le.PutUint32(filter[4:], 10)
	reply := m.request(52, filter)
	if reply.Status != 0 || len(reply.Body) != 128 {
		t.Fatalf("get_risk_rules: status %d, %d bytes, want one RiskRule", reply.Status,
			len(reply.Body))
	}
	rule := reply.Body
	if le.Uint32(rule[0:]) != 5 || rule[4] != 1 || rule[5] != 2 || rule[6] != 0 ||
		le.Uint64(rule[16:]) != s52SellerBase || le.Uint64(rule[48:]) != 100 ||
		le.Uint64(rule[96:]) == 0 {
		t.Fatalf("RiskRule % x: want id 5, kind 1, scope 2, account 11, amount 100, a "+
			"timestamp", rule)
	}
	reader := dialRaw(t, m.server.Address())
	reader.login(clientReader, 1, secretReader, 9)
	denied := reader.roundTripOn(9, 1, 52, filter)
	if denied.Status != 204 || len(denied.Body) != 0 {
		t.Fatalf("get_risk_rules without admin: status %d, %d bytes, want 204",
			denied.Status, len(denied.Body))
	}
	if again := reader.roundTripOn(9, 2, 3, make([]byte, 16)); again.Status != 0 {
		t.Fatalf("after permission_denied: lookup status %d", again.Status)
	}

	over := s52Transfer(100, s52SellerBase, s52BuyerBase, 150, s52BaseLedger)
	m.number++
	m.c.write(rawFrame(wire.KindRequest, 2, 1, 0, s52Session, m.number, 0, 0, over))
	refused := m.c.next()
	if refused.Kind != wire.KindReply || refused.Status != 0 || len(refused.Body) != 144 {
		t.Fatalf("over the maximum, with balances: %s status %d, %d bytes, want one "+
			"144-byte result", refused.Kind, refused.Status, len(refused.Body))
	}
	result, detail := refused.Body[:16], refused.Body[16:]
	if le.Uint32(result[8:]) != 304 || le.Uint32(result[12:]) != 5 {
		t.Fatalf("EventResult % x: want status 304, rule 5", result)
	}
	if le.Uint32(detail[0:]) != 5 || detail[4] != 1 || detail[5] != 2 || detail[6] != 0 ||
		detail[7] != 0 || le.Uint64(detail[8:]) != 0 || le.Uint64(detail[16:]) != 100 ||
		le.Uint64(detail[24:]) != 0 || le.Uint64(detail[32:]) != 0 ||
		le.Uint64(detail[40:]) != 0 || le.Uint64(detail[48:]) != 150 ||
		le.Uint64(detail[56:]) != 0 || le.Uint64(detail[64:]) != 0 {
		t.Fatalf("RiskDetail % x: want rule 5, kind 1, scope 2, limit 100, current 0, "+
			"amount 150, until 0", detail)
	}
	for at := 72; at < 128; at++ {
		if detail[at] != 0 {
			t.Fatalf("RiskDetail byte %d is %d, want reserved 0", at, detail[at])
		}
	}

	write(s52RiskRule(6, 4, 2, s52SellerBase, 0)) // blocked, the same account.
	blocked := m.request(2, s52Transfer(101, s52SellerBase, s52BuyerBase, 150, s52BaseLedger))
	if len(blocked.Body) != 16 || le.Uint32(blocked.Body[8:]) != 300 ||
		le.Uint32(blocked.Body[12:]) != 6 {
		t.Fatalf("blocked and over the maximum: % x, want status 300 by rule 6", blocked.Body)
	}
	retry := m.request(2, over)
	if len(retry.Body) != 16 || le.Uint32(retry.Body[8:]) != 24 || le.Uint32(retry.Body[12:]) != 0 {
		t.Fatalf("retry of a risk refusal: % x, want id_already_failed (24), rule 0",
			retry.Body)
	}
}

// s52Login signs and sends a login built from section 4 alone (HMAC-SHA256 over nonce ‖
// client_id ‖ key_id ‖ options ‖ session) and returns the server's answer.
func s52Login(t *testing.T, c *rawConn, client uint64, key uint32, secret []byte,
	session uint64) wire.Frame {
	t.Helper()
	message := append([]byte(nil), c.challenge.Nonce[:]...)
	message = binary.LittleEndian.AppendUint64(message, client)
	message = binary.LittleEndian.AppendUint32(message, key)
	message = binary.LittleEndian.AppendUint32(message, 0)
	message = binary.LittleEndian.AppendUint64(message, session)
	mac := hmac.New(sha256.New, secret)
	mac.Write(message)
	body := binary.LittleEndian.AppendUint64(nil, client)
	body = binary.LittleEndian.AppendUint32(body, key)
	body = binary.LittleEndian.AppendUint32(body, 0)
	body = mac.Sum(body)
	c.write(rawFrame(wire.KindLogin, 0, 0, 0, session, 0, 0, 0, body))
	return c.next()
}

// TestConformanceKeysFileExample: section 15's example, with its placeholders filled in
// (secrets and the token as hex), is a keys file the server loads at mode 0600 and
// refuses at 0644; an unknown field refuses it. Served with the admission controls the
// server command always runs, client 2 ("operations") logs in and gets all four
// permission bits (section 4, login_accepted), and client 1 logging in from 127.0.0.1
// with its second key (signature_version_min 2, which "the binary login does not look
// at") passes the signature check and is refused connection_refused (1022) by its
// allowed_networks 10.0.0.0/8 (section 5, login step 6). An "accounts" grant of
// "0100" is one hundred ("leading zeros are decimal").
func TestConformanceKeysFileExample(t *testing.T) {
	document, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(document)
	start := strings.Index(text, "## 15. Keys file")
	open := strings.Index(text[start:], "```json\n")
	if start < 0 || open < 0 {
		t.Fatal("PROTOCOL.md section 15 has no JSON example")
	}
	example := text[start+open+len("```json\n"):]
	example = example[:strings.Index(example, "```")]
	secretClient1Key1 := bytes.Repeat([]byte{0x51}, 32)
	secretClient1Key2 := bytes.Repeat([]byte{0x52}, 32)
	secretClient2 := bytes.Repeat([]byte{0x53}, 32)
	for placeholder, value := range map[string]string{
		`"5f2b…64 hex digits…"`:             `"` + hex.EncodeToString(secretClient1Key1) + `"`,
		`"the next key, during a rotation"`: `"` + hex.EncodeToString(secretClient1Key2) + `"`,
		`"secret": "…"`:                     `"secret": "` + hex.EncodeToString(secretClient2) + `"`,
		`"64 hex digits of randomness"`:     `"` + strings.Repeat("ab", 32) + `"`,
	} {
		if !strings.Contains(example, placeholder) {
			t.Fatalf("section 15's example has no %s", placeholder)
		}
		example = strings.Replace(example, placeholder, value, 1)
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := netio.LoadKeys(path); !errors.Is(err, netio.ErrKeysFileMode) {
		t.Fatalf("the example at mode 0644: %v, want refused for its mode", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := netio.LoadKeys(path)
	if err != nil {
		t.Fatalf("section 15's example, placeholders filled: %v\n%s", err, example)
	}
	typo := strings.Replace(example, `"allowed_networks"`, `"allowed_network"`, 1)
	if _, err := netio.ParseKeysFile([]byte(typo)); err == nil {
		t.Fatal("a keys file with the unknown field allowed_network loaded")
	}
	decimal := strings.Replace(example, `"accounts": "42"`, `"accounts": "0100"`, 1)
	file, err := netio.ParseKeysFile([]byte(decimal))
	if err != nil {
		t.Fatal(err)
	}
	decimalKeys, err := netio.NewKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	grants, _, err := model.DecodeGrants(decimalKeys.GrantsBody())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, grant := range grants {
		if grant.Client == 1 && grant.Scopes == model.ScopeTrade && grant.Ledger == 1 {
			found = grant.First == model.U128(100) && grant.Last == model.U128(100)
		}
	}
	if !found {
		t.Fatalf("grants of accounts \"0100\": %+v, want account 100", grants)
	}

	h := newHarness(t, harnessOptions{keys: keys, config: func(c *netio.Config) {
		c.Admission = netio.NewControls(netio.ControlsConfig{})
	}})
	operations := dialRaw(t, h.server.Address())
	accepted := s52Login(t, operations, 2, 1, secretClient2, 1)
	if accepted.Kind != wire.KindLoginAccepted || len(accepted.Body) != 32 ||
		binary.LittleEndian.Uint64(accepted.Body[0:]) != 2 ||
		binary.LittleEndian.Uint32(accepted.Body[8:]) != 0b1111 {
		t.Fatalf("client 2's login: %s % x, want login_accepted, client 2, permissions 15",
			accepted.Kind, accepted.Body)
	}
	desk := dialRaw(t, h.server.Address())
	refused := s52Login(t, desk, 1, 2, secretClient1Key2, 1)
	if refused.Kind != wire.KindError || refused.Status != 1022 {
		t.Fatalf("client 1 from 127.0.0.1: %s status %d, want error connection_refused "+
			"(1022)", refused.Kind, refused.Status)
	}
	desk.expectClosed()
}

// TestConformanceOrderStateValuesInEffect: section 10, OrderState holds the values in
// effect, not the bytes sent, where the Order gives 0 a meaning: a limit buy placed with
// reserve_price 0 ("0 = price") reads its price at offset 96, and self_trade 0 ("0
// default (cancel newest)") reads 1 at offset 119 (as worded since this audit). A sell's
// reserve_price stays 0.
func TestConformanceOrderStateValuesInEffect(t *testing.T) {
	m := newS52Market(t)
	le := binary.LittleEndian
	m.expectCreated(t, "buy", 21, s52Order(1, 2, s52BuyerBase, s52BuyerQuote, 90, 3, 1), 24)
	m.expectCreated(t, "sell", 21, s52Order(2, 1, s52SellerBase, s52SellerQuote, 110, 3, 2), 24)
	for _, c := range []struct {
		account      uint64
		reservePrice uint64
		side         uint8
	}{{2, 90, 1}, {1, 0, 2}} {
		filter := make([]byte, 32)
		le.PutUint64(filter[0:], c.account)
		le.PutUint32(filter[20:], 1)
		reply := m.request(27, filter)
		if reply.Status != 0 || len(reply.Body) != 128 {
			t.Fatalf("account %d's orders: status %d, %d bytes", c.account, reply.Status,
				len(reply.Body))
		}
		state := reply.Body
		if state[116] != c.side || le.Uint64(state[96:]) != c.reservePrice || state[119] != 1 {
			t.Errorf("account %d's order: side %d, reserve_price %d, self_trade %d; want "+
				"side %d, reserve_price %d, self_trade 1", c.account, state[116],
				le.Uint64(state[96:]), state[119], c.side, c.reservePrice)
		}
	}
}

// s52Report is section 10's ExecutionReport as a client decodes it, with the header's
// sequence (aux) and label (number).
type s52Report struct {
	sequence, label                      uint64
	orderID, clientOrderID, client       uint64
	account                              uint64
	instrument, status                   uint32
	kind, side, liquidity, orderType     uint8
	reserved                             uint32
	tradeID, contraOrderID, price        uint64
	quantity, leaves, filled             uint64
	fee, feeHigh, timestamp, reservedEnd uint64
}

func s52DecodeReport(frame wire.Frame) s52Report {
	b, le := frame.Body, binary.LittleEndian
	return s52Report{sequence: frame.Aux, label: frame.Number, orderID: le.Uint64(b[0:]),
		clientOrderID: le.Uint64(b[8:]), client: le.Uint64(b[16:]), account: le.Uint64(b[24:]),
		instrument: le.Uint32(b[32:]), status: le.Uint32(b[36:]), kind: b[40], side: b[41],
		liquidity: b[42], orderType: b[43], reserved: le.Uint32(b[44:]),
		tradeID: le.Uint64(b[48:]), contraOrderID: le.Uint64(b[56:]), price: le.Uint64(b[64:]),
		quantity: le.Uint64(b[72:]), leaves: le.Uint64(b[80:]), filled: le.Uint64(b[88:]),
		fee: le.Uint64(b[96:]), feeHigh: le.Uint64(b[104:]), timestamp: le.Uint64(b[112:]),
		reservedEnd: le.Uint64(b[120:])}
}

// TestConformanceExecutionReportsFromTheEngine: sections 4, 8 and 10 (ExecutionReport,
// "Order of reports") against the matching engine rather than a fake shard. A live
// subscription (subscribe 9: from_sequence 0, shard field 0) is answered subscribed with
// status 0, label 0 and next_sequence 1 in aux. A resting sell then a buy that fills 4 of
// it give, numbered 1 to 4: the sell's accepted (kind 1: its side, type and price,
// quantity 10, leaves 10, filled 0, trade fields 0), the buy's accepted, then the fill's
// maker report (the sell: liquidity 1, the buy as contra order) before the taker's
// (liquidity 2), each with the fill's price and quantity, the same trade id, and the
// order's leaves and filled after it; every report of 128 bytes, its reserved fields 0.
func TestConformanceExecutionReportsFromTheEngine(t *testing.T) {
	m := newS52Market(t)
	subscribe := make([]byte, 16)
	m.c.write(rawFrame(9, 0, 0, 0, s52Session, 0, 0, 0, subscribe))
	answer := m.c.next()
	if answer.Kind != wire.KindSubscribed || answer.Status != 0 || answer.Number != 0 ||
		answer.Aux != 1 || len(answer.Body) != 16 {
		t.Fatalf("live subscription: %s status %d number %d aux %d, %d bytes; want "+
			"subscribed, 0, label 0, next_sequence 1, 16 bytes", answer.Kind, answer.Status,
			answer.Number, answer.Aux, len(answer.Body))
	}
	var reports []s52Report
	orderIDs := map[uint64]uint64{} // By client order id.
	place := func(order []byte, reportsAfter int) {
		t.Helper()
		m.number++
		m.c.write(rawFrame(wire.KindRequest, 21, 0, 0, s52Session, m.number, 0, 0, order))
		replied := false
		for !replied || len(reports) < reportsAfter {
			frame := m.c.next()
			switch frame.Kind {
			case wire.KindReport:
				if len(frame.Body) != 128 {
					t.Fatalf("report of %d bytes", len(frame.Body))
				}
				reports = append(reports, s52DecodeReport(frame))
			case wire.KindReply:
				if frame.Status != 0 || len(frame.Body) != 24 ||
					binary.LittleEndian.Uint32(frame.Body[16:]) != 0 {
					t.Fatalf("place: status %d, body % x", frame.Status, frame.Body)
				}
				orderIDs[binary.LittleEndian.Uint64(order[0:])] =
					binary.LittleEndian.Uint64(frame.Body[0:])
				replied = true
			default:
				t.Fatalf("%s frame", frame.Kind)
			}
		}
	}
	place(s52Order(1, 1, s52SellerBase, s52SellerQuote, 100, 10, 2), 1)
	place(s52Order(2, 2, s52BuyerBase, s52BuyerQuote, 100, 4, 1), 4)
	if len(reports) != 4 {
		t.Fatalf("%d reports, want 4", len(reports))
	}
	sell, buy := orderIDs[1], orderIDs[2]
	trade := reports[2].tradeID
	want := []s52Report{
		{orderID: sell, clientOrderID: 1, account: 1, kind: 1, side: 2, price: 100,
			quantity: 10, leaves: 10},
		{orderID: buy, clientOrderID: 2, account: 2, kind: 1, side: 1, price: 100,
			quantity: 4, leaves: 4},
		{orderID: sell, clientOrderID: 1, account: 1, kind: 5, side: 2, liquidity: 1,
			tradeID: trade, contraOrderID: buy, price: 100, quantity: 4, leaves: 6, filled: 4},
		{orderID: buy, clientOrderID: 2, account: 2, kind: 5, side: 1, liquidity: 2,
			tradeID: trade, contraOrderID: sell, price: 100, quantity: 4, leaves: 0, filled: 4},
	}
	for i := range want {
		want[i].sequence, want[i].client, want[i].instrument = uint64(i+1), clientAll,
			s52Instrument
		want[i].orderType = 1
		want[i].timestamp = reports[i].timestamp
		if reports[i] != want[i] || reports[i].timestamp == 0 || trade == 0 {
			t.Errorf("report %d: %+v\nwant %+v (a timestamp and a trade id)", i+1,
				reports[i], want[i])
		}
	}
}

// TestConformanceMarketDataFramesOf128Updates: section 8a, "md_update (22, S→C, 128 to
// 16,384 bytes). 1 to 128 MarketDataUpdate records, in the order they happened (per
// instrument: increasing sequence)", and section 14, "market-data updates per md_update
// frame: 128". One request rests 130 sells at 130 prices (130 level updates of one op),
// and one buy sweeps them all (130 trades and 130 levels removed, one op): every frame
// holds 1 to 128 whole records, and the 390 updates come with sequences 1 to 390 in
// order, each with its request's op; the sweep's removals give quantity 0 and count 0.
func TestConformanceMarketDataFramesOf128Updates(t *testing.T) {
	m := newS52Market(t)
	const levels = 130
	m.c.write(s52Subscribe(s52Instrument, 3, 0))
	if _, answer := s52UntilAnswer(t, m.c); answer.status != 0 {
		t.Fatalf("subscription: status %d", answer.status)
	}
	var sells []byte
	for i := range uint64(levels) {
		sells = append(sells, s52Order(1+i, 1, s52SellerBase, s52SellerQuote, 100+i, 1, 2)...)
	}
	var updates []s52Update
	restOp := m.place(t, sells, levels, &updates).Aux
	sweepOp := m.place(t, s52Order(1000, 2, s52BuyerBase, s52BuyerQuote, 100+levels-1, levels, 1),
		1, &updates).Aux
	m.collectUpdates(t, 3*levels, &updates)
	if len(updates) != 3*levels {
		t.Fatalf("%d updates, want %d", len(updates), 3*levels)
	}
	trades, removed := 0, 0
	for i, u := range updates {
		wantOp := sweepOp
		if i < levels {
			wantOp = restOp
		}
		if u.sequence != uint64(i+1) || u.op != wantOp {
			t.Fatalf("update %d: sequence %d op %d, want %d and %d", i, u.sequence, u.op,
				i+1, wantOp)
		}
		switch {
		case i >= levels && u.kind == 2:
			trades++
		case i >= levels && u.kind == 1 && u.quantity == 0 && u.orderCount == 0:
			removed++
		}
	}
	if trades != levels || removed != levels {
		t.Fatalf("the sweep published %d trades and %d removals, want %d of each", trades,
			removed, levels)
	}
}

// s52StatusNumbers reads section 12's table of statuses as a client author would build
// one: name to number.
func s52StatusNumbers(t *testing.T) map[string]uint32 {
	t.Helper()
	document, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(document)
	const begin, end = "<!-- BEGIN GENERATED: statuses -->", "<!-- END GENERATED: statuses -->"
	start, stop := strings.Index(text, begin), strings.Index(text, end)
	if start < 0 || stop < start {
		t.Fatal("PROTOCOL.md has no table of statuses")
	}
	numbers := map[string]uint32{}
	for _, line := range strings.Split(text[start:stop], "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		var number uint32
		if _, err := fmt.Sscan(strings.TrimSpace(cells[1]), &number); err != nil {
			continue
		}
		numbers[strings.Trim(strings.TrimSpace(cells[2]), "`")] = number
	}
	if len(numbers) < 100 {
		t.Fatalf("%d statuses read from section 12", len(numbers))
	}
	return numbers
}

// TestConformancePlaceOrdersPrecedence: section 12, Precedence, place_orders: "When
// several statuses apply to one event, the first of these lists that applies is the
// answer". Each step sends an Order (section 10's layout, encoded here) that breaks the
// rule of its status and every rule after it in the document's list, so that a check
// made later than the document says answers another status. Status numbers come from
// section 12's table. The rules left out need a second client, a closed account or a
// resting order (base_account_not_owned, account_closed, account_flags_invalid,
// orders_limit_reached, post_only_would_cross); the key checks after the zero checks
// (section 10, "Client order ids") are left to core/match's tests.
func TestConformancePlaceOrdersPrecedence(t *testing.T) {
	m := newS52Market(t)
	statuses := s52StatusNumbers(t)
	le := binary.LittleEndian
	// Instrument 8: tick 10, lot 10, quantities 20 to 5000.
	instrument := make([]byte, 128)
	le.PutUint32(instrument[0:], 8)
	le.PutUint32(instrument[4:], s52BaseLedger)
	le.PutUint32(instrument[8:], s52QuoteLedger)
	le.PutUint64(instrument[16:], 10)
	le.PutUint64(instrument[24:], 10)
	le.PutUint64(instrument[32:], 20)
	le.PutUint64(instrument[40:], 5000)
	m.expectCreated(t, "instrument 8", 20, instrument, 16)
	valid := func(clientOrderID uint64) []byte {
		order := s52Order(clientOrderID, 1, s52SellerBase, s52SellerQuote, 100, 20, 2)
		le.PutUint32(order[96:], 8)
		return order
	}
	breaks := []struct {
		status string
		apply  func(order []byte)
	}{
		{"client_order_id_must_not_be_zero", func(o []byte) { le.PutUint64(o[0:], 0) }},
		{"account_must_not_be_zero", func(o []byte) { le.PutUint64(o[8:], 0) }},
		{"timestamp_must_be_zero", func(o []byte) { le.PutUint64(o[120:], 1) }},
		{"reserved_field", func(o []byte) { o[110] = 1 }},
		{"instrument_not_found", func(o []byte) { le.PutUint32(o[96:], 99) }},
		{"side_invalid", func(o []byte) { o[100] = 3 }},
		{"order_type_invalid", func(o []byte) { o[101] = 3 }},
		{"time_in_force_invalid", func(o []byte) { o[102] = 9 }},
		{"self_trade_mode_invalid", func(o []byte) { o[103] = 9 }},
		{"price_must_not_be_zero", func(o []byte) { le.PutUint64(o[48:], 0) }},
		{"price_not_on_tick", func(o []byte) { le.PutUint64(o[48:], 105) }},
		{"quantity_not_on_lot", func(o []byte) { le.PutUint64(o[56:], 25) }},
		{"quantity_below_minimum", func(o []byte) { le.PutUint64(o[56:], 10) }},
		{"quantity_above_maximum", func(o []byte) { le.PutUint64(o[56:], 6000) }},
		{"reserve_price_invalid", func(o []byte) { le.PutUint64(o[64:], 100) }}, // A sell's.
		{"budget_invalid", func(o []byte) { le.PutUint64(o[80:], 1) }},          // A limit's.
		{"expire_timestamp_invalid", func(o []byte) { le.PutUint64(o[72:], 1) }},
		{"account_id_reserved", func(o []byte) { o[31] = 0x80 }}, // Base id bit 127.
		{"base_account_not_found", func(o []byte) { le.PutUint64(o[16:], 999) }},
		{"base_account_ledger_invalid", func(o []byte) { le.PutUint64(o[16:], s52BuyerQuote) }},
		{"quote_account_not_found", func(o []byte) { le.PutUint64(o[32:], 999) }},
		{"quote_account_ledger_invalid", func(o []byte) { le.PutUint64(o[32:], s52BuyerBase) }},
		{"insufficient_funds", func(o []byte) { le.PutUint64(o[56:], 2000) }}, // Holds 1000.
	}
	for step, broken := range breaks {
		want, known := statuses[broken.status]
		if !known {
			t.Fatalf("section 12 has no status %s", broken.status)
		}
		order := valid(uint64(100 + step))
		for i := len(breaks) - 1; i >= step; i-- {
			breaks[i].apply(order)
		}
		reply := m.request(21, order)
		if reply.Status != 0 || len(reply.Body) != 24 {
			t.Fatalf("%s: request status %d, %d bytes", broken.status, reply.Status,
				len(reply.Body))
		}
		if got := le.Uint32(reply.Body[16:]); got != want || le.Uint64(reply.Body[0:]) != 0 {
			t.Errorf("an order breaking %s and every later rule: status %d, order id %d; "+
				"want %d and 0", broken.status, got, le.Uint64(reply.Body[0:]), want)
		}
	}
	placed := m.request(21, valid(200))
	if status := le.Uint32(placed.Body[16:]); status != 0 {
		t.Fatalf("the valid order: status %d", status)
	}
}

// TestConformanceCreateTransfersPrecedence: section 12, Precedence, create_transfers,
// for a single-phase transfer of a new id, as TestConformancePlaceOrdersPrecedence does
// for orders: each step's Transfer (section 10's layout) breaks its rule and every later
// one in the document's list. Left out: the checks of an id that exists, the ownership
// and risk statuses (TestConformanceRiskRulesFromTheBytes has the risk rules' place
// before the balance checks), and the overflows.
func TestConformanceCreateTransfersPrecedence(t *testing.T) {
	m := newS52Market(t)
	statuses := s52StatusNumbers(t)
	le := binary.LittleEndian
	flag := func(bit uint16) func([]byte) {
		return func(b []byte) { le.PutUint16(b[118:], le.Uint16(b[118:])|bit) }
	}
	breaks := []struct {
		status string
		apply  func(transfer []byte)
	}{
		{"timestamp_must_be_zero", func(b []byte) { le.PutUint64(b[120:], 1) }},
		{"reserved_flag", flag(256)},
		{"reserved_flag_from_reservation", flag(16384)},
		{"id_must_not_be_zero", func(b []byte) { clear(b[0:16]) }},
		{"id_must_not_be_int_max", func(b []byte) {
			for i := range 16 {
				b[i] = 0xff
			}
		}},
		{"id_reserved", func(b []byte) { b[15] = 0x80 }},
		{"debit_account_id_must_not_be_zero", func(b []byte) { clear(b[16:32]) }},
		{"debit_account_id_must_not_be_int_max", func(b []byte) {
			for i := 16; i < 32; i++ {
				b[i] = 0xff
			}
		}},
		{"credit_account_id_must_not_be_zero", func(b []byte) { clear(b[32:48]) }},
		{"credit_account_id_must_not_be_int_max", func(b []byte) {
			for i := 32; i < 48; i++ {
				b[i] = 0xff
			}
		}},
		{"accounts_must_be_different", func(b []byte) { copy(b[32:48], b[16:32]) }},
		{"pending_id_must_be_zero", func(b []byte) { le.PutUint64(b[64:], 1) }},
		{"timeout_reserved_for_pending_transfer", func(b []byte) { le.PutUint32(b[108:], 1) }},
		{"closing_transfer_must_be_pending", flag(64)},
		{"ledger_must_not_be_zero", func(b []byte) { le.PutUint32(b[112:], 0) }},
		{"code_must_not_be_zero", func(b []byte) { le.PutUint16(b[116:], 0) }},
		{"debit_account_not_found", func(b []byte) { le.PutUint64(b[16:], 999) }},
		{"credit_account_not_found", func(b []byte) { le.PutUint64(b[32:], 998) }},
		{"accounts_must_have_the_same_ledger", func(b []byte) { le.PutUint64(b[32:], s52BuyerQuote) }},
		{"transfer_must_have_the_same_ledger_as_accounts", func(b []byte) {
			le.PutUint32(b[112:], s52QuoteLedger)
		}},
		{"exceeds_credits", func(b []byte) { le.PutUint64(b[48:], 5000) }}, // Holds 1000.
	}
	for step, broken := range breaks {
		want, known := statuses[broken.status]
		if !known {
			t.Fatalf("section 12 has no status %s", broken.status)
		}
		transfer := s52Transfer(uint64(1000+step), s52SellerBase, s52BuyerBase, 10, s52BaseLedger)
		for i := len(breaks) - 1; i >= step; i-- {
			breaks[i].apply(transfer)
		}
		reply := m.request(2, transfer)
		if reply.Status != 0 || len(reply.Body) != 16 {
			t.Fatalf("%s: request status %d, %d bytes", broken.status, reply.Status,
				len(reply.Body))
		}
		if got := le.Uint32(reply.Body[8:]); got != want {
			t.Errorf("a transfer breaking %s and every later rule: status %d, want %d",
				broken.status, got, want)
		}
	}
	done := m.request(2, s52Transfer(2000, s52SellerBase, s52BuyerBase, 10, s52BaseLedger))
	if status := le.Uint32(done.Body[8:]); status != 0 {
		t.Fatalf("the valid transfer: status %d", status)
	}
}

// TestConformanceWorkedExamplesFields: section 16's frames carry what their captions
// say, field by field at section 4's and section 10's offsets (TestConformanceWorked-
// Examples checks their framing, checksums and the login's signature). The header:
// magic at 0, version at 4, kind at 5, operation at 6, flags at 7, body_length at 8,
// status at 12, session at 16, number at 24, aux at 32 (section 3).
func TestConformanceWorkedExamplesFields(t *testing.T) {
	document, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(document)
	const begin, end = "<!-- BEGIN GENERATED: examples -->", "<!-- END GENERATED: examples -->"
	start, stop := strings.Index(text, begin), strings.Index(text, end)
	if start < 0 || stop < start {
		t.Fatal("PROTOCOL.md has no generated examples section")
	}
	frames := map[string][]byte{}
	title, inBlock := "", false
	for _, line := range strings.Split(text[start:stop], "\n") {
		switch {
		case strings.HasPrefix(line, "#### "):
			title = strings.TrimPrefix(line, "#### ")
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
		case inBlock && len(line) > 6:
			b, err := hex.DecodeString(strings.ReplaceAll(line[6:], " ", ""))
			if err != nil {
				t.Fatalf("%s: %v", title, err)
			}
			frames[title] = append(frames[title], b...)
		}
	}
	le := binary.LittleEndian
	type header struct {
		kind, operation, flags uint8
		status                 uint32
		session, number, aux   uint64
	}
	read := func(name string) (header, []byte) {
		frame := frames[name]
		if len(frame) < 48 {
			t.Fatalf("no example %q", name)
		}
		return header{kind: frame[5], operation: frame[6], flags: frame[7],
			status: le.Uint32(frame[12:]), session: le.Uint64(frame[16:]),
			number: le.Uint64(frame[24:]), aux: le.Uint64(frame[32:])}, frame[48:]
	}
	check := func(name string, got, want header) {
		if got != want {
			t.Errorf("%s: header %+v, want %+v", name, got, want)
		}
	}

	h, body := read("Heartbeat")
	check("Heartbeat", h, header{kind: 5})
	if len(body) != 0 {
		t.Errorf("heartbeat with a body")
	}

	h, body = read("Challenge")
	check("Challenge", h, header{kind: 1})
	for i := range 32 {
		if body[i] != byte(i) {
			t.Fatalf("challenge nonce % x, want 00 01 … 1f", body[:32])
		}
	}
	if le.Uint32(body[32:]) != 1000 || le.Uint32(body[36:]) != 15000 || le.Uint64(body[40:]) != 0 {
		t.Errorf("challenge: heartbeat %d ms, silence %d ms, want 1000 and 15000",
			le.Uint32(body[32:]), le.Uint32(body[36:]))
	}

	h, body = read("Login")
	check("Login", h, header{kind: 2, session: 7})
	if le.Uint64(body[0:]) != 1 || le.Uint32(body[8:]) != 1 || le.Uint32(body[12:]) != 0 {
		t.Errorf("login: client %d key %d options %d, want 1, 1, 0", le.Uint64(body[0:]),
			le.Uint32(body[8:]), le.Uint32(body[12:]))
	}

	h, body = read("Login accepted")
	check("Login accepted", h, header{kind: 3, session: 7})
	if len(body) != 32 || le.Uint64(body[0:]) != 1 || le.Uint32(body[8:]) != 3 ||
		le.Uint32(body[12:]) != 0 || le.Uint64(body[16:]) != 0 || le.Uint64(body[24:]) != 0 {
		t.Errorf("login_accepted body % x: want client 1, permissions 3, epoch 0", body)
	}

	h, body = read("Request: create_transfers with one transfer")
	check("request", h, header{kind: 6, operation: 2, session: 7, number: 1})
	want := s52Transfer(1, 1, 2, 100, 1)
	if !bytes.Equal(body, want) {
		t.Errorf("request body % x\nwant (section 10's Transfer: id 1, accounts 1 and 2, "+
			"amount 100, ledger 1, code 1) % x", body, want)
	}

	h, body = read("Reply: the transfer was created")
	check("reply", h, header{kind: 7, operation: 2, session: 7, number: 1, aux: 42})
	if len(body) != 16 || le.Uint64(body[0:]) != 1700000000000000000 ||
		le.Uint32(body[8:]) != 0 || le.Uint32(body[12:]) != 0 {
		t.Errorf("reply body % x: want one EventResult, status 0, rule 0", body)
	}

	h, body = read("Reply: busy")
	check("busy", h, header{kind: 7, operation: 2, status: 200, session: 7, number: 2})
	if len(body) != 0 {
		t.Errorf("busy reply with a body % x", body)
	}

	h, body = read("Error: bad checksum")
	// The damaged request's number, 1, and the server's text (session 53's audit made the
	// example the server's own answer: TestConformanceWorkedExamplesFromTheServer).
	check("error", h, header{kind: 8, status: 1003, session: 7, number: 1})
	if string(body) != "netio/wire: checksum mismatch" {
		t.Errorf("error message %q", body)
	}
}

// TestConformanceCancelReplaceAndMassCancel: section 10's OrderCancel, OrderReplace,
// MassCancel, OrderResult and MassCancelResult layouts, and "A cancel or replace that
// names its order by original_client_order_id names it by the client_order_id of the
// command that placed it or, once a replace of it was accepted, of the last accepted
// replace ...: a key superseded by an accepted replace ... answer[s] order_not_found".
// And section 12's mass_cancel order: the key checks, reserved_field, side_invalid,
// instrument_not_found; then a mass cancel of both sides of instrument 7 answers the
// number of orders it canceled.
func TestConformanceCancelReplaceAndMassCancel(t *testing.T) {
	m := newS52Market(t)
	statuses := s52StatusNumbers(t)
	le := binary.LittleEndian
	placed := m.request(21, s52Order(1, 1, s52SellerBase, s52SellerQuote, 100, 10, 2))
	orderID := le.Uint64(placed.Body[0:])
	if le.Uint32(placed.Body[16:]) != 0 || orderID == 0 {
		t.Fatalf("place: % x", placed.Body)
	}
	orderResult := func(what string, reply wire.Frame, status string, wantID uint64) {
		t.Helper()
		if reply.Status != 0 || len(reply.Body) != 24 {
			t.Fatalf("%s: request status %d, %d bytes", what, reply.Status, len(reply.Body))
		}
		if got := le.Uint32(reply.Body[16:]); got != statuses[status] ||
			le.Uint64(reply.Body[0:]) != wantID || le.Uint32(reply.Body[20:]) != 0 {
			t.Errorf("%s: OrderResult % x, want order id %d, status %s (%d)", what,
				reply.Body, wantID, status, statuses[status])
		}
	}
	// OrderReplace: client_order_id at 0, account at 8, order_id at 16 (0: by the
	// original key at 24), price at 32, quantity at 40.
	replace := make([]byte, 64)
	le.PutUint64(replace[0:], 2)
	le.PutUint64(replace[8:], 1)
	le.PutUint64(replace[24:], 1)
	le.PutUint64(replace[32:], 101)
	le.PutUint64(replace[40:], 8)
	orderResult("replace by original key 1", m.request(23, replace), "ok", orderID)
	// OrderCancel: client_order_id at 0, account at 8, order_id at 16, original at 24.
	cancel := func(key, original uint64) []byte {
		b := make([]byte, 32)
		le.PutUint64(b[0:], key)
		le.PutUint64(b[8:], 1)
		le.PutUint64(b[24:], original)
		return b
	}
	orderResult("cancel by the superseded key 1", m.request(22, cancel(3, 1)),
		"order_not_found", 0)
	lookup := make([]byte, 8)
	le.PutUint64(lookup, orderID)
	state := m.request(26, lookup).Body
	if len(state) != 128 || le.Uint64(state[8:]) != 2 || le.Uint64(state[64:]) != 101 ||
		le.Uint64(state[72:]) != 8 {
		t.Fatalf("lookup_orders after the replace: % x, want key 2, price 101, quantity 8",
			state)
	}
	orderResult("cancel by the replace's key 2", m.request(22, cancel(4, 2)), "ok", orderID)
	if state := m.request(26, lookup).Body; len(state) != 0 {
		t.Fatalf("lookup_orders of the canceled order: %d bytes, want none", len(state))
	}

	for key := uint64(10); key < 12; key++ {
		m.request(21, s52Order(key, 1, s52SellerBase, s52SellerQuote, 100+key, 1, 2))
	}
	// MassCancel: client_order_id at 0, account at 8, instrument u32 at 16, side u8 at
	// 20, reserved 11 bytes at 21. MassCancelResult: timestamp at 0, status at 8,
	// canceled_count at 12.
	mass := func(key uint64, instrument uint32, side, reserved uint8) []byte {
		b := make([]byte, 32)
		le.PutUint64(b[0:], key)
		le.PutUint64(b[8:], 1)
		le.PutUint32(b[16:], instrument)
		b[20], b[31] = side, reserved
		return b
	}
	for _, c := range []struct {
		body   []byte
		status string
		count  uint32
	}{
		{mass(0, 99, 3, 1), "client_order_id_must_not_be_zero", 0},
		{mass(20, 99, 3, 1), "reserved_field", 0},
		{mass(21, 99, 3, 0), "side_invalid", 0},
		{mass(22, 99, 0, 0), "instrument_not_found", 0},
		{mass(23, s52Instrument, 0, 0), "ok", 2},
	} {
		reply := m.request(24, c.body)
		if reply.Status != 0 || len(reply.Body) != 16 ||
			le.Uint32(reply.Body[8:]) != statuses[c.status] ||
			le.Uint32(reply.Body[12:]) != c.count || le.Uint64(reply.Body[0:]) == 0 {
			t.Errorf("mass_cancel % x: reply status %d, MassCancelResult % x; want %s "+
				"(%d), canceled_count %d, a timestamp", c.body, reply.Status, reply.Body,
				c.status, statuses[c.status], c.count)
		}
	}
}

// TestConformanceInstrumentFeeAccounts: section 10, Instrument, as worded since this
// audit: the fee accounts are both 0 when both fees are 0 (else fee_account_invalid);
// with a fee they must be existing accounts of the base and quote ledgers.
func TestConformanceInstrumentFeeAccounts(t *testing.T) {
	m := newS52Market(t)
	statuses := s52StatusNumbers(t)
	le := binary.LittleEndian
	instrument := func(id uint32, takerFee uint16, feeBase, feeQuote uint64) []byte {
		b := make([]byte, 128)
		le.PutUint32(b[0:], id)
		le.PutUint32(b[4:], s52BaseLedger)
		le.PutUint32(b[8:], s52QuoteLedger)
		le.PutUint16(b[14:], takerFee)
		le.PutUint64(b[16:], 1)
		le.PutUint64(b[24:], 1)
		le.PutUint64(b[32:], 1)
		le.PutUint64(b[40:], 100)
		le.PutUint64(b[48:], feeBase)
		le.PutUint64(b[64:], feeQuote)
		return b
	}
	for _, c := range []struct {
		what   string
		body   []byte
		status string
	}{
		{"no fee, a fee account", instrument(30, 0, s52BaseIssuer, 0), "fee_account_invalid"},
		{"a fee, no fee accounts", instrument(31, 5, 0, 0), "fee_account_invalid"},
		{"a fee, accounts of the wrong ledgers", instrument(32, 5, s52QuoteIssuer,
			s52BaseIssuer), "fee_account_invalid"},
		{"a fee and its accounts", instrument(33, 5, s52BaseIssuer, s52QuoteIssuer), "ok"},
		{"no fee, no fee accounts", instrument(34, 0, 0, 0), "ok"},
	} {
		reply := m.request(20, c.body)
		if reply.Status != 0 || len(reply.Body) != 16 ||
			le.Uint32(reply.Body[8:]) != statuses[c.status] {
			t.Errorf("%s: status %d, result % x; want %s (%d)", c.what, reply.Status,
				reply.Body, c.status, statuses[c.status])
		}
	}
}
