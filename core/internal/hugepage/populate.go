package hugepage

import "errors"

// ErrPopulateUnsupported is Populate's answer where the kernel cannot populate a range
// without writing it: callers then leave the memory to fault in on first touch.
var ErrPopulateUnsupported = errors.New("hugepage: MADV_POPULATE_WRITE unsupported")
