package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"sequent/tools/natstest"
)

// ackSamples are answers as JetStream writes them (nats-server's stream.go: the stored
// answer appends the sequence to a prefix made with %q, a duplicate adds `,"duplicate":
// true}` with its space, a refusal is encoding/json of its response) and variations a
// JSON writer may make.
var ackSamples = []string{
	`{"stream":"SEQUENT_0","seq":12}`,
	`{"stream":"SEQUENT_0","domain":"hub","seq":12}`,
	`{"stream":"SEQUENT_0","seq":7,"duplicate": true}`,
	`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 11"},"stream":"SEQUENT_0","seq":0}`,
	`{"error":{"code":400,"err_code":10070,"description":"wrong last msg ID: 0:1:0:1"}}`,
	` { "seq" : 3 , "stream" : "S\u0041" , "x" : [1, {"y": null}, -2.5e3, "z"] } `,
	`{"stream":"S","seq":1,"duplicate":false,"error":null}`,
}

func TestParseAckAnswers(t *testing.T) {
	for _, test := range []struct {
		data      string
		stream    string
		sequence  uint64
		duplicate bool
		errorCode uint64 // A refusal with this err_code.
	}{
		{data: ackSamples[0], stream: "SEQUENT_0", sequence: 12},
		{data: ackSamples[1], stream: "SEQUENT_0", sequence: 12},
		{data: ackSamples[2], stream: "SEQUENT_0", sequence: 7, duplicate: true},
		{data: ackSamples[3], errorCode: 10071},
		{data: ackSamples[4], errorCode: 10070},
		{data: ackSamples[5], stream: "SA", sequence: 3},
		{data: ackSamples[6], stream: "S", sequence: 1},
	} {
		answer, err := parseAck([]byte(test.data))
		if test.errorCode != 0 {
			var refusal *ackError
			if !errors.As(err, &refusal) || refusal.errorCode != test.errorCode {
				t.Errorf("%s: error %v, want a refusal with err_code %d", test.data, err,
					test.errorCode)
			}
			continue
		}
		if err != nil || !answer.streamIs(test.stream) || answer.sequence != test.sequence ||
			answer.duplicate != test.duplicate {
			t.Errorf("%s: %+v (stream %q), %v; want stream %s, seq %d, duplicate %v",
				test.data, answer, answer.stream, err, test.stream, test.sequence, test.duplicate)
		}
	}
}

func TestParseAckRefusesWhatIsNotAnAnswer(t *testing.T) {
	for _, data := range []string{
		``, `null`, `[]`, `{}`, `{"seq":1}`, `{"stream":"","seq":1}`, `{"stream":"S"}`,
		`{"stream":"S","seq":-1}`, `{"stream":"S","seq":1.5}`, `{"stream":"S","seq":1e3}`,
		`{"stream":"S","seq":18446744073709551616}`, `{"stream":"S","seq":01}`,
		`{"stream":"S","seq":"1"}`, `{"stream":S,"seq":1}`, `{"stream":"S","seq":1,}`,
		`{"stream":"S","seq":1}x`, `{"stream":"S","seq":1`, `{"stream":"S" "seq":1}`,
		`{"stream":"S\x","seq":1}`, `{"stream":"S\u12","seq":1}`, "{\"stream\":\"S\n\",\"seq\":1}",
		`{"stream":"S","seq":1,"duplicate":1}`, `{"stream":"S","seq":1,"duplicate":nul}`,
		`{"stream":"S","seq":1,"x":` + strings.Repeat("[", ackNestingMax+2) +
			strings.Repeat("]", ackNestingMax+2) + `}`,
		`{"stream":"S","seq":1,"pad":"` + strings.Repeat("a", ackBytesMax) + `"}`,
	} {
		if answer, err := parseAck([]byte(data)); err == nil {
			t.Errorf("%q read as %+v, want an error", data, answer)
		}
	}
}

