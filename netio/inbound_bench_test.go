package netio

import (
	"encoding/hex"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio/wire"
)

// BenchmarkServerInbound measures what the server spends on one request frame it reads
// (drainFrames: header checks, checksum, session and permission checks, Submit to a
// backend that does nothing), with the frame checksum verified (login as usual) and
// unverified (login option bit 1, LoginUncheckedFrames). The difference is what CRC32C
// costs the server per frame; the bytes/s of the checked run against the unchecked one
// give its share. Run:
//
//	go test ./netio -run '^$' -bench ServerInbound -count 5
func BenchmarkServerInbound(b *testing.B) {
	for _, events := range []int{1, model.EventsPerRequestMax} {
		for _, unchecked := range []bool{false, true} {
			name := "checked"
			if unchecked {
				name = "unchecked"
			}
			b.Run(name+"/transfers="+itoa(events), func(b *testing.B) {
				benchmarkInbound(b, events, unchecked)
			})
		}
	}
}

func itoa(n int) string {
	if n == 1 {
		return "1"
	}
	return "8189"
}

// nullBackend accepts every request and does nothing with it.
type nullBackend struct{}

func (nullBackend) Submit(*backend.Request) model.Status { return model.StatusOK }
func (nullBackend) ReplayReports(uint64, uint64, func([]backend.Report)) (uint64, uint64) {
	return 1, 1 // No report yet.
}
func (nullBackend) SessionClosed(uint64, uint64, bool) {}

// repeatingInbound serves the same frame over and over, count times.
type repeatingInbound struct {
	frame []byte
	left  int
}

func (r *repeatingInbound) InboundBuffered() int {
	if r.left == 0 {
		return 0
	}
	return len(r.frame)
}

func (r *repeatingInbound) Peek(n int) ([]byte, error) { return r.frame[:n], nil }

func (r *repeatingInbound) Discard(n int) (int, error) {
	r.left--
	return n, nil
}

func benchmarkInbound(b *testing.B, events int, unchecked bool) {
	keys, err := NewKeyring(KeysFile{Version: KeysFileVersion, Clients: []KeysFileClient{{
		ID: 1, Permissions: []string{"read", "transfer"},
		Keys: []KeysFileKey{{ID: 1, Secret: hex.EncodeToString(fuzzSecret)}}}}})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(Config{Keys: keys}, nullBackend{})
	if err != nil {
		b.Fatal(err)
	}
	s.log = newAsyncLogger(nil)
	defer s.log.close()
	options := uint32(0)
	appendFrame := wire.AppendFrame
	if unchecked {
		options, appendFrame = wire.LoginUncheckedFrames, wire.AppendFrameUnchecked
	}
	login := wire.Login{Client: 1, Key: 1, Options: options}
	login.Signature = wire.Sign(fuzzSecret, &fuzzNonce, 1, 1, options, 5)
	loginBody := make([]byte, wire.LoginSize)
	login.Encode(loginBody)
	conn := &connection{nonce: fuzzNonce, conn: &discardConn{}}
	loginFrame := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin, Session: 5}, loginBody)
	if s.drainFrames(conn, &repeatingInbound{frame: loginFrame, left: 1}) != gnet.None {
		b.Fatalf("login refused: %x", conn.immediate)
	}
	conn.immediate = conn.immediate[:0]
	request := appendFrame(nil, &wire.Frame{Kind: wire.KindRequest,
		Operation: model.OperationCreateTransfers, Session: 5, Number: 1},
		make([]byte, events*model.TransferSize))
	b.SetBytes(int64(len(request)))
	b.ReportAllocs()
	for b.Loop() {
		if s.drainFrames(conn, &repeatingInbound{frame: request, left: 1}) != gnet.None {
			b.Fatalf("request refused: %x", conn.immediate)
		}
	}
	b.ReportMetric(float64(b.N)*float64(events)/b.Elapsed().Seconds(), "transfers/s")
}
