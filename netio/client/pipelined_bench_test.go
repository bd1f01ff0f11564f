package client

import (
	"context"
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
)

// pipelinedBenchInflight is the calls one goroutine keeps in flight in
// BenchmarkPipelinedCalls, as `sequent bench --inflight 16` does per connection.
const pipelinedBenchInflight = 16

// BenchmarkPipelinedCalls: the load generator's shape (bench/worker.go): one goroutine
// keeps pipelinedBenchInflight one-event create_transfers calls in flight with GoInto,
// each reply copied into its slot's buffer, completions taken from a Done channel (no
// Wait), the freed slots refilled in corked bursts. The transfer has id 0, so the fake shard refuses it at once and the figure is
// the client's and the network layer's. cpu-ns/call is the whole process's CPU time
// (client and server, every goroutine: getrusage) per call; caller-cpu-ns/call the
// calling goroutine's thread alone (GoInto, the corked writes, taking completions),
// less disturbed by the server's share and by other load on the machine.
func BenchmarkPipelinedCalls(b *testing.B) {
	s := startTestServer(b)
	c := s.dial(b, func(config *Config) { config.InflightMax = pipelinedBenchInflight })
	ctx := context.Background()
	body := make([]byte, model.TransferSize)
	done := make(chan *Call, pipelinedBenchInflight)
	replies := make(map[*Call][]byte, pipelinedBenchInflight)
	free := make([][]byte, 0, pipelinedBenchInflight)
	for range pipelinedBenchInflight {
		free = append(free, make([]byte, 0, model.EventResultSize))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpuStart, callerStart := processCPUNanoseconds(), threadcpu.Now()
	sent, completed := 0, 0
	settle := func(call *Call) {
		if call.Err != nil || call.Reply.Status != model.StatusOK {
			b.Fatalf("call %d: %v %v", call.Number, call.Err, call.Reply.Status)
		}
		free = append(free, replies[call])
		delete(replies, call)
		completed++
	}
	for completed < b.N {
		// The freed slots are refilled in one corked burst (one write), as
		// worker.sendDueCorked does.
		c.Cork()
		for sent < b.N && len(free) > 0 {
			reply := free[len(free)-1]
			free = free[:len(free)-1]
			call := c.GoInto(ctx, model.OperationCreateTransfers, 0, body, reply, done)
			replies[call] = reply
			sent++
		}
		c.Uncork()
		settle(<-done)
		for ready := true; ready; { // The completions already delivered (completeReady).
			select {
			case call := <-done:
				settle(call)
			default:
				ready = false
			}
		}
	}
	cpu, callerCPU := processCPUNanoseconds()-cpuStart, threadcpu.Now()-callerStart
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/call")
	if threadcpu.Supported && callerCPU > 0 {
		b.ReportMetric(float64(callerCPU)/float64(b.N), "caller-cpu-ns/call")
	}
}
