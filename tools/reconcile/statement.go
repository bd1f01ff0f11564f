package reconcile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sequent/netio/asciicase"
	"strconv"
	"strings"
	"unicode"

	"sequent/core/model"
	"sequent/netio/jsonkeys"
	"sequent/tools/clearing"
)

// Statement formats.
const (
	FormatCSV        = "csv"
	FormatJSONLines  = "jsonl"
	AmountUnitMajor  = "major"  // Decimals in the currency's major unit ("12.34").
	AmountUnitMinor  = "minor"  // Integers in minor units ("1234").
	lineBytesMax     = 1 << 20  // Longest statement line (JSON lines) or CSV record accepted.
	lineBytesFirst   = 64 << 10 // The JSON lines scanner's first buffer (it grows to lineBytesMax).
	readBufferBytes  = 1 << 20  // The statement file's read buffer.
	statementColumns = 64       // Most columns resolved by name (a header longer is fine).
)

// Statement fields and their default column names.
const (
	FieldReference = "reference" // Required: the payment's reference (see ReferenceKey).
	FieldAmount    = "amount"    // Required: signed unless a direction column is mapped.
	FieldCurrency  = "currency"  // Optional: a name in the ledger registry, or a ledger number.
	FieldStatus    = "status"    // Optional: a word mapped by Mapping.Statuses.
	FieldDirection = "direction" // Optional: credit or debit (words mapped by Directions).
)

var fields = []string{FieldReference, FieldAmount, FieldCurrency, FieldStatus, FieldDirection}

// Mapping says how to read a partner's statement. The zero value reads a CSV file with a
// header naming the columns reference, amount and optionally currency, status and
// direction, amounts in major units.
type Mapping struct {
	Format   string // FormatCSV or FormatJSONLines; "": by extension (.jsonl, .ndjson: JSON lines).
	Comma    rune   // CSV separator; 0: ','.
	NoHeader bool   // CSV without a header line: Columns name 1-based column numbers.
	// Columns maps a field to the statement's column name (a JSON lines key), or with
	// NoHeader to its number. Fields left out use their own name; with NoHeader,
	// reference and amount must be given.
	Columns    map[string]string
	AmountUnit string // AmountUnitMajor (default) or AmountUnitMinor.
	// Statuses maps statement words (any case) to posted, pending, voided or expired, on
	// top of the defaults (settled, completed, paid … → posted; processing, authorized …
	// → pending; cancelled, reversed, failed … → voided).
	Statuses map[string]string
	// Directions maps words to credit or debit on top of the defaults (credit, cr, c, in
	// → credit; debit, dr, d, out → debit). The direction is the reconciled account's.
	Directions map[string]string
	// Invert flips every line's direction: for a statement written from the partner's
	// side, where its credit is the account's debit.
	Invert bool
	// HashReferences maps references that are neither numbers nor UUIDs to a key by
	// SHA-256 (see ReferenceKey) instead of refusing them.
	HashReferences bool
}

var defaultStatuses = map[string]uint8{
	"posted": statusPosted, "settled": statusPosted, "completed": statusPosted,
	"complete": statusPosted, "success": statusPosted, "succeeded": statusPosted,
	"successful": statusPosted, "booked": statusPosted, "paid": statusPosted,
	"cleared": statusPosted, "executed": statusPosted,
	"pending": statusPending, "processing": statusPending, "in_progress": statusPending,
	"authorized": statusPending, "authorised": statusPending, "open": statusPending,
	"held":   statusPending,
	"voided": statusVoided, "void": statusVoided, "cancelled": statusVoided,
	"canceled": statusVoided, "reversed": statusVoided, "failed": statusVoided,
	"rejected": statusVoided, "declined": statusVoided,
	"expired": statusExpired,
}

var defaultDirections = map[string]uint8{"credit": sideCredit, "cr": sideCredit,
	"c": sideCredit, "in": sideCredit, "debit": sideDebit, "dr": sideDebit, "d": sideDebit,
	"out": sideDebit}

// ErrMapping is wrapped by errors in a Mapping (found before any line is read).
var ErrMapping = errors.New("reconcile: bad statement mapping")

