//go:build !amd64 && !arm64

package prefetch

// Lines does nothing where no prefetch instruction is wired in: callers are then
// correct, only slower.
func Lines(addresses []uintptr) {}

// LinesIntoL2 does nothing where no prefetch instruction is wired in.
func LinesIntoL2(addresses []uintptr) {}

// Consecutive does nothing where no prefetch instruction is wired in.
func Consecutive(address uintptr, lines int) {}

// LinePairs does nothing where no prefetch instruction is wired in.
func LinePairs(addresses []uintptr) {}

// Line does nothing where no prefetch instruction is wired in.
func Line(address uintptr) {}

// TwoLines does nothing where no prefetch instruction is wired in.
func TwoLines(first, second uintptr) {}
