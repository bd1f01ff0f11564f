package ops

import (
	"strconv"
	"strings"
	"testing"
)

// TestReview52aRiskDetailListsEveryIDThatFits: riskDetail (hunt52a) says it cuts the ids
// "when they do not all fit in detailBytesMax" and then lists "the whole ids that fit",
// but it held back room for the longest mark (" (+64 more)") before every id but the
// last. So a list that fits whole was cut when its last ids are short: 35 ten-digit ids
// then 1 and 2 make "ids=…,1,2", 392 bytes, yet the audit record said "… (+2 more)" and
// named neither rule; and with those 35 ids, then 1, then five more, it stopped before
// the 1 although "…,1 (+5 more)" is exactly 400 bytes. It must list every id when the
// whole list fits, else as many whole ids as fit beside the mark of those left out, never
// over detailBytesMax.
func TestReview52aRiskDetailListsEveryIDThatFits(t *testing.T) {
	long := func(count int) []uint32 {
		ids := make([]uint32, count)
		for i := range ids {
			ids[i] = 4_000_000_000 + uint32(i)
		}
		return ids
	}
	cases := [][]uint32{
		append(long(35), 1, 2),
		append(append(long(35), 1), long(5)...),
		append(long(34), 12345, 1, 2, 3),
		append(long(35), 123456789),
		long(36), long(37), long(64),
	}
	for count := 30; count <= 64; count++ {
		ids := long(count)
		for i := 2; i < count; i += 3 {
			ids[i] = uint32(i) // Short ids among long ones.
		}
		cases = append(cases, ids)
	}
	for _, ids := range cases {
		texts := make([]string, len(ids))
		for i, id := range ids {
			texts[i] = strconv.FormatUint(uint64(id), 10)
		}
		whole := "ids=" + strings.Join(texts, ",")
		got := riskDetail(ids)
		if len(got) > detailBytesMax {
			t.Errorf("%d ids: detail of %d bytes, over %d", len(ids), len(got), detailBytesMax)
		}
		if len(whole) <= detailBytesMax {
			if got != whole {
				t.Errorf("%d ids: the whole list fits (%d bytes) but the detail ends %q",
					len(ids), len(whole), got[max(0, len(got)-40):])
			}
			continue
		}
		listed, mark, _ := strings.Cut(strings.TrimPrefix(got, "ids="), " ")
		named := len(strings.Split(listed, ","))
		if listed != strings.Join(texts[:named], ",") || named >= len(ids) {
			t.Errorf("%d ids: detail %q does not list the first ids", len(ids), got)
			continue
		}
		if mark != "(+"+strconv.Itoa(len(ids)-named)+" more)" {
			t.Errorf("%d ids: mark %q after %d named", len(ids), mark, named)
		}
		next := "ids=" + strings.Join(texts[:named+1], ",")
		if named+1 < len(ids) {
			next += riskDetailMore(len(ids) - named - 1)
		}
		if len(next) <= detailBytesMax {
			t.Errorf("%d ids: %d named, but one more fits: %q (%d bytes)", len(ids), named,
				next[max(0, len(next)-30):], len(next))
		}
	}
}
