package clearing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHunt52cLedgersFileKeysAreReadOnce: a registry whose entry names a key twice, in
// another case, with the long s that encoding/json folds to "s", or with a second document
// after the first is refused. encoding/json keeps the last of two equal keys and matches
// keys whatever their case, so {"ledger":1,"name":"USD","scale":2,"Scale":6} loaded USD
// with scale 6 where a reviewer of the file read 2: conversion and reconciliation then
// scale amounts by 10^4 against what the operator approved.
func TestHunt52cLedgersFileKeysAreReadOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledgers.json")
	for name, text := range map[string]string{
		"key twice":          `{"ledgers":[{"ledger":1,"name":"USD","scale":2,"scale":6}]}`,
		"other case":         `{"ledgers":[{"ledger":1,"name":"USD","scale":2,"Scale":6}]}`,
		"other case alone":   `{"ledgers":[{"Ledger":1,"name":"USD","scale":2}]}`,
		"long s":             `{"ledgers":[{"ledger":1,"name":"USD","ſcale":6}]}`,
		"escaped twice":      `{"ledgers":[{"ledger":1,"name":"USD","scale":2,"\u0073cale":6}]}`,
		"ledgers twice":      `{"ledgers":[{"ledger":1,"name":"USD","scale":2}],"ledgers":[]}`,
		"second document":    `{"ledgers":[{"ledger":1,"name":"USD","scale":2}]} {"ledgers":[]}`,
		"trailing garbage":   `{"ledgers":[{"ledger":1,"name":"USD","scale":2}]} ]`,
		"invisible in a key": "{\"ledgers\":[{\"ledger\":1,\"name\":\"USD\",\"scale\u200b\":6}]}",
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		ledgers, err := LoadLedgers(path)
		if err == nil {
			info, _ := ledgers.Resolve("USD")
			t.Errorf("%s: loaded, USD read as %+v: %s", name, info, text)
		} else if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: the error does not name the file: %v", name, err)
		}
	}
	// A key written with an escape means its field to every JSON reader but not to a
	// person searching the file for "scale": refused too (jsonkeys.Check).
	if err := os.WriteFile(path,
		[]byte(`{"ledgers":[{"ledger":1,"name":"USD","\u0073cale":2}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLedgers(path); err == nil || !strings.Contains(err.Error(), "escape") {
		t.Errorf("a key written with an escape: %v, want refused", err)
	}
	if err := os.WriteFile(path,
		[]byte(`{"ledgers":[{"ledger":1,"name":"USD","scale":2}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ledgers, err := LoadLedgers(path)
	if err != nil {
		t.Fatal(err)
	}
	if info, ok := ledgers.Resolve("USD"); !ok || info != (LedgerInfo{1, "USD", 2}) {
		t.Errorf("USD read as %+v, %v", info, ok)
	}
}
