package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/wire"
)

// wireRunLimit bounds a wire-driver run in these tests: a guard against hangs, not a
// timing assertion.
const wireRunLimit = time.Minute

// wireConfig is the harness's configuration driven by the wire driver.
func wireConfig(h *harness) Config {
	config := h.config()
	config.Driver = DriverWire
	return config
}

// lookupRunTransfers looks up, on the server, every transfer id the run's connections
// can have used (sequences 1 to sequencesMax each; ids never sent are skipped by the
// lookup) and returns how many exist.
func lookupRunTransfers(t *testing.T, config *Config, sequencesMax uint64) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Addresses: config.Addresses,
		Client: config.Client, Key: config.Key, Secret: config.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ids := newIDSpace(config.Seed, config.RunID, config.ClientOrderIDsIncreasing)
	var wanted []model.Uint128
	for connection := range config.Connections {
		for sequence := uint64(1); sequence <= sequencesMax; sequence++ {
			wanted = append(wanted, ids.transfer(connection, sequence))
		}
	}
	found, err := c.LookupTransfers(ctx, wanted)
	if err != nil {
		t.Fatal(err)
	}
	return len(found)
}

// TestWireDriverCountsMatchServer runs the wire driver against a real server (netio in
// front of the fake shard) for each transfer workload and checks that every request was
// answered and counted as the client driver counts, that the invariant check passes,
// and that the transfers the report says were created are exactly those the server
// holds (looked up by id afterwards).
func TestWireDriverCountsMatchServer(t *testing.T) {
	h := newHarness(t, lieNone)
	for i, test := range []struct {
		mix    string
		events int
	}{{"single", 1}, {"single", 3}, {"two-phase", 2}, {"single=1,two-phase=1,linked=1", 4}} {
		t.Run(fmt.Sprintf("%s/%d", test.mix, test.events), func(t *testing.T) {
			config := wireConfig(h)
			config.Mix, _ = ParseMix(test.mix)
			config.Connections, config.Inflight, config.Events = 3, 16, test.events
			config.Count, config.RunID = 600, uint64(300+i)
			ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
			defer cancel()
			result, err := Run(ctx, config)
			if err != nil {
				t.Fatal(err)
			}
			report := &result.Report
			checkCounts(t, report, test.events)
			events := uint64(600 * test.events)
			if report.Config.Driver != "wire" || report.RequestsSent != 600 ||
				report.RequestsCompleted != 600 || report.Results["ok"] != events ||
				report.RequestStatuses["ok"] != 600 || len(report.RequestStatuses) != 1 {
				t.Fatalf("driver %s, sent %d, completed %d, results %v, statuses %v",
					report.Config.Driver, report.RequestsSent, report.RequestsCompleted,
					report.Results, report.RequestStatuses)
			}
			// Every created transfer is counted (posts and voids are transfers too).
			if report.Invariant.TransfersAccounted != events {
				t.Fatalf("%d transfers accounted for, want %d",
					report.Invariant.TransfersAccounted, events)
			}
			if found := lookupRunTransfers(t, &config, events); uint64(found) != events {
				t.Fatalf("the server holds %d of the run's transfers, the report %d", found,
					events)
			}
		})
	}
}

// TestWireDriverAbandonedAreLookedUp stalls the server so that every request is still
// outstanding at the drain deadline: the wire driver abandons them (failed, no reply),
// the server then applies them, the barrier on the connection waits for them, and the
// final lookup accounts for every one, so the invariant holds.
func TestWireDriverAbandonedAreLookedUp(t *testing.T) {
	h := newHarness(t, lieNone)
	config := wireConfig(h)
	config.Count, config.Duration = 0, 300*time.Millisecond
	config.DrainTimeout = 100 * time.Millisecond
	config.hooks.beforeLoad, config.hooks.afterLoad = h.backend.Pause, h.backend.Resume
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	report := &result.Report
	checkCounts(t, report, config.Events)
	want := uint64(config.Connections * config.Inflight)
	if report.RequestsSent != want || report.RequestStatuses["no_reply"] != want {
		t.Fatalf("sent %d, no reply %d: want %d each", report.RequestsSent,
			report.RequestStatuses["no_reply"], want)
	}
	events := want * uint64(config.Events)
	if report.Invariant.UnknownOutcomes != events ||
		report.Invariant.TransfersAccounted != events {
		t.Fatalf("%d looked up, %d accounted for: want %d each",
			report.Invariant.UnknownOutcomes, report.Invariant.TransfersAccounted, events)
	}
}

