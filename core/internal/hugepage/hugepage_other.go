//go:build !linux

package hugepage

import "unsafe"

// Advise does nothing where the platform offers no huge-page advice.
func Advise[T any](s []T) {}

// AdviseCovering does nothing where the platform offers no huge-page advice.
func AdviseCovering[T any](s []T) {}

// Populate reports ErrPopulateUnsupported: there is no MADV_POPULATE_WRITE here, and the
// memory is faulted in on first touch.
func Populate(start unsafe.Pointer, size uintptr) error { return ErrPopulateUnsupported }