// FuzzParseAck: parseAck reads bytes from the network. It must never panic or read past
// them, accept only valid JSON, and agree with encoding/json on what it accepts: the
// stream, the sequence and the duplicate flag (keys as written, the last of a repeated
// key winning, as encoding/json's map does), no "error" but null.
func FuzzParseAck(f *testing.F) {
	for _, sample := range ackSamples {
		f.Add([]byte(sample))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		answer, err := parseAck(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("%q: accepted, not valid JSON", data)
		}
		decoder := json.NewDecoder(bytes.NewReader(data))
		decoder.UseNumber()
		var fields map[string]any
		if err := decoder.Decode(&fields); err != nil {
			t.Fatalf("%q: accepted, encoding/json: %v", data, err)
		}
		if refusal, ok := fields["error"]; ok && refusal != nil {
			t.Fatalf("%q: accepted with an error %v", data, refusal)
		}
		stream, _ := fields["stream"].(string)
		if stream == "" || !answer.streamIs(stream) {
			t.Fatalf("%q: stream %q, encoding/json %q", data, answer.stream, stream)
		}
		number, _ := fields["seq"].(json.Number)
		if sequence, err := strconv.ParseUint(string(number), 10, 64); err != nil ||
			sequence != answer.sequence {
			t.Fatalf("%q: seq %d, encoding/json %v", data, answer.sequence, fields["seq"])
		}
		duplicate, _ := fields["duplicate"].(bool)
		if duplicate != answer.duplicate {
			t.Fatalf("%q: duplicate %v, encoding/json %v", data, answer.duplicate,
				fields["duplicate"])
		}
	})
}

// TestAckRouteByToken: replies name their message by token, so an answer that comes
// before an older message's (a clustered stream refuses a later message before it
// stores the earlier one) waits in its own message, and the oldest settles with its own
// answer; a reply naming no message in flight, or another stream's answer, settles
// nothing as stored.
func TestAckRouteByToken(t *testing.T) {
	c := New(Config{Shard: 2, Released: func() uint64 { return 10 }})
	c.replyPrefix = "_INBOX.test."
	reply := func(token uint64, data string) *nats.Msg {
		return &nats.Msg{Subject: c.replyPrefix + strconv.FormatUint(token, 10),
			Data: []byte(data)}
	}
	c.inflight = []pendingAck{{token: 40, at: position{op: 1}, expected: 9},
		{token: 41, at: position{op: 2}, expected: 10}, {token: 42, at: position{op: 3}, expected: 11}}
	c.ackRoute(reply(41, `{"stream":"SEQUENT_2","seq":11}`))
	c.ackRoute(reply(43, `{"stream":"SEQUENT_2","seq":99}`))              // None such.
	c.ackRoute(reply(39, `{"stream":"SEQUENT_2","seq":99}`))              // Settled before.
	c.ackRoute(&nats.Msg{Subject: "_INBOX.other.40", Data: []byte(`{}`)}) // Not ours.
	if c.inflight[0].answered || !c.inflight[1].answered || c.inflight[2].answered {
		t.Fatalf("answered %v %v %v, want the second only", c.inflight[0].answered,
			c.inflight[1].answered, c.inflight[2].answered)
	}
	c.ackRoute(reply(40, `{"stream":"SEQUENT_2","seq":10}`))
	c.ackRoute(reply(41, `{"stream":"SEQUENT_2","seq":55}`)) // A second answer: dropped.
	for range 2 {
		if err := c.settleOldest(); err != nil {
			t.Fatal(err)
		}
	}
	if c.at != (position{op: 2}) || c.streamSequence.Load() != 11 || len(c.inflight) != 1 {
		t.Fatalf("at %+v, sequence %d, %d in flight; want op 2 at 11, one in flight", c.at,
			c.streamSequence.Load(), len(c.inflight))
	}
	c.ackRoute(reply(42, `{"stream":"OTHER_2","seq":12}`))
	if err := c.settleOldest(); err == nil || !strings.Contains(err.Error(), "OTHER_2") {
		t.Fatalf("another stream's answer settled as %v, want an error naming it", err)
	}
	c.inflight[0] = pendingAck{token: 43, at: position{op: 4}, expected: 11}
	c.ackRoute(&nats.Msg{Subject: c.replyPrefix + "43",
		Header: nats.Header{natsStatusHeader: []string{"503"}}})
	if err := c.settleOldest(); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("no responders settled as %v, want an error with the status", err)
	}
}

// TestAwaitEndsWhenTheConnectionCloses: a message in flight whose answer never comes
// because the nats-server went away ends the wait as soon as the session's connection
// closes (the client never reconnects: the next session does), not after
// publishAckTimeout. The client's futures failed at once on a disconnect; capture's own
// replies have no such signal but the connection's closed handler.
func TestAwaitEndsWhenTheConnectionCloses(t *testing.T) {
	server := natstest.Start(t, t.TempDir()+"/nats", "127.0.0.1:0")
	c := New(Config{URL: server.ClientURL(), Released: func() uint64 { return 5 }})
	t.Cleanup(c.disconnect)
	startSessionByHand(t, c)
	// In flight under a token no message was sent with: no answer ever comes.
	c.inflight = append(c.inflight, pendingAck{token: c.ackToken + 1000, at: position{op: 1},
		expected: c.expected})
	server.Shutdown()
	err := c.awaitOne()
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("awaitOne returned %v, want the connection's closing", err)
	}
}
