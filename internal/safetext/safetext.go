// Package safetext makes text from untrusted sources (registries, token
// servers, Docker Hub, image configs) safe to put in an error message or on
// a terminal: control characters and invalid UTF-8 are escaped, bidi
// overrides that reorder what is shown are escaped, and the text is cut to
// a readable length.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMax is the length, in runes, Cut keeps by default (about two
// terminal lines).
const DefaultMax = 160

// Clean escapes s and cuts it to DefaultMax runes.
func Clean(s string) string { return Cut(s, DefaultMax) }

// Cut escapes every control character (C0, DEL, C1), invalid UTF-8 byte,
// and invisible format character such as a bidi override (as \n, \x1b,
// \u202e) and keeps at most max runes of the result, ending a cut text
// with "…". max <= 0 means no cut. Printable text, including non-ASCII
// letters, passes unchanged.
func Cut(s string, max int) string {
	if safe(s) && (max <= 0 || utf8.RuneCountInString(s) <= max) {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case needsEscape(r):
			piece = escape(r)
		default:
			piece = s[i : i+size]
		}
		i += size
		pn := utf8.RuneCountInString(piece)
		if max > 0 && n+pn > max-1 && (i < len(s) || n+pn > max) {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(piece)
		n += pn
	}
	return b.String()
}

// Safe reports whether s prints as it is: valid UTF-8 without control or
// invisible format characters.
func Safe(s string) bool { return safe(s) }

func safe(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || needsEscape(r) {
			return false
		}
		i += size
	}
	return true
}

func needsEscape(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
		unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029
}

func escape(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x80 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}
