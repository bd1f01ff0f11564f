package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"sequent/core/model"
	"sequent/netio/jsonkeys"
)

// Admin action names, as AuditRecord.Action and AdminResponse.Action carry them (and as
// the last element of each admin path).
const (
	ActionPromote    = "promote"
	ActionSnapshot   = "snapshot"
	ActionReloadKeys = "reload-keys"
	ActionLogLevel   = "log-level"
)

// AuditRecord says who did what, when and from where. The server hands one to
// Sources.Audit after the caller's token has been accepted and before the action runs.
type AuditRecord struct {
	Who           string // The name Config.Tokens returned for the token.
	Action        string // An Action* name.
	Detail        string // Arguments of the action ("level=debug"); may be empty.
	RemoteAddress string // The caller's address as the server saw it ("ip:port").
	TimeUnixNs    int64  // When the server accepted the request (wall clock).
}

// auditJSON is the encoded form of an AuditRecord; the field names are stable, since
// records stay in the log for as long as it is kept.
type auditJSON struct {
	Who           string `json:"who"`
	Action        string `json:"action"`
	Detail        string `json:"detail,omitempty"`
	RemoteAddress string `json:"remote_address"`
	TimeUnixNs    int64  `json:"time_unix_ns"`
}

// ErrAuditRecord is returned by DecodeAuditRecord for bytes that are not one audit record.
var ErrAuditRecord = errors.New("ops: not an audit record")

// Encode returns the record as one JSON object of at most model.AuditBytesMax bytes.
// Fields longer than their bounds (whoBytesMax, actionBytesMax, detailBytesMax,
// remoteAddressBytesMax) are cut at a character boundary, so the bound holds whatever the
// caller put in them.
func (r AuditRecord) Encode() []byte {
	data, err := json.Marshal(auditJSON{
		Who:           truncate(r.Who, whoBytesMax),
		Action:        truncate(r.Action, actionBytesMax),
		Detail:        truncate(r.Detail, detailBytesMax),
		RemoteAddress: truncate(r.RemoteAddress, remoteAddressBytesMax),
		TimeUnixNs:    r.TimeUnixNs,
	})
	if err != nil {
		panic(fmt.Sprintf("ops: encoding an audit record: %v", err)) // Strings and an int.
	}
	if len(data) > model.AuditBytesMax {
		panic(fmt.Sprintf("ops: audit record of %d bytes", len(data))) // Bounds are wrong.
	}
	return data
}

// DecodeAuditRecord parses bytes written by Encode (for log inspection tools). It is
// strict: one object, known fields only, an action, within model.AuditBytesMax.
func DecodeAuditRecord(data []byte) (AuditRecord, error) {
	if len(data) > model.AuditBytesMax {
		return AuditRecord{}, fmt.Errorf("%w: %d bytes", ErrAuditRecord, len(data))
	}
	var record auditJSON
	if err := decodeStrict(data, &record); err != nil {
		return AuditRecord{}, fmt.Errorf("%w: %v", ErrAuditRecord, err)
	}
	if record.Action == "" {
		return AuditRecord{}, fmt.Errorf("%w: no action", ErrAuditRecord)
	}
	return AuditRecord{Who: record.Who, Action: record.Action, Detail: record.Detail,
		RemoteAddress: record.RemoteAddress, TimeUnixNs: record.TimeUnixNs}, nil
}

// decodeStrict decodes exactly one JSON object with no unknown fields, no key given
// twice in an object, no key but in the exact form of a field's name (jsonkeys.Check), and
// nothing but white space after it.
func decodeStrict(data []byte, target any) error {
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	// {"ids":[1],"ids":[2]} or {"IDS":[2]} removed rule 2 where a proxy, a log or a
	// reviewer reading the body sees rule 1 or no ids (TestHunt52aRiskBodyKeysAreReadOnce).
	if err := jsonkeys.Check(data); err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(target); err != nil {
		return err
	}
	if len(bytes.TrimSpace(data[decoder.InputOffset():])) != 0 {
		return errors.New("data after the object")
	}
	return nil
}

// truncate is jsonkeys.Truncate, the one helper that cuts quoted text (no UTF-8
// sequence split), under the short name this package's callers use.
func truncate(text string, bytesMax int) string {
	return jsonkeys.Truncate(text, bytesMax)
}

// CheckJSONKeys returns an error unless data is one JSON value (white space around it)
// whose objects give each key once, spelled as a field name (jsonkeys.Check), as the
// server reads its JSON bodies (decodeStrict). A client that builds a body from a file must
// read the file so too: `sequent admin risk set` decoded its rule file with encoding/json
// and re-encoded it, so a file naming account 7 and then 8 under the same key (or under
// "Account") sent the server a clean body blocking 8
// (TestReview52aRiskSetReadsTheRuleFileAsStrictlyAsTheServer).
func CheckJSONKeys(data []byte) error { return jsonkeys.Check(data) }
