package netio_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sequent/core/model"
)

// TestRememberedFailuresDocumented keeps PROTOCOL.md's list of the create_transfers
// refusals whose id answers id_already_failed from then on (section 10, "Remembered
// failures") equal to the ledger's (model.Status.Transient), plus the two cross-shard
// outcomes that core/saga remembers alike. An independent client decides from that list
// whether it may resend a refused transfer under the same id.
func TestRememberedFailuresDocumented(t *testing.T) {
	document, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	const heading = "**Remembered failures.**"
	text := string(document)
	start := strings.Index(text, heading)
	if start < 0 {
		t.Fatalf("PROTOCOL.md has no paragraph %q", heading)
	}
	paragraph := text[start:]
	paragraph = paragraph[:strings.Index(paragraph, "\n\n")]
	// The list runs from "These reasons are" to the sentence after it.
	listStart := strings.Index(paragraph, "These reasons are")
	listEnd := strings.Index(paragraph, "The id is remembered even")
	if listStart < 0 || listEnd < listStart {
		t.Fatalf("the paragraph %q has no list of reasons", heading)
	}
	paragraph = paragraph[listStart:listEnd]
	// The list: "(41)" after a status name, and ranges such as "300–312".
	var documented []model.Status
	for _, match := range regexp.MustCompile("`[a-z_]+` \\((\\d+)\\)").FindAllStringSubmatch(paragraph, -1) {
		number, _ := strconv.Atoi(match[1])
		documented = append(documented, model.Status(number))
	}
	for _, match := range regexp.MustCompile(`(\d+)–(\d+)`).FindAllStringSubmatch(paragraph, -1) {
		first, _ := strconv.Atoi(match[1])
		last, _ := strconv.Atoi(match[2])
		for number := first; number <= last; number++ {
			documented = append(documented, model.Status(number))
		}
	}
	for _, match := range regexp.MustCompile(`and (\d+);`).FindAllStringSubmatch(paragraph, -1) {
		number, _ := strconv.Atoi(match[1])
		documented = append(documented, model.Status(number))
	}
	var remembered []model.Status
	for number := range 1000 {
		status := model.Status(number)
		if status.Transient() || status == model.StatusSagaTimedOut ||
			status == model.StatusSagaDecisionUnknown {
			remembered = append(remembered, status)
		}
	}
	slices.Sort(documented)
	documented = slices.Compact(documented)
	if !slices.Equal(documented, remembered) {
		t.Fatalf("PROTOCOL.md lists %v as remembered failures; the ledger and sagas remember %v",
			documented, remembered)
	}
	// The names beside the numbers are the statuses' own.
	for _, match := range regexp.MustCompile("`([a-z_]+)` \\((\\d+)\\)").FindAllStringSubmatch(paragraph, -1) {
		number, _ := strconv.Atoi(match[2])
		if name := model.Status(number).String(); name != match[1] {
			t.Errorf("PROTOCOL.md names status %d %q; it is %q", number, match[1], name)
		}
	}
}
