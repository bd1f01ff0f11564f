//go:build !linux

package hugepage

// Advise does nothing where the platform offers no huge-page advice.
func Advise[T any](s []T) {}

// Make returns make([]T, n): no huge-page advice on this platform.
func Make[T any](n int) []T { return make([]T, n) }
