// Package asciicase compares and changes the case of ASCII letters only, leaving every
// other byte as it is. The strings package's case functions follow Unicode, which maps
// letters a plain search does not find onto ASCII ones (the long s U+017F onto "S", the
// Kelvin sign U+212A onto "k", the dotless i U+0131 onto "I"): names and words read from
// files that operators search by eye (statement columns, status words, currency names,
// host names) match in any case of their ASCII letters and exactly otherwise. No state;
// any goroutine.
package asciicase