// ReferenceKey turns a statement's reference into the 128-bit key it is matched by: a
// decimal number; 0x and 32 hex digits at most; or a UUID (its 16 bytes, big-endian). With
// hash, any other text becomes the first 16 bytes of its SHA-256 (big-endian); an
// application that books transfers with such references stores the same key in the
// transfer's user data. A key of 0 is not a reference.
func ReferenceKey(text string, hash bool) (model.Uint128, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return model.Uint128{}, errors.New("no reference")
	}
	if key, ok := parseNumericReference(text); ok {
		if key.IsZero() {
			return key, errors.New("reference 0")
		}
		return key, nil
	}
	if !hash {
		return model.Uint128{}, fmt.Errorf("reference %q is not a number, 0x-hex or a UUID", text)
	}
	digest := sha256.Sum256([]byte(text))
	return bigEndianKey(digest[:16]), nil
}

func parseNumericReference(text string) (model.Uint128, bool) {
	if isDecimal(text) {
		key, err := clearing.ParseUnits(text)
		return key, err == nil
	}
	hexDigits := ""
	switch {
	case len(text) > 2 && (text[:2] == "0x" || text[:2] == "0X"):
		hexDigits = text[2:]
	case len(text) == 36 && text[8] == '-' && text[13] == '-' && text[18] == '-' &&
		text[23] == '-':
		hexDigits = text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:]
	default:
		return model.Uint128{}, false
	}
	if len(hexDigits) == 0 || len(hexDigits) > 32 {
		return model.Uint128{}, false
	}
	var padded [32]byte
	copy(padded[32-len(hexDigits):], hexDigits)
	for i := 0; i < 32-len(hexDigits); i++ {
		padded[i] = '0'
	}
	var raw [16]byte
	if _, err := hex.Decode(raw[:], padded[:]); err != nil {
		return model.Uint128{}, false
	}
	return bigEndianKey(raw[:]), true
}

func bigEndianKey(b []byte) model.Uint128 {
	var key model.Uint128
	for i := 0; i < 8; i++ {
		key.Hi = key.Hi<<8 | uint64(b[i])
		key.Lo = key.Lo<<8 | uint64(b[8+i])
	}
	return key
}

func isDecimal(text string) bool {
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' {
			return false
		}
	}
	return text != ""
}

// statement reads a statement's lines as entries.
type statement struct {
	mapping    Mapping
	ledgers    *clearing.Ledgers
	account    clearing.LedgerInfo // The reconciled account's ledger (and scale).
	statuses   map[string]uint8
	directions map[string]uint8
	columns    [5]int    // Per field (order of fields): CSV column index, -1 if not mapped.
	keys       [5]string // Per field: JSON lines key, "" if not mapped.
	csv        *csv.Reader
	limiter    *recordLimiter // The CSV reader's input, counting each record's bytes.
	lines      *bufio.Scanner
	json       map[string]json.RawMessage
	record     [5]string    // The current line's fields.
	present    [5]bool      // JSON lines: the current line names the field's key (even as "" or null).
	escaped    []escapedKey // JSON lines: the current line's keys written with an escape.
	unreadable string       // Why the current line could not be read at all; "": it was.
	line       uint64
}

// openStatement checks the mapping and reads the CSV header, if any.
func openStatement(input io.Reader, path string, mapping Mapping, ledgers *clearing.Ledgers,
	account clearing.LedgerInfo) (*statement, error) {
	s := &statement{mapping: mapping, ledgers: ledgers, account: account,
		statuses: map[string]uint8{}, directions: map[string]uint8{}}
	if err := s.configure(path); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMapping, err)
	}
	input = skipByteOrderMark(input)
	if s.mapping.Format == FormatJSONLines {
		for i := range s.columns {
			s.columns[i] = -1 // Fields are found by key, line by line.
		}
		s.lines = bufio.NewScanner(input)
		s.lines.Buffer(make([]byte, lineBytesFirst), lineBytesMax)
		s.json = map[string]json.RawMessage{}
		return s, nil
	}
	s.limiter = &recordLimiter{input: input}
	s.csv = csv.NewReader(s.limiter)
	s.csv.Comma, s.csv.ReuseRecord, s.csv.FieldsPerRecord = s.mapping.Comma, true, -1
	if s.mapping.Comma == 0 {
		s.csv.Comma = ','
	}
	if err := s.resolveColumns(); err != nil {
		return nil, err
	}
	return s, nil
}

