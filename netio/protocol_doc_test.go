package netio_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"sequent/core/model"
	"sequent/netio"
	"sequent/netio/wire"
)

var updateProtocol = flag.Bool("update", false, "rewrite the generated sections of PROTOCOL.md")

// TestProtocolDocCurrent keeps PROTOCOL.md true: its tables of frame kinds, operations,
// statuses and error codes, and its hex examples, are generated from the code, and this
// test fails when the file differs from what the code generates now (a status, an
// operation or a byte layout changed without the document). Run
//
//	go test ./netio -run TestProtocolDocCurrent -update
//
// to regenerate, and review the diff before committing it.
func TestProtocolDocCurrent(t *testing.T) {
	const path = "PROTOCOL.md"
	document, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{
		"kinds":      kindsTable(),
		"operations": operationsTable(),
		"statuses":   statusesTable(),
		"errors":     errorCodesTable(),
		"examples":   examples(),
	}
	updated := document
	for name, content := range sections {
		begin := []byte("<!-- BEGIN GENERATED: " + name + " -->\n")
		end := []byte("<!-- END GENERATED: " + name + " -->")
		start := bytes.Index(updated, begin)
		stop := bytes.Index(updated, end)
		if start < 0 || stop < start {
			t.Fatalf("PROTOCOL.md lacks the generated section %q", name)
		}
		updated = bytes.Join([][]byte{updated[:start+len(begin)], []byte(content),
			updated[stop:]}, nil)
	}
	if bytes.Equal(updated, document) {
		return
	}
	if *updateProtocol {
		if err := os.WriteFile(path, updated, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("PROTOCOL.md is stale: run go test ./netio -run TestProtocolDocCurrent -update " +
		"and review the diff")
}

func kindsTable() string {
	directions := map[wire.Kind]string{
		wire.KindChallenge: "S→C", wire.KindLogin: "C→S", wire.KindLoginAccepted: "S→C",
		wire.KindLogout: "both", wire.KindHeartbeat: "both", wire.KindRequest: "C→S",
		wire.KindReply: "S→C", wire.KindError: "S→C", wire.KindSubscribe: "C→S",
		wire.KindSubscribed: "S→C", wire.KindReport: "S→C",
		wire.KindMarketDataSubscribe: "C→S", wire.KindMarketDataSubscribed: "S→C",
		wire.KindMarketData: "S→C", wire.KindMarketDataStale: "S→C",
	}
	var b strings.Builder
	b.WriteString("| kind | name | direction | body bytes |\n|---:|---|---|---|\n")
	for _, kind := range wire.Kinds() {
		size, fixed := wire.BodyBytesMaxOf(kind)
		body := fmt.Sprintf("exactly %d", size)
		if !fixed {
			body = fmt.Sprintf("0 to %d", size)
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", kind, kind, directions[kind], body)
	}
	return b.String()
}

func operationsTable() string {
	var b strings.Builder
	b.WriteString("| op | name | event bytes | events max | result bytes | results max " +
		"| class | permission |\n|---:|---|---:|---:|---:|---:|---|---|\n")
	var internal []string
	for _, operation := range model.Operations() {
		info, _ := operation.Info()
		if info.Internal {
			internal = append(internal, fmt.Sprintf("%d `%s`", operation, info.Name))
			continue
		}
		class := "lookup"
		switch {
		case info.Write:
			class = "write"
		case info.Query:
			class = "query"
		}
		if info.Matching {
			class += " (matching)"
		}
		result := fmt.Sprint(info.ResultSize)
		if info.BalancesResult {
			result += fmt.Sprintf(" (%d with flag 1)", model.EventResultBalancesSize)
		}
		fmt.Fprintf(&b, "| %d | `%s` | %d | %d | %s | %d | %s | %s |\n", operation,
			info.Name, info.EventSize, info.EventsMax, result, info.ResultsMax, class,
			strings.Join(netio.PermissionNames(netio.RequiredPermission(operation)), ""))
	}
	fmt.Fprintf(&b, "\nInternal operations, refused from clients with error "+
		"`unknown_operation`: %s.\n", strings.Join(internal, ", "))
	return b.String()
}

func statusesTable() string {
	var b strings.Builder
	b.WriteString("| status | name | area |\n|---:|---|---|\n")
	for status := model.Status(0); status < 1000; status++ {
		if !status.Known() {
			continue
		}
		area := "ledger (per event or per query)"
		switch {
		case status == model.StatusOK:
			area = "success"
		case status >= 100 && status < 200:
			area = "matching (per event)"
		case status >= 200 && status < 300:
			area = "request (reply header)"
		case status >= 300 && status < 320:
			area = "risk (per event)"
		case status >= 320 && status < 350:
			area = "risk rules (per rule of set/remove)"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s |\n", status, status, area)
	}
	return b.String()
}

func errorCodesTable() string {
	var b strings.Builder
	b.WriteString("| code | name | reconnect and resume? |\n|---:|---|---|\n")
	for _, code := range wire.ErrorCodes() {
		retry := "no: fix the client or its credentials"
		switch code.Retry() {
		case wire.RetryNow:
			retry = "yes"
		case wire.RetryLater:
			retry = "yes, after the delay in `aux` (ms)"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s |\n", code, code, retry)
	}
	return b.String()
}

// examples renders complete frames in hex, with fixed inputs, so that an implementation
// in another language can check its encoder byte for byte.
func examples() string {
	var b strings.Builder
	example := func(title string, frame []byte, notes ...string) {
		fmt.Fprintf(&b, "#### %s\n\n", title)
		for _, note := range notes {
			b.WriteString(note + "\n")
		}
		if len(notes) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("```\n" + hexDump(frame) + "```\n\n")
	}
	example("Heartbeat", wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindHeartbeat}, nil),
		"Kind 5, everything else zero; checksum = CRC32C of the first 44 bytes.")

	var challenge wire.Challenge
	for i := range challenge.Nonce {
		challenge.Nonce[i] = byte(i)
	}
	challenge.HeartbeatIntervalMs, challenge.SilenceTimeoutMs = 1000, 15000
	body := make([]byte, wire.ChallengeSize)
	challenge.Encode(body)
	example("Challenge", wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindChallenge}, body),
		"Nonce 00 01 02 … 1f, heartbeat interval 1000 ms, silence timeout 15000 ms.")

	secret := bytes.Repeat([]byte{0x11}, 32)
	const session = 7
	login := wire.Login{Client: 1, Key: 1}
	login.Signature = wire.Sign(secret, &challenge.Nonce, 1, 1, 0, session)
	message := make([]byte, 0, wire.SignedMessageSize)
	message = append(message, challenge.Nonce[:]...)
	message = binary.LittleEndian.AppendUint64(message, 1)
	message = binary.LittleEndian.AppendUint32(message, 1)
	message = binary.LittleEndian.AppendUint32(message, 0)
	message = binary.LittleEndian.AppendUint64(message, session)
	body = make([]byte, wire.LoginSize)
	login.Encode(body)
	example("Login", wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLogin,
		Session: session}, body),
		"Client 1, key 1, options 0, session 7, secret = 32 bytes of 0x11, signing the "+
			"challenge above.",
		"Signed message (56 bytes): `"+hex.EncodeToString(message)+"`.",
		"HMAC-SHA256: `"+hex.EncodeToString(login.Signature[:])+"`.")

	requestExamples(example, session)
	return b.String()
}

