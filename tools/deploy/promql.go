package deploy

import (
	"fmt"
	"strings"
)

// promqlKeywords are PromQL words that are neither metrics nor functions.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true,
	"ignoring": true, "group_left": true, "group_right": true, "bool": true, "offset": true,
	"atan2": true, "inf": true, "nan": true,
}

// promqlLabelLists are the keywords followed by a parenthesised list of label names.
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true,
}

// MetricNames returns the metric names a PromQL expression selects, in order of first
// appearance, each once. It is a scanner, not a parser: it drops string literals, label
// matchers ({…}), ranges and subqueries ([…]), numbers and durations, Grafana variables
// ($var, ${var}, [[var]]), function names (a word before "("), keywords, and the label
// lists after by/without/on/ignoring/group_left/group_right; every other word is a metric
// name. It fails on an unbalanced bracket or quote, or a character PromQL does not use,
// so that a query it cannot read fails a test instead of passing unchecked.
func MetricNames(expr string) ([]string, error) {
	s := &promqlScanner{text: expr}
	var names []string
	seen := map[string]bool{}
	skipLabelList := false
	for {
		token, err := s.next()
		if err != nil {
			return nil, fmt.Errorf("%w in %q", err, expr)
		}
		switch {
		case token.kind == tokenEnd:
			return names, nil
		case token.kind == tokenOpen && skipLabelList:
			s.position-- // Back onto the "(" that skipPast starts from.
			if err := s.skipPast(')'); err != nil {
				return nil, fmt.Errorf("%w in %q", err, expr)
			}
		case token.kind == tokenWord:
			word := strings.ToLower(token.text)
			if promqlLabelLists[word] {
				skipLabelList = true
				continue
			}
			if promqlKeywords[word] || s.peekCall() {
				break // A keyword, a function or an aggregation.
			}
			if !seen[token.text] {
				seen[token.text] = true
				names = append(names, token.text)
			}
		}
		skipLabelList = false
	}
}

type tokenKind int

const (
	tokenEnd   tokenKind = iota
	tokenWord            // An identifier (metric, function, keyword, label).
	tokenOpen            // "(".
	tokenOther           // Anything else that matters to nobody here.
)

type promqlToken struct {
	kind tokenKind
	text string
}

// promqlScanner walks an expression, dropping what never names a metric.
type promqlScanner struct {
	text     string
	position int
}

func isWordStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isWordPart(c byte) bool { return isWordStart(c) || (c >= '0' && c <= '9') }

func (s *promqlScanner) next() (promqlToken, error) {
	for s.position < len(s.text) {
		c := s.text[s.position]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.position++
		case c == '#': // A comment runs to the end of the line.
			for s.position < len(s.text) && s.text[s.position] != '\n' {
				s.position++
			}
		case c == '"' || c == '\'' || c == '`':
			if err := s.skipString(c); err != nil {
				return promqlToken{}, err
			}
		case c == '{':
			if err := s.skipPast('}'); err != nil {
				return promqlToken{}, err
			}
		case c == '[' && strings.HasPrefix(s.text[s.position:], "[["):
			if err := s.skipPast(']'); err != nil { // Grafana's [[variable]].
				return promqlToken{}, err
			}
			s.position++
		case c == '[':
			if err := s.skipPast(']'); err != nil {
				return promqlToken{}, err
			}
		case c == '$':
			s.skipVariable()
		case c >= '0' && c <= '9' || c == '.':
			// A number or a duration (1e-3, 0x1f, 5m, 1h30m): never a metric.
			for s.position < len(s.text) && (isWordPart(s.text[s.position]) ||
				s.text[s.position] == '.') {
				s.position++
			}
		case isWordStart(c):
			start := s.position
			for s.position < len(s.text) && isWordPart(s.text[s.position]) {
				s.position++
			}
			return promqlToken{kind: tokenWord, text: s.text[start:s.position]}, nil
		case c == '(':
			s.position++
			return promqlToken{kind: tokenOpen}, nil
		case strings.IndexByte("),+-*/%^=!<>~@", c) >= 0:
			s.position++
			return promqlToken{kind: tokenOther}, nil
		default:
			return promqlToken{}, fmt.Errorf("unexpected %q at %d", c, s.position)
		}
	}
	return promqlToken{kind: tokenEnd}, nil
}

// peekCall reports whether the word just read is called: the next character that is not
// a space is "(", or the next word is by or without (an aggregation: sum by (…) (…)).
func (s *promqlScanner) peekCall() bool {
	i := s.position
	for i < len(s.text) && strings.IndexByte(" \t\n\r", s.text[i]) >= 0 {
		i++
	}
	if i < len(s.text) && s.text[i] == '(' {
		return true
	}
	end := i
	for end < len(s.text) && isWordPart(s.text[end]) {
		end++
	}
	word := strings.ToLower(s.text[i:end])
	return word == "by" || word == "without"
}

// skipString skips a quoted string starting at the position (backslash escapes, except
// in backquotes).
func (s *promqlScanner) skipString(quote byte) error {
	start := s.position
	for s.position++; s.position < len(s.text); s.position++ {
		switch c := s.text[s.position]; {
		case c == '\\' && quote != '`':
			s.position++
		case c == quote:
			s.position++
			return nil
		}
	}
	return fmt.Errorf("unterminated string at %d", start)
}

// skipPast skips to just after the closing byte, stepping over strings inside.
func (s *promqlScanner) skipPast(closing byte) error {
	start := s.position
	for s.position++; s.position < len(s.text); s.position++ {
		switch c := s.text[s.position]; c {
		case '"', '\'', '`':
			if err := s.skipString(c); err != nil {
				return err
			}
			s.position--
		case closing:
			s.position++
			return nil
		}
	}
	return fmt.Errorf("no %q closing what opens at %d", closing, start)
}

// skipVariable skips $name or ${name…}.
func (s *promqlScanner) skipVariable() {
	s.position++
	if s.position < len(s.text) && s.text[s.position] == '{' {
		for s.position < len(s.text) && s.text[s.position] != '}' {
			s.position++
		}
		s.position++
		return
	}
	for s.position < len(s.text) && isWordPart(s.text[s.position]) {
		s.position++
	}
}