// errRecordTooLong: a CSV record (a quoted field may span lines) ran over lineBytesMax.
var errRecordTooLong = fmt.Errorf("longer than %d bytes (a quote left open?)", lineBytesMax)

// recordLimiter is the CSV reader's input: it fails once more than lineBytesMax bytes were
// read since read was last set to 0 (before each record), so that a record, which the CSV
// reader holds whole, keeps memory bounded (a quoted field never closed took the rest of
// the file into memory; TestHunt52bLongCSVRecordStopsTheRun). The CSV reader's own buffer
// (4 KiB) may hold the start of a record read before its count began.
type recordLimiter struct {
	input io.Reader
	read  int
}

func (r *recordLimiter) Read(p []byte) (int, error) {
	if r.read > lineBytesMax {
		return 0, errRecordTooLong
	}
	n, err := r.input.Read(p)
	r.read += n
	return n, err
}

// skipByteOrderMark returns a buffered reader past a UTF-8 byte order mark, which
// spreadsheet exports put at the start of CSV files.
func skipByteOrderMark(input io.Reader) *bufio.Reader {
	buffered := bufio.NewReaderSize(input, readBufferBytes)
	if start, _ := buffered.Peek(3); bytes.Equal(start, []byte("\xef\xbb\xbf")) {
		buffered.Discard(3)
	}
	return buffered
}

// configure fills the defaults and the word maps and checks the mapping.
func (s *statement) configure(path string) error {
	m := &s.mapping
	if m.Format == "" {
		m.Format = FormatCSV
		if extension := strings.ToLower(filepath.Ext(path)); extension == ".jsonl" ||
			extension == ".ndjson" {
			m.Format = FormatJSONLines
		}
	}
	if m.AmountUnit == "" {
		m.AmountUnit = AmountUnitMajor
	}
	switch {
	case m.Format != FormatCSV && m.Format != FormatJSONLines:
		return fmt.Errorf("format %q: want csv or jsonl", m.Format)
	case m.AmountUnit != AmountUnitMajor && m.AmountUnit != AmountUnitMinor:
		return fmt.Errorf("amount unit %q: want major or minor", m.AmountUnit)
	case m.NoHeader && m.Format != FormatCSV:
		return errors.New("no header applies to CSV only")
	}
	for field := range m.Columns {
		if !contains(fields, field) {
			return fmt.Errorf("unknown field %q (fields: %s)", field, strings.Join(fields, ", "))
		}
	}
	if err := mergeWords(s.statuses, defaultStatuses, m.Statuses, statusNames[1:]); err != nil {
		return fmt.Errorf("status map: %w", err)
	}
	if err := mergeWords(s.directions, defaultDirections, m.Directions,
		[]string{"credit", "debit"}); err != nil {
		return fmt.Errorf("direction map: %w", err)
	}
	return nil
}

// mergeWords fills target with the defaults, then the user's words (word → one of names;
// names[i] is value i+1).
func mergeWords(target, defaults map[string]uint8, user map[string]string,
	names []string) error {
	for word, value := range defaults {
		target[word] = value
	}
	for word, name := range user {
		index := indexOf(names, asciicase.Lower(name))
		if index < 0 {
			return fmt.Errorf("%q → %q: want one of %s", word, name, strings.Join(names, ", "))
		}
		target[asciicase.Lower(strings.TrimSpace(word))] = uint8(index + 1)
	}
	return nil
}

// resolveColumns finds each field's column: by header name, or by number.
func (s *statement) resolveColumns() error {
	var header []string
	if !s.mapping.NoHeader {
		s.limiter.read = 0
		record, err := s.csv.Read()
		if err != nil {
			return fmt.Errorf("reconcile: statement header: %w", err)
		}
		header = append(header, record...)
		s.line = 1
	}
	for i, field := range fields {
		s.columns[i] = -1
		column, given := s.mapping.Columns[field]
		if !given {
			column = field
		}
		if s.mapping.NoHeader {
			if !given {
				continue
			}
			number, err := strconv.Atoi(column)
			if err != nil || number < 1 || number > statementColumns {
				return fmt.Errorf("%w: field %s: column %q is not a number from 1 to %d",
					ErrMapping, field, column, statementColumns)
			}
			s.columns[i] = number - 1
			continue
		}
		index, err := headerColumn(header, column, given)
		if err != nil {
			return fmt.Errorf("%w: field %s: %v", ErrMapping, field, err)
		}
		s.columns[i] = index
		if s.columns[i] < 0 && given {
			return fmt.Errorf("%w: field %s: no column %q in the header", ErrMapping, field,
				column)
		}
	}
	if s.columns[0] < 0 || s.columns[1] < 0 {
		return fmt.Errorf("%w: the statement needs a reference and an amount column", ErrMapping)
	}
	return nil
}

