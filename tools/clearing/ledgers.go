package clearing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sequent/netio/asciicase"
	"strconv"
	"strings"

	"sequent/core/model"
	"sequent/netio/client"
	"sequent/netio/jsonkeys"
)

// Ledgers is the registry of ledgers: each ledger's currency name and scale (decimal
// places of its minor unit). Sequent's ledger is a bare number and amounts are integers
// in minor units; what those units are is the operator's knowledge, kept in a small JSON
// file that the clearing commands read (--ledgers, SEQUENT_LEDGERS):
//
//	{"ledgers": [
//	  {"ledger": 1, "name": "USD",  "scale": 2},
//	  {"ledger": 2, "name": "EUR",  "scale": 2},
//	  {"ledger": 3, "name": "USDC", "scale": 6}
//	]}
//
// Conversion needs the two scales; reconciliation maps a statement's currency column to a
// ledger and its decimal amounts to minor units; reports print major units. It is not
// state of the ledger (the server never sees it), so it cannot drift from what was booked:
// a conversion records the scales it used in its legs' user data.
type Ledgers struct {
	byLedger map[uint32]LedgerInfo
	byName   map[string]LedgerInfo // Upper-cased names.
}

// LedgerInfo describes one ledger.
type LedgerInfo struct {
	Ledger uint32 `json:"ledger"`
	Name   string `json:"name"`
	Scale  uint8  `json:"scale"`
}

// ledgersFile is the JSON form of the registry.
type ledgersFile struct {
	Ledgers []LedgerInfo `json:"ledgers"`
}

// ledgersMax bounds the registry (a currency list, not data).
const ledgersMax = 65_536

