package ops

import (
	"net/http"
	"testing"
)

// TestActionSlotFreeWhenReplied: once an admin action has answered, the next one must
// find the one-action slot free. The slot used to be released by a deferred statement
// that ran after the result was handed over, so an operator's second request, sent as
// soon as the first was answered, could get 409 busy (seen as a flaky
// TestLogLevelArguments under -race).
func TestActionSlotFreeWhenReplied(t *testing.T) {
	server, err := New(Config{Tokens: TokenChecker(testTokens)}, newFakeSources().sources())
	if err != nil {
		t.Fatal(err)
	}
	record := AuditRecord{Who: "alice", Action: ActionSnapshot}
	for i := range 2000 {
		result := server.runAction(record, func() (Reply, error) { return Reply{OK: true}, nil })
		if result.statusCode != http.StatusOK {
			t.Fatalf("action %d answered %d %+v right after the previous one", i,
				result.statusCode, result.reply)
		}
	}
	server.actions.Wait()
}
