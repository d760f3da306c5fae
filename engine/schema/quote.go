package schema

import (
	"strconv"
	"unicode/utf8"
)

// maxQuoted is how many bytes of a bad value an error message shows.
const maxQuoted = 64

// Quote returns s quoted for an error message, cut to its first 64 bytes
// (on a rune boundary) with the full length noted when it is longer, so a
// 10 MB field gives a one-line message.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}
