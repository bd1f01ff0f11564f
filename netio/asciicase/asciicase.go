package asciicase

// Lower returns s with its ASCII letters in lower case; s itself when it has none in
// upper case (no allocation).
func Lower(s string) string { return mapLetters(s, 'A', 'Z', 'a'-'A') }

// Upper returns s with its ASCII letters in upper case; s itself when it has none in
// lower case (no allocation).
func Upper(s string) string { return mapLetters(s, 'a', 'z', 256-('a'-'A')) }

// EqualFold reports whether a and b are equal when ASCII letters are compared without
// their case; every other byte must be equal.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// mapLetters adds shift (modulo 256: Upper's is minus 32) to every byte of s from first to
// last, copying s only from the first such byte on.
func mapLetters(s string, first, last byte, shift byte) string {
	for i := range len(s) {
		if first <= s[i] && s[i] <= last {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if first <= b[j] && b[j] <= last {
					b[j] += shift
				}
			}
			return string(b)
		}
	}
	return s
}