// headerColumn returns the index of the header's column named name, or -1. Names match
// whatever their case and the spaces around them: a partner's "Status" or " currency" is
// the field, and leaving such a column out would compare nothing it states (a "voided"
// line matched a posted payment; TestHunt52bHeaderNamesAnyCaseAndSpacing). Two columns
// that both match leave the field ambiguous: refused, unless the name was given (a
// --column mapping) and one column is exactly it.
func headerColumn(header []string, name string, given bool) (int, error) {
	if given {
		if exact := indexOf(header, name); exact >= 0 && indexOf(header[exact+1:], name) < 0 {
			return exact, nil
		}
	}
	index := -1
	for i, column := range header {
		if !sameName(column, name) {
			continue
		}
		if index >= 0 {
			return -1, fmt.Errorf("columns %d (%q) and %d (%q) both name %q", index+1,
				header[index], i+1, column, name)
		}
		index = i
	}
	return index, nil
}

// sameName reports whether a statement's column name (or JSON key) is name. What cannot be
// seen around a name does not count: spaces, and the zero-width space and byte order mark
// (U+200B, U+FEFF) that pasted or concatenated exports carry, which a partner's
// "status\u200b" column left out of the comparison, a silent match
// (TestReview52bHeaderNamesIgnoreInvisibleCharacters). Case is ignored for ASCII letters
// only: strings.EqualFold also folds the long s (U+017F) onto "s" and the Kelvin sign
// (U+212A) onto "k", so a "ſtatus" column was read as status while a search of the file
// for "status" finds nothing (TestSameNameFoldsASCIIOnly).
func sameName(column, name string) bool {
	return asciicase.EqualFold(trimInvisible(column), trimInvisible(name))
}

func trimInvisible(name string) string {
	return strings.TrimFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff'
	})
}

// next reads the next line into e. It returns ok false at the end; a line that cannot be
// read is reported as problem (e is then not valid) and reading goes on (a stray quote
// within one CSV line or a line that is not JSON included); err is an I/O error, a CSV
// quote left open past its line, or a JSON line or CSV record over lineBytesMax, that
// stops everything.
func (s *statement) next(e *entry) (line uint64, problem string, ok bool, err error) {
	if s.csv != nil {
		ok, err = s.nextCSV()
	} else {
		ok, err = s.nextJSON()
	}
	if !ok || err != nil {
		return s.line, "", ok, err
	}
	return s.line, s.parse(e), true, nil
}

func (s *statement) nextCSV() (bool, error) {
	s.unreadable = ""
	s.limiter.read = 0
	record, err := s.csv.Read()
	var parseError *csv.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return false, nil
	case errors.As(err, &parseError) && errors.Is(parseError.Err, csv.ErrFieldCount):
	case errors.As(err, &parseError) && (errors.Is(parseError.Err, csv.ErrBareQuote) ||
		errors.Is(parseError.Err, csv.ErrQuote)) && parseError.Line == parseError.StartLine:
		// A stray quote spoils its line (its record, if any, is cut short), not the
		// statement: the reader goes on at the next line
		// (TestHunt49StrayQuoteIsOneUnreadableLine). One whose error is on a later line
		// than its record's start (a quote opened and not closed on its line) took the
		// lines up to there, maybe to the end of the file, into one field: reading on
		// would lose them without a word, so it stops the run like any other format
		// error (TestReviewHN49UnclosedQuoteDoesNotSwallowTheLinesAfterIt).
		s.line = uint64(parseError.StartLine)
		s.unreadable = "not CSV: " + parseError.Err.Error()
		return true, nil
	case errors.Is(err, errRecordTooLong):
		return false, fmt.Errorf("reconcile: statement: the record after line %d: %w", s.line,
			err)
	case err != nil:
		return false, fmt.Errorf("reconcile: statement: %w", err)
	}
	line, _ := s.csv.FieldPos(0)
	s.line = uint64(line)
	for i, column := range s.columns {
		s.record[i] = ""
		if column >= 0 && column < len(record) {
			s.record[i] = record[column]
		}
	}
	return true, nil
}

