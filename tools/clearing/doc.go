// Package clearing is where money leaves Sequent: the pieces behind `sequent client
// convert`, `sequent settle` and the operators' settlement endpoint, on top of the
// ledger's public operations.
//
//   - Conversion between ledgers is a linked chain of two transfers through the
//     operator's liquidity accounts; the arithmetic and the chain are in the Go client
//     (netio/client: Conversion, Client.Convert), so any application can book one. This
//     package holds its property test against the ledger and the crash test's model.
//   - Ledgers is the registry of each ledger's currency name and scale (a JSON file).
//   - Net computes the net position with a partner's settlement accounts over a window,
//     per ledger, with the transfers behind it; NettingReport.SettlementTransfers books
//     the settlement as pending transfers to post on the partner's confirmation, and
//     booking the same cut-off again books only the ledgers still without one (Booking).
//     A settlement's deadline is passed only at a log time read of its account: one
//     passed by the caller's clock alone, or in the window by the cut-off alone, may
//     still be confirmed, so PlanSettlements plans its void, to send before its ledger
//     is booked again (Booking.Voided takes the ledger's answer).
//   - Reader is how all of it reads the ledger: the public queries, through the Go client
//     (a primary or a read-only standby) or the server's in-process read path — never
//     by opening a node's files. ForEachTransfer pages an account's transfers in a window;
//     AllLedgerTotals pages the trial balance. On a node of several shards the Go client's
//     reads are routed by the node (PROTOCOL.md §18) and the server's endpoint reads
//     through ShardedReader, which sends each read to the shard the router would; how a
//     cross-shard transfer (a saga) counts in a netting is written at Net (settle.go).
//     Booking and conversion are checked against the node's shard map by the commands
//     (cmd/sequent): a settlement is a pending transfer and a conversion a linked chain,
//     neither of which the node accepts across shards.
//
// Reconciliation against a partner's statement is package tools/reconcile.
//
// # Threading
//
// Nothing here starts goroutines or keeps state between calls: each function runs on its
// caller's goroutine with the Reader it is given (which must be safe for that use; the Go
// client is).
package clearing
