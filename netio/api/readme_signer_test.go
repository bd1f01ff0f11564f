package api

import (
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readmeShellSigner returns the README's sequent_api shell function ("Signing a
// request"), exactly as printed there.
func readmeShellSigner(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\nsequent_api() {\n")
	if start < 0 {
		t.Fatal("README: no sequent_api() function")
	}
	length := strings.Index(text[start:], "\n}\n")
	if length < 0 {
		t.Fatal("README: sequent_api() is not closed")
	}
	return text[start+1 : start+length+2]
}

// runReadmeShellSigner runs script after the README's sequent_api function, in bash,
// with the operator's HMAC key (client 1, key 1), h's server and signatureTransfer (as
// $T) in its environment, and returns what it printed. The test is skipped where bash,
// curl, openssl or date is missing, except under SEQUENT_REQUIRE_TOOLS=1 (set by
// .ci/run, which installs them): there it fails.
func runReadmeShellSigner(t *testing.T, h *harness, script string) ([]byte, error) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "openssl", "date"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("SEQUENT_REQUIRE_TOOLS") == "1" {
				t.Fatalf("%s not found (required under SEQUENT_REQUIRE_TOOLS=1): %v", tool, err)
			}
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	command := exec.Command("bash", "-c", readmeShellSigner(t)+script)
	command.Env = append(os.Environ(), "SEQUENT_API="+h.base, "SEQUENT_CLIENT=1",
		"SEQUENT_KEY=1", "SEQUENT_SECRET="+hex.EncodeToString(testSecret),
		"T="+signatureTransfer)
	return command.CombinedOutput()
}

// TestReadmeShellSignerAgainstServer runs the README's sequent_api function (bash, curl,
// openssl) against a server: what an integrator copies must sign version 2 as the
// server checks it, with an Idempotency-Key given as a curl argument (a retry is answered
// from the session) and without one (the string to sign then ends with a newline, which
// a $(...) capture would drop).
func TestReadmeShellSignerAgainstServer(t *testing.T) {
	h := newHarness(t)
	h.createAccounts("1", "2")
	output, err := runReadmeShellSigner(t, h, `
sequent_api POST /v1/transfers "$T" -H 'Idempotency-Key: 7:1' -o /dev/null -w '%{http_code}\n'
sequent_api POST /v1/transfers "$T" -H 'Idempotency-Key: 7:1' -i | tr -d '\r' | grep -i '^idempotency-replayed'
sequent_api GET /v1/transfers/10 '' -o /dev/null -w '%{http_code}\n'
sequent_api POST /v1/transfers "$T" -o /dev/null -w '%{http_code}\n'
`)
	if err != nil {
		t.Fatalf("the README's function failed: %v\n%s", err, output)
	}
	// Created; the retry replayed; read; without a key, by id: exists (200).
	want := "201\nIdempotency-Replayed: true\n200\n200\n"
	if string(output) != want {
		t.Fatalf("the README's function got\n%s\nwant\n%s", output, want)
	}
}
