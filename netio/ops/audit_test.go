package ops

import (
	"errors"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestAuditRecordBound encodes records whose every field is far over its bound and made
// of the characters JSON escapes most expensively (control bytes and <>& become six
// bytes each): the encoding stays within model.AuditBytesMax, and the limits' stated
// worst case holds.
func TestAuditRecordBound(t *testing.T) {
	worst := 6*(whoBytesMax+actionBytesMax+detailBytesMax+remoteAddressBytesMax) +
		auditOverheadBytesMax
	if worst > model.AuditBytesMax {
		t.Fatalf("worst case %d bytes over %d", worst, model.AuditBytesMax)
	}
	for _, filler := range []string{"\x01", "<", "&", "\"", "é", "\xff", "界"} {
		big := strings.Repeat(filler, 5000)
		record := AuditRecord{Who: big, Action: big, Detail: big, RemoteAddress: big,
			TimeUnixNs: -1 << 63}
		data := record.Encode()
		if len(data) > model.AuditBytesMax || len(data) > worst {
			t.Errorf("%q: %d bytes", filler, len(data))
		}
		if _, err := DecodeAuditRecord(data); err != nil {
			t.Errorf("%q: %v", filler, err)
		}
	}
}

// TestAuditRecordRoundTrip: a normal record survives Encode and DecodeAuditRecord
// exactly; the decoder refuses anything that is not one record.
func TestAuditRecordRoundTrip(t *testing.T) {
	record := AuditRecord{Who: "alice", Action: ActionLogLevel, Detail: "level=debug",
		RemoteAddress: "[::1]:4711", TimeUnixNs: 1_700_000_000_123_456_789}
	data := record.Encode()
	want := `{"who":"alice","action":"log-level","detail":"level=debug",` +
		`"remote_address":"[::1]:4711","time_unix_ns":1700000000123456789}`
	if string(data) != want {
		t.Errorf("encoded %s", data)
	}
	decoded, err := DecodeAuditRecord(data)
	if err != nil || decoded != record {
		t.Errorf("decoded %+v %v", decoded, err)
	}
	for _, bad := range []string{``, `null`, `[]`, `{}`, `{"action":"x"} x`,
		`{"action":"x","extra":1}`, `{"action":"x"}{"action":"y"}`, `{"action":1}`,
		`{"action":"x"` + strings.Repeat(" ", model.AuditBytesMax) + `}`} {
		if _, err := DecodeAuditRecord([]byte(bad)); !errors.Is(err, ErrAuditRecord) {
			t.Errorf("%.40q accepted (%v)", bad, err)
		}
	}
}
