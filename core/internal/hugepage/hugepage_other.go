//go:build !linux

package hugepage

// Advise does nothing where the platform offers no huge-page advice.
func Advise[T any](s []T) {}

// AdviseCovering does nothing where the platform offers no huge-page advice.
func AdviseCovering[T any](s []T) {}