func (s *statement) nextJSON() (bool, error) {
	s.unreadable = ""
	for s.lines.Scan() {
		s.line++
		text := bytes.TrimSpace(s.lines.Bytes())
		if len(text) == 0 {
			continue // Blank lines are not records.
		}
		clear(s.json)
		if err := json.Unmarshal(text, &s.json); err != nil {
			s.unreadable = "not JSON: " + err.Error()
			return true, nil
		}
		var members int
		members, s.escaped = objectMembers(text, s.escaped[:0])
		if members != len(s.json) {
			// The decoder keeps a repeated key's last value: a line stating two amounts
			// would be read as the second, and could match with no difference
			// (TestHunt52bRepeatedJSONKeyIsUnreadable).
			s.unreadable = "a key appears more than once"
			return true, nil
		}
		for i, field := range fields {
			_, given := s.mapping.Columns[field]
			if problem := s.escapedField(s.key(i, field)); problem != "" {
				s.unreadable = problem
				return true, nil
			}
			raw, problem := s.jsonField(s.key(i, field), given)
			if problem != "" {
				s.unreadable = problem
				return true, nil
			}
			s.record[i], s.present[i] = jsonText(raw), raw != nil
		}
		return true, nil
	}
	if err := s.lines.Err(); err != nil {
		return false, fmt.Errorf("reconcile: statement line %d: %w", s.line+1, err)
	}
	return false, nil
}

func (s *statement) key(i int, field string) string {
	if s.keys[i] == "" {
		s.keys[i] = field
		if column, given := s.mapping.Columns[field]; given {
			s.keys[i] = column
		}
	}
	return s.keys[i]
}

// escapedKey is a key of a JSON line written with an escape: as written (without its
// quotes) and as read.
type escapedKey struct {
	written, name string
}

// objectMembers counts the members of a JSON object (text is one, already checked valid),
// repeated keys included, and appends to escaped its keys written with an escape.
func objectMembers(text []byte, escaped []escapedKey) (int, []escapedKey) {
	depth, members, inString, escape, start := 0, 0, false, false, 0
	for i := 0; i < len(text); i++ {
		if inString {
			switch text[i] {
			case '\\':
				i++ // The escaped character, which may be a quote.
				escape = true
			case '"':
				inString = false
				if escape && depth == 1 && isKey(text[i+1:]) {
					var name string
					_ = json.Unmarshal(text[start:i+1], &name) // Valid: checked before.
					escaped = append(escaped, escapedKey{string(text[start+1 : i]), name})
				}
			}
			continue
		}
		switch text[i] {
		case '"':
			inString, escape, start = true, false, i
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 1 {
				members++
			}
		}
	}
	return members, escaped
}

// isKey reports whether the string that rest follows is a key: the next thing after
// white space is a colon.
func isKey(rest []byte) bool {
	rest = bytes.TrimLeft(rest, " \t\r\n")
	return len(rest) > 0 && rest[0] == ':'
}

// escapedField returns why the current JSON line cannot be read when one of its keys
// written with an escape names key (as jsonField matches names), else "". Every JSON
// parser reads "\u0061mount" as amount, a person or a search reading the statement for
// "amount" does not: such a line was reconciled on an amount its reader never saw
// (TestAPI53EscapedJSONKeyIsUnreadable). Other strict JSON inputs refuse such keys
// (netio/jsonkeys); here only the keys the statement is read by, since an exporter that
// escapes every non-ASCII character (Python's json.dumps) writes its own other keys so.
func (s *statement) escapedField(key string) string {
	for _, escaped := range s.escaped {
		if sameName(escaped.name, key) {
			// Quoted (%q), as every problem quotes a statement's text: the key may hold
			// raw what the name matching trims (U+0085, U+2028, U+200B), which the text
			// report would print as is (TestReview53apiEscapedKeyProblemQuotesNoRawControls).
			return fmt.Sprintf("key %q (%s) written with an escape: a key read as a "+
				"field must be written plainly",
				jsonkeys.Truncate(escaped.written, jsonkeys.KeyShownBytesMax),
				jsonkeys.Truncate(key, jsonkeys.KeyShownBytesMax))
		}
	}
	return ""
}

