// Package jsonkeys checks that a JSON document means the same to every reader: each key
// given once in its object and spelled exactly as a field name. encoding/json keeps the
// last of two equal keys and matches a key to a field whatever its case (and folds U+017F
// to "s"), so {"ids":[1],"ids":[2]} or {"IDS":[2]} is read by it as ids [2] where a proxy,
// a log or a reviewer reading the JSON, keys distinct and case significant, sees ids [1]
// or no ids. Sequent refuses such documents wherever a person reviews what is applied:
// the operators' risk bodies (netio/ops), `sequent admin risk set`'s rule file, and the
// keys file (netio), where a client entry reading "permissions": ["read"] and further on
// "Permissions": ["read", "admin"] loaded with the admin permission.
//
// It has no dependency on the rest of Sequent, so netio, netio/api, netio/ops and
// tools/reconcile use it.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// DepthMax bounds the nesting Check follows: the documents checked nest at most six deep
// (keys file: {"clients":[{"grants":[{"scopes":[…]}]}]}).
const DepthMax = 8

// KeyShownBytesMax bounds how much of each key an error quotes (the refused one and
// those on the path to it), here and in the other strict JSON readers (netio/api's
// bodies, reconciliation's statement lines), so that one long key does not make an
// error, logged or echoed in a reply, the size of the document.
const KeyShownBytesMax = 64

// Check returns an error unless data is one JSON value (white space around it) whose
// objects give each key once, each key lower-case ASCII letters, digits and "_" (as
// every Sequent field name is) written without escapes, nested at most DepthMax deep. The
// error names the key and where it is ("clients[0].grants[1]: key \"Scopes\": …"; no
// prefix at the top).
//
// A key written with an escape ("\u0070ermissions") means its field to every JSON
// parser, but not to a reader of the raw text: a reviewer or an auditor searching the
// file for "permissions", a log filter, a proxy's pattern. No encoder escapes the
// characters of a field name, so only a hand-made document has one
// (TestHunt52cEscapedKeysAreRefused).
func Check(data []byte) error {
	decoder := json.NewDecoder(bytes.NewReader(data))
	if err := checkValue(decoder, data, nil); err != nil {
		return err
	}
	if _, err := decoder.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// checkValue reads one JSON value of data; path is where it is (object keys and array
// indexes).
func checkValue(decoder *json.Decoder, data []byte, path []string) error {
	token, err := decoder.Token()
	if err != nil {
		return err
	}
	delimiter, isDelimiter := token.(json.Delim)
	if !isDelimiter {
		return nil // A scalar.
	}
	if len(path) >= DepthMax {
		return fmt.Errorf("%snested over %d deep", where(path), DepthMax)
	}
	seen := map[string]bool{}
	for index := 0; decoder.More(); index++ {
		element := "[" + strconv.Itoa(index) + "]"
		if delimiter == '{' {
			// What the key's token consumes: white space, a comma and the quoted key,
			// where a backslash can only be an escape in the key.
			before := decoder.InputOffset()
			token, err := decoder.Token()
			if err != nil {
				return err
			}
			key, _ := token.(string)
			switch {
			case !FieldName(key):
				return fmt.Errorf("%skey %q: keys are field names as documented (lower case)",
					where(path), Truncate(key, KeyShownBytesMax))
			case bytes.IndexByte(data[before:decoder.InputOffset()], '\\') >= 0:
				return fmt.Errorf("%skey %q written with an escape: write keys as plain "+
					"field names", where(path), Truncate(key, KeyShownBytesMax))
			case seen[key]:
				return fmt.Errorf("%skey %q given twice", where(path),
					Truncate(key, KeyShownBytesMax))
			}
			seen[key] = true
			element = key
		}
		if err := checkValue(decoder, data, append(path, element)); err != nil {
			return err
		}
	}
	_, err = decoder.Token() // The closing delimiter.
	return err
}

// where renders path as an error prefix: "" at the top, else "clients[0].grants[1]: ",
// each key cut to KeyShownBytesMax (TestReview52oErrorsQuoteKeysBounded).
func where(path []string) string {
	if len(path) == 0 {
		return ""
	}
	var text []byte
	for _, element := range path {
		if len(text) > 0 && element[0] != '[' {
			text = append(text, '.')
		}
		text = append(text, Truncate(element, KeyShownBytesMax)...)
	}
	return string(text) + ": "
}

// FieldName reports whether key is a possible field name: lower-case ASCII letters,
// digits and "_", not empty.
func FieldName(key string) bool {
	for _, c := range []byte(key) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return key != ""
}

// Truncate cuts text to at most bytesMax bytes without splitting a UTF-8 sequence: how
// Sequent bounds what an error or a record quotes of a peer's text (keys here, in
// netio/api and tools/reconcile; paths and fields in netio/api and netio/ops), one helper
// so that each cuts alike.
func Truncate(text string, bytesMax int) string {
	if len(text) <= bytesMax {
		return text
	}
	cut := bytesMax
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}
