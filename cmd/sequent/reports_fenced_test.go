package main

import (
	"net"
	"testing"
	"time"

	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/wire"
)

// fencedTestReadLimit bounds every read of TestFencedNodeTellsItsReportSubscribers (a
// hang guard, not a measure: the node's publisher rechecks every 100 ms).
const fencedTestReadLimit = time.Minute

// reportSubscriber is a raw protocol connection to a node, logged in with the
// development key and subscribed to its execution reports from 0.
type reportSubscriber struct {
	t       *testing.T
	conn    net.Conn
	decoder wire.Decoder
	session uint64
}

func subscribeToReports(t *testing.T, address string, dev netio.DevKey,
	session uint64) *reportSubscriber {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, fencedTestReadLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &reportSubscriber{t: t, conn: conn, session: session}
	challengeFrame, err := r.next()
	if err != nil || challengeFrame.Kind != wire.KindChallenge {
		t.Fatalf("challenge: %s %v", challengeFrame.Kind, err)
	}
	var challenge wire.Challenge
	challenge.Decode(challengeFrame.Body)
	login := wire.Login{Client: dev.Client, Key: dev.Key}
	login.Signature = wire.Sign(mustDecodeSecret(t, dev.Secret), &challenge.Nonce,
		dev.Client, dev.Key, 0, session)
	body := make([]byte, wire.LoginSize)
	login.Encode(body)
	r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin, Session: session}, body))
	if frame, err := r.next(); err != nil || frame.Kind != wire.KindLoginAccepted {
		t.Fatalf("login: %s %v", frame.Kind, err)
	}
	subscribe := make([]byte, wire.SubscribeSize)
	(&wire.Subscribe{}).Encode(subscribe)
	r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindSubscribe, Session: session},
		subscribe))
	return r
}

func (r *reportSubscriber) write(frame []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(frame); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame other than a heartbeat (each answered, so that the node
// does not time the connection out), or the read's error.
func (r *reportSubscriber) next() (wire.Frame, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(fencedTestReadLimit))
	for {
		frame, ok, err := r.decoder.Next()
		if err != nil {
			return wire.Frame{}, err
		}
		if ok && frame.Kind == wire.KindHeartbeat {
			r.write(wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat,
				Session: r.session}, nil))
			continue
		}
		if ok {
			frame.Body = append([]byte(nil), frame.Body...)
			return frame, nil
		}
		if _, err := r.decoder.ReadFrom(r.conn); err != nil {
			return wire.Frame{}, err
		}
	}
}

// expectShuttingDown reads the error frame shutting_down, then the close.
func (r *reportSubscriber) expectShuttingDown(what string) {
	r.t.Helper()
	frame, err := r.next()
	if err != nil {
		r.t.Fatalf("%s: the connection ended without the error frame shutting_down: %v",
			what, err)
	}
	if frame.Kind != wire.KindError || wire.ErrorCode(frame.Status) != wire.ErrorShuttingDown {
		r.t.Fatalf("%s: %s frame status %d, want the error frame shutting_down", what,
			frame.Kind, frame.Status)
	}
	if frame, err := r.next(); err == nil {
		r.t.Fatalf("%s: a %s frame after the error frame, want the close", what, frame.Kind)
	}
}

// TestFencedNodeTellsItsReportSubscribers (report44; PROTOCOL.md section 8): serve tells
// netio when a shard is fenced (marketDataConfig's Fenced, distinct from a standby's
// Serving false), so that a deposed primary closes its execution-report subscribers
// with the error frame shutting_down and answers a new report subscribe so too, on
// which a client resumes at another address. Without that word netio cannot tell a
// fenced node from a standby, whose report streams are live: a subscription taken
// there after the fence was accepted and sent heartbeats only, and so was one taken
// before it.
func TestFencedNodeTellsItsReportSubscribers(t *testing.T) {
	running, _, dev := startDevNode(t, shardmap.Spec{})
	before := subscribeToReports(t, running.server.Address(), dev, 7)
	if frame, err := before.next(); err != nil || frame.Kind != wire.KindSubscribed ||
		frame.Status != 0 {
		t.Fatalf("at the primary: %s status %d (%v), want subscribed", frame.Kind,
			frame.Status, err)
	}
	s := running.groups.Shards()[0]
	s.Fence(s.Epoch()+1, "") // A standby was promoted: it numbers the reports now.
	after := subscribeToReports(t, running.server.Address(), dev, 8)
	after.expectShuttingDown("a report subscribe at the fenced node")
	before.expectShuttingDown("the report subscriber of the node, once fenced")
}
