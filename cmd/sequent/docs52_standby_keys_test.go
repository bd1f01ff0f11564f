package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestStandbyGeneratingADevelopmentKeySaysToCopyThePrimarys: a standby started without
// a keys file generates a development key of its own, which the primary's clients and
// admin tokens do not match (session 52 ran the README's pair as written: 'admin
// promote' with the primary's token answered 403 and every client login_bad_signature).
// Its start now says so and what to do; a primary's start does not.
func TestStandbyGeneratingADevelopmentKeySaysToCopyThePrimarys(t *testing.T) {
	for _, standbyOf := range []string{"", "127.0.0.1:7500"} {
		o := defaultServeOptions()
		o.data = filepath.Join(t.TempDir(), "data")
		o.standbyOf = standbyOf
		var stdout bytes.Buffer
		if _, err := loadOrGenerateKeys(&o, &stdout, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		output := stdout.String()
		if !strings.Contains(output, "DEVELOPMENT key") {
			t.Fatalf("--standby-of %q: no development key generated:\n%s", standbyOf, output)
		}
		warned := strings.Contains(output, "copy the primary's keys file to "+
			filepath.Join(o.data, "keys.json"))
		if warned != (standbyOf != "") {
			t.Errorf("--standby-of %q: warned to copy the primary's keys %v:\n%s", standbyOf,
				warned, output)
		}
	}
}
