//go:build !amd64 && !arm64

package ledger

// prefetchLines does nothing where no prefetch instruction is wired in: the pipeline in
// CreateTransfersAs is then correct, only slower.
func prefetchLines(addresses []uintptr) {}