// jsonField returns the current JSON line's value under key, whose case and surrounding
// spaces do not matter (as a CSV header's names), or why it is ambiguous. A key given by
// the mapping (--column) and present exactly settles the ambiguity, as a CSV header's
// column does (TestReview52bJSONKeyNamedExactlyByColumnSettlesTheAmbiguity); a line has
// each exact key once (nextJSON refuses repeated keys).
func (s *statement) jsonField(key string, given bool) (json.RawMessage, string) {
	if raw, exact := s.json[key]; given && exact {
		return raw, ""
	}
	found := ""
	var value json.RawMessage
	for name, raw := range s.json {
		if !sameName(name, key) {
			continue
		}
		if found != "" {
			first, second := min(found, name), max(found, name)
			return nil, fmt.Sprintf("keys %q and %q both name %q", first, second, key)
		}
		found, value = name, raw
	}
	return value, ""
}

// jsonText returns a JSON value as text: a string's contents, a number's literal.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] != '"' {
		return string(raw)
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var text string
	if json.Unmarshal(raw, &text) != nil {
		return ""
	}
	return text
}

// stated reports whether the current line states field i: a CSV statement has its column,
// a JSON line names its key, even with "" or null, as a CSV cell left empty
// (TestReview52bJSONKeyStatedEmptyIsNotUnstated).
func (s *statement) stated(i int) bool { return s.columns[i] >= 0 || s.present[i] }

// parse turns the current line's fields into an entry, or says why it cannot.
func (s *statement) parse(e *entry) string {
	reference, amount, currency, status, direction := s.record[0], s.record[1],
		s.record[2], s.record[3], s.record[4]
	if s.unreadable != "" {
		return s.unreadable
	}
	key, err := ReferenceKey(reference, s.mapping.HashReferences)
	if err != nil {
		return err.Error()
	}
	*e = entry{key: key, order: s.line}
	info := s.account
	if s.stated(2) {
		resolved, ok := s.ledgers.Resolve(currency)
		if !ok {
			return fmt.Sprintf("unknown currency %q (add it to the ledger registry)", currency)
		}
		info, e.ledger = resolved, resolved.Ledger
	}
	if _, known := s.ledgers.Ledger(info.Ledger); !known && s.mapping.AmountUnit == AmountUnitMajor {
		return fmt.Sprintf("ledger %d (currency %q): its scale is unknown, so a decimal amount "+
			"cannot be read (add it to the ledger registry, or use minor units)", info.Ledger,
			currency)
	}
	if problem := s.parseAmount(e, amount, direction, info.Scale); problem != "" {
		return problem
	}
	if status != "" {
		if e.status = s.statuses[asciicase.Lower(strings.TrimSpace(status))]; e.status == 0 {
			return fmt.Sprintf("unknown status %q (map it with the status map)", status)
		}
	} else if s.stated(3) {
		return "no status"
	}
	return ""
}

func (s *statement) parseAmount(e *entry, amount, direction string, scale uint8) string {
	amount = strings.TrimSpace(amount)
	// One sign at most: "-+5" is not an amount (it was read as -5;
	// TestHunt52bAmountWithTwoSignsIsUnreadable).
	negative := strings.HasPrefix(amount, "-")
	if negative || strings.HasPrefix(amount, "+") {
		amount = amount[1:]
	}
	if s.mapping.AmountUnit == AmountUnitMinor {
		scale = 0
	}
	value, err := clearing.ParseAmount(amount, scale)
	if err != nil {
		return err.Error()
	}
	e.amount, e.side = value, sideCredit
	if negative {
		e.side = sideDebit
	}
	if direction != "" || s.stated(4) {
		side := s.directions[asciicase.Lower(strings.TrimSpace(direction))]
		switch {
		case side == 0:
			return fmt.Sprintf("unknown direction %q (map it with the direction map)", direction)
		case negative:
			return "a negative amount with a direction column"
		}
		e.side = side
	}
	if s.mapping.Invert {
		e.side = sideCredit + sideDebit - e.side
	}
	return ""
}

func indexOf(list []string, value string) int {
	for i, item := range list {
		if item == value {
			return i
		}
	}
	return -1
}

func contains(list []string, value string) bool { return indexOf(list, value) >= 0 }
