// Package reconcile is `sequent reconcile`: it matches a partner's statement with
// Sequent's transfers on one account and reports every difference, and it gathers the
// auditor's other checks (the trial balance of every ledger, the log's hash chain over the
// window, and later the cross-shard invariants) into the same report.
//
// # Data flow
//
//	statement file ──parse──▶ sorter (theirs, by reference) ──┐
//	                                                           ├─▶ merge ─▶ differences
//	get_account_transfers ──page──▶ sorter (ours, by reference,│           (JSON, CSV, text)
//	  (public protocol)              payment, time) ───────────┘
//	Checks (trial balance, chain, …) ────────────────────────────▶ sections of the report
//
// Both sides are read at the same time (the statement on a goroutine of its own, our
// transfers on the caller's), each into a sorter that keeps at most RunEntries entries in
// memory and sorts the rest on disk in runs, so memory stays bounded whatever the sizes.
// The merge walks both in reference order, one reference at a time (match.go says how a
// reference's lines and payments are paired and what each difference means); differences
// stream to the outputs as they are found.
//
// # Reading Sequent
//
// Our side comes through clearing.Reader, the public protocol's queries: a client of the
// primary or of a read-only standby, with an operator's key. Transfers are paged by
// timestamp; a pending transfer and its post or void are folded into one payment whose
// status at the cut-off (Window.Until) is posted, pending, voided or expired. A post's
// reference is its pending transfer's (looked up once per page when matching by user
// data).
//
// # Statements
//
// CSV (a header naming columns, or column numbers) or JSON lines, with the column mapping
// of Mapping. A line that cannot be read is a difference of kind unreadable, and the rest
// is still reconciled.
//
// # Threading
//
// Run starts one goroutine (the statement reader) and waits for it; nothing outlives Run.
package reconcile