// startWireProxy forwards every connection it accepts to target, both ways, except the
// second (the first wire connection: the setup's Go client dials first), whose two
// sides intercept takes: it forwards both directions itself, altering what the test
// needs. Every connection is closed when the test ends. It returns the address.
func startWireProxy(t *testing.T, target string, intercept func(down, up net.Conn)) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = listener.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for accepted := 0; ; accepted++ {
			down, err := listener.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = down.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, down, up)
			mu.Unlock()
			if accepted == 1 {
				intercept(down, up)
				continue
			}
			go func() { _, _ = io.Copy(up, down) }()
			go func() { _, _ = io.Copy(down, up) }()
		}
	}()
	return listener.Addr().String()
}

// tamperingProxy lets tamper rewrite the server's frames to the first wire connection,
// one at a time, after re-encoding each.
type tamperingProxy struct {
	tamper func(frame []byte, replies int) (out []byte, hangUp bool)
}

func startTamperingProxy(t *testing.T, target string,
	tamper func(frame []byte, replies int) ([]byte, bool)) string {
	t.Helper()
	p := &tamperingProxy{tamper: tamper}
	return startWireProxy(t, target, func(down, up net.Conn) {
		go func() { _, _ = io.Copy(up, down) }()
		go p.rewrite(down, up)
	})
}

// rewrite copies the server's frames to the driver through tamper.
func (p *tamperingProxy) rewrite(down, up net.Conn) {
	defer func() { _ = down.Close() }()
	var decoder wire.Decoder
	var encoded []byte
	replies := 0
	for {
		if _, err := decoder.ReadFrom(up); err != nil {
			return
		}
		for {
			frame, ok, err := decoder.Next()
			if err != nil || !ok {
				break
			}
			if frame.Kind == wire.KindReply {
				replies++
			}
			encoded = wire.AppendFrame(encoded[:0], &frame, frame.Body)
			out, hangUp := p.tamper(encoded, replies)
			if _, err := down.Write(out); err != nil || hangUp {
				return
			}
		}
	}
}

// TestWireDriverEndsOnDamage: a damaged reply (bad checksum), an error frame, a frame
// the driver does not expect, a reply to a request not waiting for one and a lost
// connection each end the run with an error that says what happened, instead of being
// counted or waited out.
func TestWireDriverEndsOnDamage(t *testing.T) {
	const tamperedReply = 10 // Well inside the run's 200 requests.
	errorFrame := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindError,
		Status: uint32(wire.ErrorInternal)}, []byte("planted"))
	subscribed := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribed},
		make([]byte, wire.SubscribedSize))
	for _, test := range []struct {
		name   string
		tamper func(frame []byte) ([]byte, bool)
		want   string // In the error; alternatives separated by "|".
	}{
		{"bad checksum", func(frame []byte) ([]byte, bool) {
			checksum := binary.LittleEndian.Uint32(frame[44:])
			binary.LittleEndian.PutUint32(frame[44:], checksum^1)
			return frame, false
		}, "checksum"},
		{"error frame", func([]byte) ([]byte, bool) { return errorFrame, false }, "internal"},
		{"unexpected kind", func([]byte) ([]byte, bool) { return subscribed, false },
			"unexpected subscribed"},
		{"reply twice", func(frame []byte) ([]byte, bool) {
			return append(frame, frame...), false
		}, "not waiting"},
		// A cut connection is seen by whichever of the driver's read or write meets it
		// first (EOF, or a broken pipe when a burst goes out first: CI run s37b).
		{"connection lost", func([]byte) ([]byte, bool) { return nil, true }, "read|write"},
	} {
		t.Run(test.name, func(t *testing.T) {
			h := newHarness(t, lieNone)
			config := wireConfig(h)
			config.Connections, config.Inflight, config.Events, config.Count = 1, 4, 1, 200
			config.Addresses = []string{startTamperingProxy(t, h.address,
				func(frame []byte, replies int) ([]byte, bool) {
					if replies == tamperedReply && frame[5] == byte(wire.KindReply) {
						return test.tamper(frame)
					}
					return frame, false
				})}
			ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
			defer cancel()
			result, err := Run(ctx, config)
			if err == nil {
				t.Fatalf("the run ended without an error: %+v", result.Report)
			}
			if ctx.Err() != nil {
				t.Fatalf("the run was not ended by the damage: %v", err)
			}
			t.Logf("the run ended with: %v", err)
			named := false
			for _, want := range strings.Split(test.want, "|") {
				named = named || strings.Contains(err.Error(), want)
			}
			if !named || !strings.Contains(err.Error(), "wire driver: connection 0") ||
				errors.Is(err, ErrUnreachable) {
				t.Fatalf("error %q: want it to name connection 0 and %q", err, test.want)
			}
		})
	}
}

