package tenancy

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ParseEmail is the one check of an email address, wherever one enters:
// it returns the address in the form every address is stored and
// compared in, and false when s is not a plain address like
// name@example.com. The form: trimmed, the domain in ASCII (IDNA, so
// bücher.example is xn--bcher-kva.example), ASCII letters lower-cased.
// Only ASCII is lower-cased: Unicode case folding would make distinct
// addresses one (the Kelvin sign K, U+212A, folds to k). So a local part
// outside ASCII is refused, as is a domain label written in non-ASCII
// characters that IDNA maps to plain ASCII (the Kelvin sign, fullwidth
// letters, a soft hyphen): it reads as one domain and is another's.
func ParseEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || len(s) > 1024 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if !isASCII(local) || !utf8.ValidString(domain) {
		return "", false
	}
	ascii, ok := domainToASCII(domain)
	if !ok {
		return "", false
	}
	addr := lowerASCII(local) + "@" + ascii
	if !plainAddress(addr) {
		return "", false
	}
	return addr, true
}

// NormalizeDomain is ParseEmail's form of a domain name on its own (an
// organization's email domain): ASCII, lower-case; false when it is not
// one.
func NormalizeDomain(s string) (string, bool) {
	return domainToASCII(strings.TrimSpace(s))
}

// NormalizeEmail is the form of s that stored addresses are compared
// with: ParseEmail's, or, for what is no valid address, s trimmed with
// its ASCII letters lower-cased, which matches no stored address
// ParseEmail made (and never folds Unicode).
func NormalizeEmail(s string) string {
	if addr, ok := ParseEmail(s); ok {
		return addr
	}
	return lowerASCII(strings.TrimSpace(s))
}

// ValidEmail reports whether s is an address in ParseEmail's form.
func ValidEmail(s string) bool {
	addr, ok := ParseEmail(s)
	return ok && addr == s
}

// domainToASCII converts a domain to its lower-case ASCII form with IDNA.
func domainToASCII(domain string) (string, bool) {
	if domain == "" || strings.HasSuffix(domain, ".") {
		return "", false
	}
	// As a resolver looks a name up: UTS #46 mapping, STD3 rules, hyphens,
	// joiners and bidi checked.
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || ascii == "" || len(ascii) > 253 {
		return "", false
	}
	ascii = lowerASCII(ascii)
	// A label with non-ASCII characters must come out as an IDNA label
	// (xn--): one that maps to plain ASCII was written in look-alikes.
	inLabels, outLabels := strings.Split(domain, "."), strings.Split(ascii, ".")
	if len(inLabels) != len(outLabels) {
		return "", false // a non-ASCII dot (。) split a label
	}
	for i, label := range inLabels {
		if outLabels[i] == "" || len(outLabels[i]) > 63 || (!isASCII(label) && !strings.HasPrefix(outLabels[i], "xn--")) {
			return "", false
		}
	}
	return ascii, true
}

// plainAddress reports whether addr (ASCII) is a plain address like
// name@example.com: no display name, no quoted or commented parts, a dot
// in the domain, at most 254 bytes.
func plainAddress(addr string) bool {
	if len(addr) > 254 || strings.ContainsAny(addr, " <>\"(),;:\\[]") {
		return false
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] < 0x21 || addr[i] == 0x7f {
			return false
		}
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Address != addr {
		return false
	}
	at := strings.LastIndexByte(addr, '@')
	domain := addr[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases the ASCII letters of s and leaves every other
// byte as it is.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