// LoadLedgers reads a registry file. An empty path returns an empty registry. The file is
// one JSON object whose keys are each given once and spelled as documented (lower case),
// no unknown field.
func LoadLedgers(path string) (*Ledgers, error) {
	if path == "" {
		return NewLedgers(nil)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clearing: ledgers file: %w", err)
	}
	// Each key once, spelled exactly, one document: encoding/json keeps the last of two
	// equal keys and folds case, so {"ledger":1,"name":"USD","scale":2,"Scale":6} loaded
	// USD at scale 6 where a reviewer of the file read 2, and a second document after the
	// first went unread (TestHunt52cLedgersFileKeysAreReadOnce).
	if err := jsonkeys.Check(data); err != nil {
		return nil, fmt.Errorf("clearing: ledgers file %s: %w", path, err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	var file ledgersFile
	if err := decoder.Decode(&file); err != nil {
		return nil, fmt.Errorf("clearing: ledgers file %s: %w", path, err)
	}
	ledgers, err := NewLedgers(file.Ledgers)
	if err != nil {
		return nil, fmt.Errorf("clearing: ledgers file %s: %w", path, err)
	}
	return ledgers, nil
}

// NewLedgers builds a registry, refusing ledger 0, a scale above client.ScaleMax, a
// ledger number or name given twice, and a name that is another ledger's number.
func NewLedgers(infos []LedgerInfo) (*Ledgers, error) {
	if len(infos) > ledgersMax {
		return nil, fmt.Errorf("%d ledgers, at most %d", len(infos), ledgersMax)
	}
	l := &Ledgers{byLedger: map[uint32]LedgerInfo{}, byName: map[string]LedgerInfo{}}
	for _, info := range infos {
		name := asciicase.Upper(strings.TrimSpace(info.Name))
		switch _, numberTaken := l.byLedger[info.Ledger]; {
		case info.Ledger == 0:
			return nil, errors.New("ledger 0 is not a ledger")
		case info.Scale > client.ScaleMax:
			return nil, fmt.Errorf("ledger %d: scale %d, at most %d", info.Ledger, info.Scale,
				client.ScaleMax)
		case numberTaken:
			return nil, fmt.Errorf("ledger %d listed twice", info.Ledger)
		case name != "" && l.byName[name].Ledger != 0:
			return nil, fmt.Errorf("name %q used by ledgers %d and %d", info.Name,
				l.byName[name].Ledger, info.Ledger)
		case namesAnotherLedger(name, info.Ledger):
			// Resolve reads a statement's currency as a name first: currency "1" would be
			// this ledger's, where it is ledger 1's number
			// (TestHunt53aLedgerNamedAnotherLedgersNumberIsRefused).
			return nil, fmt.Errorf("ledger %d: name %q is another ledger's number", info.Ledger,
				info.Name)
		}
		l.byLedger[info.Ledger] = info
		if name != "" {
			l.byName[name] = info
		}
	}
	return l, nil
}

// namesAnotherLedger reports whether a (trimmed) name reads as the number of a ledger
// other than its own.
func namesAnotherLedger(name string, ledger uint32) bool {
	number, err := strconv.ParseUint(name, 10, 32)
	return err == nil && number != 0 && uint32(number) != ledger
}

// Ledger returns what the registry knows of a ledger.
func (l *Ledgers) Ledger(ledger uint32) (LedgerInfo, bool) {
	info, ok := l.byLedger[ledger]
	return info, ok
}

// Resolve maps a currency as a statement writes it — a name in the registry (any case of its ASCII letters; other letters as written) or
// a ledger number — to the ledger.
func (l *Ledgers) Resolve(currency string) (LedgerInfo, bool) {
	currency = strings.TrimSpace(currency)
	if info, ok := l.byName[asciicase.Upper(currency)]; ok {
		return info, true
	}
	number, err := strconv.ParseUint(currency, 10, 32)
	if err != nil || number == 0 {
		return LedgerInfo{}, false
	}
	if info, ok := l.byLedger[uint32(number)]; ok {
		return info, true
	}
	return LedgerInfo{Ledger: uint32(number)}, true // Unnamed: scale unknown (0).
}

// Name returns the ledger's currency name, or its number when it has none.
func (l *Ledgers) Name(ledger uint32) string {
	if info, ok := l.byLedger[ledger]; ok && info.Name != "" {
		return info.Name
	}
	return strconv.FormatUint(uint64(ledger), 10)
}

// FormatAmount writes an amount in minor units as a decimal in major units with exactly
// scale decimals: 12345 at scale 2 is "123.45".
func FormatAmount(amount model.Uint128, scale uint8) string {
	return client.FormatDecimal(amount, scale)
}

// ParseAmount reads a non-negative decimal in major units ("123.45", "7", "0.5") as
// minor units at scale, exactly: more significant decimals than the scale is an error,
// not a rounding (a statement that states fractions of a minor unit matches nothing). It
// allocates nothing (a million statement lines go through it).
func ParseAmount(text string, scale uint8) (model.Uint128, error) {
	whole, fraction, _ := strings.Cut(text, ".")
	if whole == "" && fraction == "" {
		return model.Uint128{}, fmt.Errorf("amount %q is empty", text)
	}
	for len(fraction) > int(scale) && fraction[len(fraction)-1] == '0' {
		fraction = fraction[:len(fraction)-1]
	}
	if len(fraction) > int(scale) {
		return model.Uint128{}, fmt.Errorf("amount %q has more than %d decimals", text, scale)
	}
	var value model.Uint128
	overflow := false
	for _, part := range [2]string{whole, fraction} {
		for i := 0; i < len(part); i++ {
			digit := part[i] - '0'
			if digit > 9 {
				return model.Uint128{}, fmt.Errorf("amount %q is not a decimal", text)
			}
			value, overflow = appendDigit(value, digit, overflow)
		}
	}
	for range int(scale) - len(fraction) {
		value, overflow = appendDigit(value, 0, overflow)
	}
	if overflow {
		return model.Uint128{}, fmt.Errorf("amount %q does not fit in 128 bits", text)
	}
	return value, nil
}

// ParseUnits reads a non-negative integer amount in minor units, without allocating.
func ParseUnits(text string) (model.Uint128, error) {
	return ParseAmount(text, 0)
}

// appendDigit returns value×10 + digit, carrying an overflow seen earlier.
func appendDigit(value model.Uint128, digit byte, overflow bool) (model.Uint128, bool) {
	value, timesOverflow := value.Mul64(10)
	value, plusOverflow := value.Add(model.U128(uint64(digit)))
	return value, overflow || timesOverflow || plusOverflow
}
