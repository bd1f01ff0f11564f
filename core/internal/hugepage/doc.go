// Package hugepage advises the kernel to back large, long-lived allocations (ledger
// record chunks and id tables) with transparent huge pages.
//
// On this project's VMs a first-touch fault costs ~1.5 µs per 4 KiB page, so populating
// a gigabyte of ledger storage in 4 KiB pages spends most of a restart in the kernel;
// with 2 MiB pages the same memory faults in about a fifth of the time (measured: 256 MiB
// in ~18 ms instead of ~95 ms). The advice changes speed only, never contents, so the
// core stays deterministic. Where the platform has no such advice, Advise does nothing.
//
// Advise marks only the 2 MiB-aligned interior of a slice, and the Go heap aligns a
// large allocation to 8 KiB, so storage that is read at random (ledger chunks, id tables)
// uses AdviseCovering, which also marks the huge pages at the slice's two ends: an 8 MiB
// chunk otherwise kept a quarter of its records in 4 KiB pages on average, each random
// access to them a TLB miss (BenchmarkCreateTransfers at 1 M accounts: ~5% of the
// thread's CPU time per transfer, measured in one process against twins built the old
// way).
//
// Populate faults a range in for writing without writing it (MADV_POPULATE_WRITE, Linux
// 5.14 and later): a goroutine other than the memory's owner may call it on memory the
// owner will write soon (the shard's populater, for fresh ledger chunks and tables),
// since it changes no byte and Go code touches none. Where the kernel refuses it,
// Populate says so (ErrPopulateUnsupported) and the memory faults in on first touch.
package hugepage
