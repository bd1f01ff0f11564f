// Package model is Sequent's public data model: the fixed-size, little-endian records that
// travel on the wire and live in the log (Account, Transfer, AccountBalance, AccountFilter,
// results), the 128-bit integer type, the Status enum shared by every layer, and the
// Operation numbers.
//
// Everything here is a wire or disk format. Offsets are frozen; sizes are checked at compile
// time; encoding is by hand with encoding/binary into buffers the caller owns. Decoding
// never fails on content (every bit pattern decodes): validation is the ledger's job and
// yields a Status, so that a bad field becomes a precise result code instead of an error.
//
// Clients (netio's Go client, bench) import this package and nothing else of core.
package model