// TestWireDriverRefusesWhatItDoesNotDrive: the wire driver's unsupported settings are
// configuration errors naming what is supported.
func TestWireDriverRefusesWhatItDoesNotDrive(t *testing.T) {
	base := Config{Addresses: []string{"127.0.0.1:1"}, Driver: DriverWire, Count: 1}
	orders, _ := ParseMix("orders")
	for _, test := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"callers", func(c *Config) { c.Callers = 4 }, "callers"},
		{"open loop", func(c *Config) { c.Rate = 100 }, "open loop"},
		{"orders", func(c *Config) { c.Mix = orders }, "orders"},
		{"market data", func(c *Config) { c.MarketDataSubscribers = 1 }, "market-data"},
		{"unknown driver", func(c *Config) { c.Driver = driverCount }, "unknown driver"},
	} {
		config := base
		test.change(&config)
		err := config.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: error %v, want one naming %q", test.name, err, test.want)
		}
		if test.name != "unknown driver" && !strings.Contains(fmt.Sprint(err),
			"closed loop of the transfer workloads") {
			t.Errorf("%s: error %v does not say what is supported", test.name, err)
		}
	}
	if err := base.WithDefaults().Validate(); err != nil {
		t.Fatalf("the supported setting is refused: %v", err)
	}
	for _, text := range []string{"client", "wire"} {
		if driver, err := ParseDriver(text); err != nil || driver.String() != text {
			t.Errorf("ParseDriver(%q) = %v, %v", text, driver, err)
		}
	}
	if _, err := ParseDriver("lean"); err == nil {
		t.Error("ParseDriver accepted an unknown driver")
	}
}

// TestWireDriverInterruptDrains cancels a long wire-driver run once some transfers were
// answered: sending stops, the replies still on their way are read (not abandoned), and
// the run verifies as usual.
func TestWireDriverInterruptDrains(t *testing.T) {
	const answeredBeforeInterrupt = 20
	h := newHarness(t, lieNone)
	config := wireConfig(h)
	config.Count, config.Duration = 0, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var transfers atomic.Int64 // Transfers answered.
	hook := func(replies []backend.Reply) {
		for _, reply := range replies {
			if reply.Operation == model.OperationCreateTransfers &&
				transfers.Add(1) == answeredBeforeInterrupt {
				cancel()
			}
		}
	}
	h.replier.beforeDeliver.Store(&hook)
	guard := time.AfterFunc(wireRunLimit, cancel) // A hang guard: the run lasts an hour.
	defer guard.Stop()
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	report := &result.Report
	checkCounts(t, report, config.Events)
	if report.RequestsCompleted == 0 || report.RequestsFailed != 0 {
		t.Fatalf("%d completed, %d failed (statuses %v): want every request answered",
			report.RequestsCompleted, report.RequestsFailed, report.RequestStatuses)
	}
}

// holdingProxy holds back the first wire connection's request frames, in order, until
// release or until the driver sends a lookup_accounts request (the barrier's), which it
// forwards behind them. Every other frame, and every other connection, passes at once.
type holdingProxy struct {
	proxyAddress string
	mu           sync.Mutex
	up           net.Conn // The held connection's side towards the server.
	held         []byte   // Request frames held back, in the order sent.
	count        int      // Frames in held.
	released     bool     // Nothing is held any more.
}

func startHoldingProxy(t *testing.T, target string) *holdingProxy {
	t.Helper()
	p := &holdingProxy{}
	p.proxyAddress = startWireProxy(t, target, func(down, up net.Conn) {
		go func() { _, _ = io.Copy(down, up) }()
		p.mu.Lock()
		p.up = up
		p.mu.Unlock()
		go p.hold(down, up)
	})
	return p
}

