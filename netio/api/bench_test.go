package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/core"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/wal"
)

// BenchmarkSingleTransfer compares the JSON API with the binary protocol on one shard in
// one run: 1 or 8 closed-loop clients (workers=) each send one transfer per request (HTTP:
// a signed POST /v1/transfers over a keep-alive connection; binary: create_transfers
// with one event on its own session), b.N requests per protocol, the two phases
// alternating in the same process. The log is in memory (no fsync), so the figures are
// the network layers' cost; both pay the same sequencer. Reported: requests/s and p99
// latency of each, and http/binary, the ratio of their requests/s (the goal:
// ≥ 0.3, with an HTTP p99 ≤ 5 ms). Client and server share the machine's cores.
//
//	go test ./netio/api -run '^$' -bench SingleTransfer -benchtime 20000x -count 5
func BenchmarkSingleTransfer(b *testing.B) {
	for _, workers := range []int{1, 8} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			benchmarkSingleTransfer(b, workers)
		})
	}
}

// benchmarkSingleTransfer runs both protocols with workers clients each, every client on
// its own keep-alive connection (binary: its own session).
func benchmarkSingleTransfer(b *testing.B, workers int) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := shard.New(shard.Config{Logger: logger}, core.New(core.Config{}), wal.NewMemoryLog())
	if err != nil {
		b.Fatal(err)
	}
	keys, _ := testKeys(b)
	if err := s.SetGrants(keys.GrantsBody()); err != nil {
		b.Fatal(err)
	}
	binary, err := netio.NewServer(netio.Config{Address: "127.0.0.1:0", Keys: keys, Logger: logger}, s)
	if err != nil {
		b.Fatal(err)
	}
	server, err := New(Config{Address: "127.0.0.1:0", Keys: keys, Logger: logger,
		InFlightMax: InFlightMaxDefault}, s)
	if err != nil {
		b.Fatal(err)
	}
	s.Start(shard.RepliesOnly(NewReplier(binary.Replier(), server)))
	if err := binary.Start(); err != nil {
		b.Fatal(err)
	}
	if err := server.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
		_ = binary.Shutdown(ctx)
		_ = s.Close()
	})
	binaryClients := make([]*client.Client, workers)
	for i := range binaryClients {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		binaryClients[i], err = client.Dial(ctx, client.Config{Addresses: []string{binary.Address()},
			Client: operatorClient, Key: 1, Secret: testSecret})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer binaryClients[i].Close()
	}
	ctx := context.Background()
	if _, err := binaryClients[0].CreateAccounts(ctx, []model.Account{
		{ID: model.U128(1), Ledger: 1, Code: 1}, {ID: model.U128(2), Ledger: 1, Code: 1}}); err != nil {
		b.Fatal(err)
	}
	httpClient := &fasthttp.HostClient{Addr: server.Address(), MaxConns: workers,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	signer := &Signer{Client: operatorClient, Key: 1, Secret: testSecret}
	var nextID atomic.Uint64
	sendHTTP := func() error {
		body := []byte(`{"id":"` + strconv.FormatUint(nextID.Add(1), 10) +
			`","debit_account_id":"1","credit_account_id":"2","amount":"1","ledger":1,"code":1}`)
		request, response := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(request)
		defer fasthttp.ReleaseResponse(response)
		header := http.Header{}
		if err := signer.Sign(header, "POST", "/v1/transfers", body); err != nil {
			return err
		}
		request.SetRequestURI("http://" + server.Address() + "/v1/transfers")
		request.Header.SetMethod("POST")
		request.Header.SetContentType("application/json")
		for name, values := range header {
			request.Header.Set(name, values[0])
		}
		request.SetBody(body)
		if err := httpClient.Do(request, response); err != nil {
			return err
		}
		if response.StatusCode() != fasthttp.StatusCreated {
			return &benchError{what: "HTTP " + strconv.Itoa(response.StatusCode()) + " " + string(response.Body())}
		}
		return nil
	}
	sendBinary := func(worker int) error {
		results, err := binaryClients[worker].CreateTransfers(ctx, []model.Transfer{{
			ID: model.U128(nextID.Add(1)), DebitAccountID: model.U128(1),
			CreditAccountID: model.U128(2), Amount: model.U128(1), Ledger: 1, Code: 1}})
		if err == nil && (len(results) != 1 || results[0].Status != model.StatusOK) {
			return &benchError{what: "binary: " + results[0].Status.String()}
		}
		return err
	}
	nextID.Store(1 << 40)
	b.ResetTimer()
	binaryRate, binaryP99 := closedLoop(b, workers, func(worker int) error { return sendBinary(worker) })
	httpRate, httpP99 := closedLoop(b, workers, func(int) error { return sendHTTP() })
	b.StopTimer()
	b.ReportMetric(httpRate, "http-requests/s")
	b.ReportMetric(float64(httpP99.Microseconds()), "http-p99-µs")
	b.ReportMetric(binaryRate, "binary-requests/s")
	b.ReportMetric(float64(binaryP99.Microseconds()), "binary-p99-µs")
	b.ReportMetric(httpRate/binaryRate, "http/binary")
}

type benchError struct{ what string }

func (e *benchError) Error() string { return e.what }

// closedLoop runs b.N requests over workers goroutines, each sending its next request
// when the previous one is answered, and returns requests/s and the p99 latency.
func closedLoop(b *testing.B, workers int, send func(worker int) error) (float64, time.Duration) {
	var remaining atomic.Int64
	remaining.Store(int64(b.N))
	latencies := make([][]time.Duration, workers)
	var group sync.WaitGroup
	var failure atomic.Pointer[error]
	start := time.Now()
	for worker := range workers {
		group.Add(1)
		go func() {
			defer group.Done()
			for remaining.Add(-1) >= 0 && failure.Load() == nil {
				sent := time.Now()
				if err := send(worker); err != nil {
					failure.Store(&err)
					return
				}
				latencies[worker] = append(latencies[worker], time.Since(sent))
			}
		}()
	}
	group.Wait()
	elapsed := time.Since(start)
	if err := failure.Load(); err != nil {
		b.Fatal(*err)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return float64(len(all)) / elapsed.Seconds(), all[min(len(all)-1, len(all)*99/100)]
}