// requestExamples renders the session's first request, its reply, a busy reply and an
// error frame.
func requestExamples(example func(title string, frame []byte, notes ...string),
	session uint64) {
	accepted := wire.LoginAccepted{Client: 1, Permissions: wire.PermissionRead |
		wire.PermissionTransfer}
	body := make([]byte, wire.LoginAcceptedSize)
	accepted.Encode(body)
	example("Login accepted", wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindLoginAccepted,
		Session: session}, body), "Client 1, permissions read|transfer (3), epoch 0.")

	transfer := model.Transfer{ID: model.U128(1), DebitAccountID: model.U128(1),
		CreditAccountID: model.U128(2), Amount: model.U128(100), Ledger: 1, Code: 1}
	body = make([]byte, model.TransferSize)
	transfer.Encode(body)
	example("Request: create_transfers with one transfer", wire.AppendFrame(nil,
		&wire.Frame{Kind: wire.KindRequest, Operation: model.OperationCreateTransfers,
			Session: session, Number: 1}, body),
		"Request number 1; transfer id 1 from account 1 to account 2, amount 100, "+
			"ledger 1, code 1.")

	result := model.EventResult{Timestamp: 1_700_000_000_000_000_000, Status: model.StatusOK}
	body = make([]byte, model.EventResultSize)
	result.Encode(body)
	example("Reply: the transfer was created", wire.AppendFrame(nil, &wire.Frame{
		Kind: wire.KindReply, Operation: model.OperationCreateTransfers, Session: session,
		Number: 1, Aux: 42}, body),
		"Request status 0 (ok), log op 42 in aux; one 16-byte result: timestamp "+
			"1700000000000000000, status 0 (created).")

	example("Reply: busy", wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindReply,
		Operation: model.OperationCreateTransfers, Status: uint32(model.StatusBusy),
		Session: session, Number: 2}, nil),
		"Request 2 refused at once with status 200 (busy); nothing was queued, resend it "+
			"with the same number.")

	// What the server answers the request example sent with its checksum damaged
	// (TestConformanceWorkedExamplesFromTheServer sends it and compares every byte).
	example("Error: bad checksum", wire.AppendFrame(nil, &wire.Frame{Kind: wire.KindError,
		Status: uint32(wire.ErrorBadChecksum), Session: session, Number: 1},
		[]byte(wire.ErrBadChecksum.Error())),
		"The request above sent with its checksum damaged: error code 1003 in the status "+
			"field, the number read from the damaged frame (1) in number, the server's "+
			"message text as the body (for people: do not parse it); the server closes "+
			"the connection after it.")
}

// hexDump formats b as offset, 16 bytes of hex per line.
func hexDump(b []byte) string {
	var out strings.Builder
	for offset := 0; offset < len(b); offset += 16 {
		line := b[offset:min(offset+16, len(b))]
		fmt.Fprintf(&out, "%04x ", offset)
		for i, value := range line {
			if i == 8 {
				out.WriteString(" ")
			}
			fmt.Fprintf(&out, " %02x", value)
		}
		out.WriteString("\n")
	}
	return out.String()
}