func (p *holdingProxy) address() string { return p.proxyAddress }

// hold copies the driver's frames to the server, holding back its requests.
func (p *holdingProxy) hold(down, up net.Conn) {
	defer func() { _ = up.Close() }()
	var decoder wire.Decoder
	for {
		if _, err := decoder.ReadFrom(down); err != nil {
			return
		}
		for {
			frame, ok, err := decoder.Next()
			if err != nil || !ok {
				break
			}
			encoded := wire.AppendFrame(nil, &frame, frame.Body)
			p.mu.Lock()
			switch {
			case p.released || frame.Kind != wire.KindRequest:
			case frame.Operation == model.OperationLookupAccounts:
				p.releaseLocked() // The barrier: it goes behind what was held.
			default:
				p.held = append(p.held, encoded...)
				p.count++
				encoded = nil
			}
			_, err = up.Write(encoded)
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// release forwards the frames held so far (none: nothing to release yet, and holding
// goes on) and returns how many they were.
func (p *holdingProxy) release() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.releaseLocked()
}

func (p *holdingProxy) releaseLocked() int {
	if p.released || p.count == 0 {
		return 0
	}
	p.released = true
	_, _ = p.up.Write(p.held)
	return p.count
}

// TestWireDriverBarrierPrecedesLookup pins the wire driver's barrier: the requests
// abandoned at the drain deadline have not reached the server yet (a proxy holds them,
// as a slow network or a server slow to read would), so the final lookup of their
// transfers, on the setup's other connection, may not find them, and they are applied
// after it. The barrier (one lookup on the abandoned requests' connection, answered
// only once they are applied, in order) must come first. Without it the proxy releases
// them only when the final lookup has been answered — and has them submitted before the
// read-back — so the invariant check finds balances moved by transfers it did not
// account for.
func TestWireDriverBarrierPrecedesLookup(t *testing.T) {
	const submissionLimit = 20 * time.Second // A hang guard, not a timing assertion.
	h := newHarness(t, lieNone)
	proxy := startHoldingProxy(t, h.address)
	config := wireConfig(h)
	config.Addresses = []string{proxy.address()}
	config.Connections, config.Count, config.Duration = 1, 0, 300*time.Millisecond
	config.DrainTimeout = 100 * time.Millisecond
	var guardExpired atomic.Bool
	hook := func(replies []backend.Reply) {
		for _, reply := range replies {
			if reply.Operation != model.OperationLookupTransfers {
				continue
			}
			// The final lookup was applied and is about to be answered: the held
			// requests go now and are submitted before its answer leaves, so before the
			// read-back's lookups.
			submitted := h.backend.Submitted()
			released := proxy.release()
			for limit := time.Now().Add(submissionLimit); h.backend.Submitted() <
				submitted+released; {
				if time.Now().After(limit) {
					guardExpired.Store(true)
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	h.replier.beforeDeliver.Store(&hook)
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	if guardExpired.Load() {
		t.Fatal("the released requests were never submitted")
	}
	report := &result.Report
	checkCounts(t, report, config.Events)
	want := uint64(config.Inflight)
	if report.RequestsSent != want || report.RequestStatuses["no_reply"] != want {
		t.Fatalf("sent %d, no reply %d: want %d each (every request held)",
			report.RequestsSent, report.RequestStatuses["no_reply"], want)
	}
	events := want * uint64(config.Events)
	if !report.InvariantOK || report.Invariant.UnknownOutcomes != events ||
		report.Invariant.TransfersAccounted != events {
		t.Fatalf("invariant ok %v (%d problems); %d looked up, %d accounted for: want %d each",
			report.InvariantOK, report.Invariant.ProblemCount,
			report.Invariant.UnknownOutcomes, report.Invariant.TransfersAccounted, events)
	}
}

// TestWireDriverEndsOnSilence: a server that stops answering but keeps the connection
// open (frozen, or a network that drops its packets) is a lost connection once the
// challenge's silence timeout passes without a frame (PROTOCOL.md section 4, heartbeat):
// the run ends with an error naming the connection, instead of waiting for ever in a run
// by count (or, in a timed run, counting the silence as requests without a reply). The
// proxy shortens the announced heartbeat and silence timeout so that the test is quick.
func TestWireDriverEndsOnSilence(t *testing.T) {
	const (
		silentAfterReplies = 10 // Well inside the run's 200 requests.
		heartbeatMs        = 50
		silenceMs          = 300
		// silenceGuard ends the run (as an interrupt) when the driver does not notice the
		// silence: a hang guard, not a timing assertion.
		silenceGuard = 10 * time.Second
	)
	h := newHarness(t, lieNone)
	config := wireConfig(h)
	config.Connections, config.Inflight, config.Events, config.Count = 1, 4, 1, 200
	config.DrainTimeout = time.Second
	config.Addresses = []string{startTamperingProxy(t, h.address,
		func(frame []byte, replies int) ([]byte, bool) {
			header, err := wire.DecodeHeader(frame)
			switch {
			case err != nil:
				panic(err)
			case header.Kind == wire.KindChallenge:
				var challenge wire.Challenge
				challenge.Decode(frame[wire.HeaderSize:])
				challenge.HeartbeatIntervalMs, challenge.SilenceTimeoutMs = heartbeatMs, silenceMs
				body := make([]byte, len(frame)-wire.HeaderSize)
				challenge.Encode(body)
				return wire.AppendFrame(nil, &header, body), false
			case replies >= silentAfterReplies:
				return nil, false // Replies and heartbeats alike are swallowed.
			}
			return frame, false
		})}
	ctx, cancel := context.WithTimeout(context.Background(), silenceGuard)
	defer cancel()
	result, err := Run(ctx, config)
	if err == nil {
		t.Fatalf("the run ended without an error: sent %d, completed %d, statuses %v",
			result.Report.RequestsSent, result.Report.RequestsCompleted,
			result.Report.RequestStatuses)
	}
	if ctx.Err() != nil {
		t.Fatalf("the run was not ended by the silence: %v", err)
	}
	t.Logf("the run ended with: %v", err)
	if !strings.Contains(err.Error(), "silent") ||
		!strings.Contains(err.Error(), "wire driver: connection 0") {
		t.Fatalf("error %q: want it to name connection 0 and the silence", err)
	}
}

// TestWireDriverRepliesOutOfOrder: replies may come in any order (PROTOCOL.md: match each
// reply by number, never by position). A proxy swaps the server's replies two by two,
// with a heartbeat between the two, and holds one reply back until the driver has sent
// the highest number the exactly-once window allows while it is unanswered (255 above
// it): the driver must match every reply through the number → slot ring (wrapped four
// times in this run), never give a number 256 or more above the held one, and resume
// once the held reply comes. Every request is answered and counted once.
func TestWireDriverRepliesOutOfOrder(t *testing.T) {
	const (
		requests = 1000 // Numbers 1 to 1000: the ring of 256 wraps.
		held     = 5    // The reply held back.
	)
	heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil)
	var pair, stash []byte // A reply waiting for its partner; the held reply.
	var overWindow atomic.Uint64
	tamper := func(frame []byte, _ int) ([]byte, bool) {
		header, err := wire.DecodeHeader(frame)
		if err != nil {
			panic(err)
		}
		switch {
		case header.Kind == wire.KindHeartbeat && pair != nil:
			// Idle: release the reply waiting for a partner (the run's last one, say).
			out := append(append([]byte(nil), frame...), pair...)
			pair = nil
			return out, false
		case header.Kind != wire.KindReply:
			return frame, false
		case header.Number == held:
			stash = append([]byte(nil), frame...)
			return nil, false
		case stash != nil && header.Number >= held+wireNumberWindow:
			overWindow.Store(header.Number)
		}
		var out []byte
		if pair == nil {
			pair = append([]byte(nil), frame...)
		} else {
			out = append(append(append(out, frame...), heartbeat...), pair...)
			pair = nil
		}
		if stash != nil && header.Number == held+wireNumberWindow-1 {
			out = append(out, stash...)
			stash = nil
		}
		return out, false
	}
	h := newHarness(t, lieNone)
	config := wireConfig(h)
	config.Connections, config.Inflight, config.Events, config.Count = 1, 16, 2, requests
	config.Addresses = []string{startTamperingProxy(t, h.address, tamper)}
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	if number := overWindow.Load(); number != 0 {
		t.Fatalf("request %d sent while request %d had no reply", number, held)
	}
	report := &result.Report
	checkCounts(t, report, config.Events)
	if report.RequestsSent != requests || report.RequestsCompleted != requests ||
		report.Invariant.TransfersAccounted != requests*uint64(config.Events) {
		t.Fatalf("sent %d, completed %d (statuses %v), %d transfers accounted for",
			report.RequestsSent, report.RequestsCompleted, report.RequestStatuses,
			report.Invariant.TransfersAccounted)
	}
}

// TestWireDriverSurvivesLongSetup: the setup (creating and reading back up to AccountsMax
// accounts through the Go client) may take longer than the server's silence timeout.
// Wire connections logged in before it would sit through it without a heartbeat (their
// goroutines start with the load), be closed by the server for silence, and fail the
// run at its first burst. The server here announces a short silence timeout, and the
// setup's replies are held, while a wire connection is already logged in, until the
// server has ended that connection's session.
func TestWireDriverSurvivesLongSetup(t *testing.T) {
	const sessionEndLimit = 20 * time.Second // A hang guard, not a timing assertion.
	h := newHarnessWith(t, lieNone, func(c *netio.Config) {
		c.HeartbeatInterval, c.SilenceTimeout = 50*time.Millisecond, 300*time.Millisecond
	})
	var wireLoggedIn, loadStarted, waited atomic.Bool
	config := wireConfig(h)
	config.Connections = 1
	// The proxy's second connection is the wire driver's: its challenge marks its login.
	config.Addresses = []string{startTamperingProxy(t, h.address,
		func(frame []byte, _ int) ([]byte, bool) {
			if frame[5] == byte(wire.KindChallenge) {
				wireLoggedIn.Store(true)
			}
			return frame, false
		})}
	config.hooks.beforeLoad = func() { loadStarted.Store(true) }
	hook := func([]backend.Reply) {
		if loadStarted.Load() || !wireLoggedIn.Load() || waited.Load() {
			return
		}
		waited.Store(true) // A setup reply: it waits until the wire session has ended.
		for limit := time.Now().Add(sessionEndLimit); len(h.backend.SessionEnds()) == 0 &&
			time.Now().Before(limit); {
			time.Sleep(time.Millisecond)
		}
	}
	h.replier.beforeDeliver.Store(&hook)
	ctx, cancel := context.WithTimeout(context.Background(), wireRunLimit)
	defer cancel()
	result, err := Run(ctx, config)
	if err != nil {
		t.Fatalf("the run failed (the wire connection was idle through the setup: %v): %v",
			waited.Load(), err)
	}
	checkCounts(t, &result.Report, config.Events)
	if result.Report.RequestsCompleted != uint64(config.Count) {
		t.Fatalf("completed %d of %d", result.Report.RequestsCompleted, config.Count)
	}
}

// TestWireLoopSplitFrames drives one worker's wire loop over an in-memory pipe whose
// reads never span two writes: the fake server writes every reply, and a heartbeat after
// every third, in two pieces cut at a different place each time (inside the header,
// inside the body), so that reads end inside frames. Every reply must still be matched
// and settled once (300 requests: the number ring wraps).
func TestWireLoopSplitFrames(t *testing.T) {
	const requests = 300
	config := Config{Addresses: []string{"pipe"}, Connections: 1, Inflight: 16, Events: 1,
		Count: requests}.WithDefaults()
	r := newRun(config)
	r.start = time.Now()
	driverEnd, serverEnd := net.Pipe()
	guard := time.AfterFunc(wireRunLimit, func() { _ = driverEnd.Close() }) // Hang guard.
	defer guard.Stop()
	const session = 99
	w := newWorker(0, r, nil, &recorder{interval: newSample()})
	w.wire = &wireConnection{conn: driverEnd, session: session, next: 1, oldest: 1,
		heartbeatNs: int64(time.Hour), silenceNs: int64(2 * time.Hour),
		heartbeat: wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat,
			Session: session}, nil)}
	numbers := make(chan uint64, requests)
	var served sync.WaitGroup
	served.Go(func() { // Reads the requests.
		defer close(numbers)
		var decoder wire.Decoder
		for {
			if _, err := decoder.ReadFrom(serverEnd); err != nil {
				return
			}
			for {
				frame, ok, err := decoder.Next()
				if err != nil || !ok {
					break
				}
				if frame.Kind == wire.KindRequest {
					numbers <- frame.Number
				}
			}
		}
	})
	served.Go(func() { // Answers them: every transfer ok, each frame in two writes.
		heartbeat := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat,
			Session: session}, nil)
		body := make([]byte, model.EventResultSize) // Status 0: ok.
		cut := 0
		writeSplit := func(frame []byte) bool {
			cut = cut%(len(frame)-1) + 1
			_, err := serverEnd.Write(frame[:cut])
			if err == nil {
				_, err = serverEnd.Write(frame[cut:])
			}
			cut += 7
			return err == nil
		}
		for number := range numbers {
			reply := wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
				Operation: model.OperationCreateTransfers, Session: session,
				Number: number}, body)
			if !writeSplit(reply) || number%3 == 0 && !writeSplit(heartbeat) {
				return
			}
		}
	})
	err := w.wireLoop(context.Background())
	_ = driverEnd.Close()
	_ = serverEnd.Close()
	served.Wait()
	if err != nil {
		t.Fatal(err)
	}
	s := w.recorder.interval
	if w.outstanding != 0 || s.requestsSent != requests || s.requestsCompleted != requests ||
		s.eventsCompleted != requests {
		t.Fatalf("outstanding %d; sent %d, completed %d, events %d: want %d each",
			w.outstanding, s.requestsSent, s.requestsCompleted, s.eventsCompleted, requests)
	}
}

