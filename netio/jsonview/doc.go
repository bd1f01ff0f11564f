// Package jsonview is the JSON form of Sequent's records, shared by everything that
// speaks JSON: `sequent client --json`, the integrators' HTTP API (netio/api), the risk
// rules of the operators' server (netio/ops) and `sequent admin risk`. One definition,
// so that a field spelled one way in one place is spelled that way everywhere.
//
// Conventions: ids, amounts and balances (128-bit) are decimal strings; statuses are
// given by name ("status") and number ("code"); timestamps are nanoseconds since the
// Unix epoch as JSON numbers (they exceed 2^53: JavaScript clients must read them as
// BigInt or strings, e.g. with a reviver, to keep them exact); flags are the record's
// numeric bit sets (PROTOCOL.md section 10).
//
// Decoding is strict where the input is untrusted (the HTTP API): Decode refuses unknown
// fields and trailing data, and every id or amount must be a decimal (or 0x-hexadecimal)
// string that fits 128 bits.
package jsonview
