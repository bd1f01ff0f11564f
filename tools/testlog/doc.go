// Package testlog gives tests a destination that other goroutines write while the test
// reads it: Buffer, a bytes.Buffer behind a mutex. Hand it to slog.NewTextHandler for a
// server's log, or to exec.Cmd as a process's output, and read String once what the test
// looks for has happened.
package testlog
