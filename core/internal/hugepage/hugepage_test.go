package hugepage

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseCoveringMarksBothEnds checks that the huge pages at both ends of a slice,
// which it shares with other heap memory, are marked too: smaps must list the
// huge-page flag (hg) for the mappings holding its first and its last byte. Advise
// alone leaves the ends unmarked unless the heap happened to align the slice.
func TestAdviseCoveringMarksBothEnds(t *testing.T) {
	if runtime.GOOS != "linux" || os.Getenv("SEQUENT_NO_HUGEPAGE") != "" {
		t.Skip("huge-page advice is off here")
	}
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skip("no /proc/self/smaps")
	}
	s := make([]uint64, 3<<20/8+123) // Over a huge page, ending mid-page.
	AdviseCovering(s)
	first := uintptr(unsafe.Pointer(&s[0]))
	last := uintptr(unsafe.Pointer(&s[len(s)-1]))
	for _, address := range []uintptr{first, last} {
		flags, found := mappingFlags(t, address)
		if !found {
			t.Fatalf("no mapping holds %#x", address)
		}
		if !strings.Contains(" "+flags+" ", " hg ") {
			t.Fatalf("mapping of %#x has flags %q: not advised", address, flags)
		}
	}
	runtime.KeepAlive(s)
}

// mappingFlags returns the VmFlags of the mapping in /proc/self/smaps holding address.
func mappingFlags(t *testing.T, address uintptr) (string, bool) {
	t.Helper()
	file, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	inside := false
	for scanner.Scan() {
		line := scanner.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			bounds := strings.SplitN(fields[0], "-", 2)
			low, errLow := strconv.ParseUint(bounds[0], 16, 64)
			high, errHigh := strconv.ParseUint(bounds[1], 16, 64)
			inside = errLow == nil && errHigh == nil && uint64(address) >= low &&
				uint64(address) < high
			continue
		}
		if inside && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:")), true
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return "", false
}
