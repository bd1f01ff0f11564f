package netio

import (
	"encoding/hex"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/event"
	"sequent/core/model"
	"sequent/netio/wire"
)

// recordingConn stands in for gnet.Conn where only the market-data publisher's writes
// reach it: each is an empty AsyncWritev whose callback writes the bytes (lendTo). It
// runs the callback at once, as the loop would, keeps every write, in order, and leaves
// nothing buffered: the callback takes back from queuedBytes what admitting the write
// added, so the connection's unsent bytes stay what the test sets.
type recordingConn struct {
	gnet.Conn
	written []byte
}

func (r *recordingConn) AsyncWritev(_ [][]byte, callback gnet.AsyncCallback) error {
	return callback(r, nil)
}

func (r *recordingConn) Write(buffer []byte) (int, error) {
	r.written = append(r.written, buffer...)
	return len(buffer), nil
}

func (r *recordingConn) OutboundBuffered() int { return 0 }

// TestMarketDataReplayToAStaleSubscriberComesAfterItsNotice (review reviewclient2,
// session 38; FAILS at main without the fix in marketData.order). The Go client resumes an instrument answered
// on a connection from the newest op it read there, of any instrument (connectionOp),
// relying on the publisher's one order per connection: an update read after an answer
// comes after every update of the answered instrument with a lower op
// (netio/client/marketdata.go, PROTOCOL.md 8a step 8). A subscriber the feed skipped as
// slow breaks that order: its dropped updates are told by md_stale only once it has
// drained below half its bound, but a subscription with from_op (the client's retried
// resumption of another instrument, refused busy or rate_limited a moment before) is
// replayed at once if the replay fits the bound, ahead of the notice. The client then
// reads updates of op above the dropped ones with no md_stale before them; if the
// connection is lost before the notice arrives, its next resumption of the dropped
// instrument asks from above them and is answered ok: they are never delivered and
// nothing says so. Here instrument 5's update at op 1 is dropped for the subscriber,
// then instrument 6 is resumed from op 2 while the subscriber's unsent bytes are
// between half its bound and the bound: the replayed op-2 update must not leave before
// the md_stale naming op 1.
func TestMarketDataReplayToAStaleSubscriberComesAfterItsNotice(t *testing.T) {
	const bytesMax = 64 << 10
	keys, err := NewKeyring(KeysFile{Version: KeysFileVersion, Clients: []KeysFileClient{{
		ID: 1, Permissions: []string{"read"},
		Keys: []KeysFileKey{{ID: 1, Secret: hex.EncodeToString(fuzzSecret)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Config{Keys: keys,
		MarketData: MarketDataConfig{SubscriberBytesMax: bytesMax}}, &recordingBackend{})
	if err != nil {
		t.Fatal(err)
	}
	s.log = newAsyncLogger(nil)
	defer s.log.close()
	m := s.marketData // Its publisher is not started: the test runs its steps in turn.
	written := &recordingConn{}
	conn := &connection{id: 1, conn: written, session: 7}
	conn.active.Store(true)
	set := keys.current.Load()
	conn.keysChecked.Store(&checkedKey{set: set, client: set.clients[1]})
	release := func(op uint64, instrument uint32) {
		var buffer event.Buffer
		buffer.BeginOp(op)
		buffer.AppendMarketData(&model.MarketDataUpdate{Sequence: 1, Instrument: instrument,
			Kind: model.MarketDataLevel, Side: model.SideBuy, Price: 100,
			Quantity: model.U128(1), Op: op})
		m.Consume(&backend.Ready{FirstOp: op, LastOp: op, Events: &buffer})
		m.publish()
	}
	subscribe := func(instrument uint32, fromOp uint64) {
		m.order(&marketDataOrder{conn: conn, session: 7, subscribe: wire.MarketDataSubscribe{
			Instrument: instrument, Channels: wire.ChannelBook, FromOp: fromOp}})
	}
	subscribe(5, 0)
	subscribe(6, 0)
	conn.queuedBytes.Store(bytesMax + 1) // The subscriber stops reading: skipped.
	release(1, 5)                        // Dropped for it (stale from op 1).
	release(2, 6)                        // Still draining: nothing sent.
	conn.queuedBytes.Store(bytesMax * 3 / 4)
	subscribe(6, 2) // A resumption retried: its one-update replay fits the bound.
	staleSeen := false
	for rest := written.written; len(rest) > 0; {
		frame, err := wire.DecodeHeader(rest)
		if err != nil {
			t.Fatalf("the subscriber's stream: %v", err)
		}
		frame.Body = rest[wire.HeaderSize : wire.HeaderSize+int(frame.BodyLength)]
		rest = rest[wire.HeaderSize+int(frame.BodyLength):]
		switch frame.Kind {
		case wire.KindMarketDataStale:
			staleSeen = true
		case wire.KindMarketData:
			for i := 0; i < len(frame.Body); i += model.MarketDataUpdateSize {
				var update model.MarketDataUpdate
				update.Decode(frame.Body[i:])
				if update.Op >= 1 && !staleSeen {
					t.Fatalf("instrument %d's update at op %d was sent before the md_stale "+
						"telling of instrument 5's update at op 1, dropped: a client that "+
						"loses the connection now resumes instrument 5 from op %d, past it, "+
						"and is answered ok", update.Instrument, update.Op, update.Op)
				}
			}
		}
	}
}
