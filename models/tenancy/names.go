package tenancy

import "strings"

// hiddenRune reports whether r changes how the text around it is shown
// without showing itself: a bidirectional control, which can make
// "invoice\u202Efdp.exe" read as "invoiceexe.pdf", or a zero-width or
// invisible character, which makes two different names look the same.
func hiddenRune(r rune) bool {
	switch {
	case r == 0x00AD: // soft hyphen
	case r == 0x061C: // Arabic letter mark
	case r == 0x180E: // Mongolian vowel separator
	case r >= 0x200B && r <= 0x200F: // zero-width space, non-joiner, joiner; left-to-right and right-to-left marks
	case r >= 0x202A && r <= 0x202E: // embeddings and overrides
	case r >= 0x2060 && r <= 0x2064: // word joiner and the invisible operators
	case r >= 0x2066 && r <= 0x206F: // isolates, and the deprecated shaping and digit controls
	case r == 0xFEFF: // zero-width no-break space (byte order mark)
	default:
		return false
	}
	return true
}

// NameProblem is the one check of the characters of a name people read
// elsewhere — display names, organization, index, API key and integration
// names, video titles: it says what is wrong with s, or "" when nothing is.
// what is how the message names the field ("The name", "The title").
func NameProblem(what, s string) string {
	switch {
	case !PlainText(s):
		return what + " cannot contain control characters."
	case strings.IndexFunc(s, hiddenRune) >= 0:
		return what + " cannot contain invisible or direction-changing characters."
	}
	return ""
}
