package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger returns a text logger at the given level, and the level variable that the
// admin API can change at run time.
func newLogger(level string, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	variable := &slog.LevelVar{}
	if err := setLogLevel(variable, level); err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: variable})), variable, nil
}

// setLogLevel parses a level name (debug, info, warn, error).
func setLogLevel(variable *slog.LevelVar, level string) error {
	var parsed slog.Level
	if err := parsed.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	variable.Set(parsed)
	return nil
}

// randomSeed seeds the ledger's hash tables per process (their layout is never
// observable; a random seed keeps crafted ids from clustering).
func randomSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0x9e3779b97f4a7c15
	}
	return binary.LittleEndian.Uint64(b[:])
}
