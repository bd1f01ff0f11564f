package netio

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// FuzzServerFrames feeds arbitrary bytes to the server's own frame loop (drainFrames and
// the session state machine behind it), once whole and once split at a point the fuzzer
// chooses, with the second part arriving in a later OnTraffic. Both runs must answer
// with the same bytes, submit the same requests and stop at the same place; and the loop
// must never call Peek or Discard with a length of zero or less (gnet reads that as
// "everything buffered"), which the fake inbound buffer turns into a panic.
func FuzzServerFrames(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed, uint16(len(seed)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		at := int(split) % (len(data) + 1)
		whole := runFrames(t, data, len(data))
		parts := runFrames(t, data, at)
		if whole != parts {
			t.Fatalf("whole and split runs differ:\nwhole %s\nsplit %s", whole, parts)
		}
	})
}

// fuzzNonce is the challenge every fuzzed connection gets, so seeds can hold valid logins.
var fuzzNonce = [wire.NonceSize]byte{1, 2, 3, 4, 5, 6, 7, 8}

var fuzzSecret = bytes.Repeat([]byte{0x42}, 32)

func fuzzSeeds() [][]byte {
	login := wire.Login{Client: 1, Key: 1}
	login.Signature = wire.Sign(fuzzSecret, &fuzzNonce, 1, 1, 0, 5)
	loginBody := make([]byte, wire.LoginSize)
	login.Encode(loginBody)
	loginFrame := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin, Session: 5}, loginBody)
	transfer := make([]byte, model.TransferSize)
	request := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationCreateTransfers, Session: 5, Number: 1}, transfer)
	lookup := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationLookupAccounts, Session: 5, Number: 2}, make([]byte, 32))
	subscribe := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribe, Session: 5},
		make([]byte, wire.SubscribeSize))
	marketData := make([]byte, wire.MarketDataSubscribeSize)
	(&wire.MarketDataSubscribe{Instrument: 5, Channels: wire.ChannelBook, FromOp: 1}).Encode(marketData)
	mdSubscribe := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindMarketDataSubscribe,
		Session: 5}, marketData)
	heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	logout := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogout, Session: 5}, nil)
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return [][]byte{
		loginFrame,
		join(loginFrame, request, lookup, heartbeat),
		join(loginFrame, subscribe, request, logout),
		join(loginFrame, mdSubscribe, request, mdSubscribe),
		join(loginFrame, request[:60]),
		join(heartbeat, request),
		join(loginFrame, loginFrame),
		[]byte("SQNT\x01\x06\x02\x00\xff\xff\xff\xff"),
	}
}

// runFrames feeds data[:at] then data[at:] to a fresh connection and describes what the
// server did.
func runFrames(t *testing.T, data []byte, at int) string {
	keys, err := NewKeyring(KeysFile{Version: KeysFileVersion, Clients: []KeysFileClient{{
		ID: 1, Permissions: []string{"read", "transfer"},
		Keys: []KeysFileKey{{ID: 1, Secret: hex.EncodeToString(fuzzSecret)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	backend := &recordingBackend{}
	s, err := NewServer(Config{Keys: keys}, backend)
	if err != nil {
		t.Fatal(err)
	}
	s.log = newAsyncLogger(nil)
	defer s.log.close()
	conn := &connection{nonce: fuzzNonce, conn: &discardConn{}}
	in := &splitInbound{t: t, data: data, available: at}
	action := s.drainFrames(conn, in)
	if action == gnet.None {
		in.available = len(data)
		action = s.drainFrames(conn, in)
	}
	return fmt.Sprintf("action %d consumed %d immediate %x submitted %v", action, in.position,
		conn.immediate, backend.log.String())
}

// splitInbound is an inbound buffer holding data[position:available].
type splitInbound struct {
	t         *testing.T
	data      []byte
	available int
	position  int
}

func (s *splitInbound) InboundBuffered() int { return s.available - s.position }

func (s *splitInbound) Peek(n int) ([]byte, error) {
	if n <= 0 {
		panic(fmt.Sprintf("Peek(%d): gnet would return everything buffered", n))
	}
	if n > s.InboundBuffered() {
		return nil, io.ErrShortBuffer
	}
	return s.data[s.position : s.position+n], nil
}

func (s *splitInbound) Discard(n int) (int, error) {
	if n <= 0 {
		panic(fmt.Sprintf("Discard(%d): gnet would discard everything buffered", n))
	}
	if n > s.InboundBuffered() {
		panic("Discard beyond the buffered bytes")
	}
	s.position += n
	return n, nil
}

// recordingBackend accepts every request and records it.
type recordingBackend struct{ log bytes.Buffer }

func (b *recordingBackend) Submit(r *backend.Request) model.Status {
	fmt.Fprintf(&b.log, "[%d %d %d %d %d %x]", r.Client, r.Session, r.Number, r.Operation,
		r.Flags, r.Body)
	return model.StatusOK
}

func (b *recordingBackend) ReplayReports(uint64, uint64, func([]backend.Report)) (uint64, uint64) {
	return 1, 1 // No report yet.
}

func (b *recordingBackend) SessionClosed(uint64, uint64, bool) {}

// discardConn stands in for gnet.Conn where only AsyncWrite can be reached (from a
// report replay); any other method panics through the nil embedded interface.
type discardConn struct{ gnet.Conn }

func (d *discardConn) AsyncWrite(_ []byte, callback gnet.AsyncCallback) error {
	if callback != nil {
		_ = callback(nil, io.ErrClosedPipe)
	}
	return nil
}