// TestWireDriverEndsOnServerNotReading: a server that stops reading while its connection
// stays open (frozen) blocks the driver's write of a burst larger than the socket
// buffers. The write must give up once it has been unfinished for the silence timeout
// (at most twice that), and the run end with an error naming the connection, instead of
// hanging for ever (an interrupt does not wake a write).
// The proxy forwards the login, then reads nothing more from the driver; it announces a
// 300 ms silence timeout so that the test is quick.
func TestWireDriverEndsOnServerNotReading(t *testing.T) {
	const (
		silenceMs = 300
		// runGuard bounds the wait for the run to return: a hang guard, not a timing
		// assertion.
		runGuard = 20 * time.Second
	)
	h := newHarness(t, lieNone)
	address := startWireProxy(t, h.address, func(down, up net.Conn) {
		go func() { // The challenge, with a short silence timeout, then the rest.
			var decoder wire.Decoder
			for {
				frame, ok, err := decoder.Next()
				if err != nil {
					return
				}
				if ok {
					var challenge wire.Challenge
					challenge.Decode(frame.Body)
					challenge.HeartbeatIntervalMs = silenceMs / 3
					challenge.SilenceTimeoutMs = silenceMs
					body := make([]byte, len(frame.Body))
					challenge.Encode(body)
					encoded := wire.AppendFrame(nil, &frame, body)
					if _, err := down.Write(encoded); err != nil {
						return
					}
					break
				}
				if _, err := decoder.ReadFrom(up); err != nil {
					return
				}
			}
			_, _ = io.Copy(down, up) // Nothing buffered: the server waits for a login.
		}()
		go func() { // The login only; then the driver's bytes are never read.
			login := make([]byte, wire.HeaderSize+wire.LoginSize)
			if _, err := io.ReadFull(down, login); err == nil {
				_, _ = up.Write(login)
			}
		}()
	})
	config := wireConfig(h)
	// 16 requests of 8190 transfers: a 16 MiB burst, more than the socket buffers hold.
	config.Connections, config.Inflight, config.Events, config.Count = 1, 16, EventsMax, 100
	config.Addresses = []string{address}
	type ended struct {
		result *Result
		err    error
	}
	done := make(chan ended, 1)
	go func() {
		result, err := Run(context.Background(), config)
		done <- ended{result, err}
	}()
	var end ended
	select {
	case end = <-done:
	case <-time.After(runGuard):
		t.Fatalf("the run still waits %s after the server stopped reading", runGuard)
	}
	if end.err == nil {
		t.Fatalf("the run ended without an error: %+v", end.result.Report)
	}
	t.Logf("the run ended with: %v", end.err)
	if !strings.Contains(end.err.Error(), "write") ||
		!strings.Contains(end.err.Error(), "wire driver: connection 0") {
		t.Fatalf("error %q: want it to name connection 0 and the write", end.err)
	}
}
