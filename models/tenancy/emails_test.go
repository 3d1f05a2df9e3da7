package tenancy_test

import (
	"strings"
	"testing"

	"switchboard/models/tenancy"
)

func TestParseEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ada@example.com":             "ada@example.com",
		"  Ada.Lovelace@Example.COM ": "ada.lovelace@example.com",
		"ADA+tag@EXAMPLE.com":         "ada+tag@example.com",
		"o'brien@example.co.uk":       "o'brien@example.co.uk",
		// IDN domains are stored in ASCII, however they were typed.
		"ada@bücher.example":                    "ada@xn--bcher-kva.example",
		"ada@BÜCHER.example":                    "ada@xn--bcher-kva.example",
		"ada@xn--bcher-kva.example":             "ada@xn--bcher-kva.example",
		"ada@XN--BCHER-KVA.EXAMPLE":             "ada@xn--bcher-kva.example",
		"ada@例え.テスト":                            "ada@xn--r8jz45g.xn--zckzah",
		"ada@straße.example":                    "ada@xn--strae-oqa.example",
		"kelvin@example.com":                    "kelvin@example.com",
		"KELVIN@example.com":                    "kelvin@example.com",
		"a@" + strings.Repeat("a", 63) + ".com": "a@" + strings.Repeat("a", 63) + ".com",
	} {
		got, ok := tenancy.ParseEmail(in)
		if !ok || got != want {
			t.Errorf("ParseEmail(%q) = %q, %v; want %q", in, got, ok, want)
		}
		if !tenancy.ValidEmail(want) || tenancy.NormalizeEmail(in) != want {
			t.Errorf("%q: ValidEmail(%q) %v, NormalizeEmail %q", in, want, tenancy.ValidEmail(want), tenancy.NormalizeEmail(in))
		}
	}
	for _, in := range []string{
		"", "ada", "@example.com", "ada@", "ada@example", "ada@.example.com", "ada@example.com.", "ada@example..com",
		"Ada <ada@example.com>", `"ada"@example.com`, "ada @example.com", "ada@exa mple.com", "ada(x)@example.com", "a,b@example.com",
		"ada@[127.0.0.1]", "ada@ex_ample.com", "ada@-example.com", "ada@example-.com",
		// The Kelvin sign (U+212A) is not k: not in a local part, nor in a
		// domain, where IDNA would map it to plain ASCII.
		"\u212Aelvin@example.com", "kelvin@\u212Aelvin.example", "\u212A@example.com",
		// Other local parts outside ASCII: refused, not folded.
		"ädä@example.com", "ÄDA@example.com", "ﬀ@example.com", "ada\u200b@example.com", "ａｄａ@example.com",
		// Look-alikes of ASCII in a domain label.
		"ada@ｅｘａｍｐｌｅ.com", "ada@exa\u00admple.com", "ada@example\u3002com",
		// Hostile: control characters, bidi overrides, invalid UTF-8, NUL,
		// lengths past DNS's and SMTP's.
		"ada\x00@example.com", "ada@example.com\x00", "ada\n@example.com", "ada@exam\x7fple.com", "ada@\u202eelpmaxe.com",
		"ada@ex\xffample.com", "\xff@example.com",
		"a@" + strings.Repeat("a", 64) + ".com",
		strings.Repeat("a", 250) + "@example.com",
		"a@" + strings.Repeat("abcdefghi.", 26) + "com",
		strings.Repeat("@", 2000),
	} {
		if got, ok := tenancy.ParseEmail(in); ok {
			t.Errorf("ParseEmail(%q) = %q, want a refusal", in, got)
		}
		if tenancy.ValidEmail(tenancy.NormalizeEmail(in)) {
			t.Errorf("NormalizeEmail(%q) = %q is valid", in, tenancy.NormalizeEmail(in))
		}
	}
}

// NormalizeEmail never folds Unicode: the Kelvin sign stays what it is, so
// a lookup with it finds nobody whose address has a k.
func TestNormalizeEmailFoldsASCIIOnly(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"\u212Aelvin@Example.com": "\u212Aelvin@example.com",
		" ÄDA@EXAMPLE.COM ":       "Äda@example.com",
		"not an address":          "not an address",
		"KELVIN@EXAMPLE.COM":      "kelvin@example.com",
	} {
		if got := tenancy.NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Example.COM": "example.com", " bücher.example ": "xn--bcher-kva.example"} {
		if got, ok := tenancy.NormalizeDomain(in); !ok || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "\u212Aelvin.example", "exa mple.com", "example.com."} {
		if got, ok := tenancy.NormalizeDomain(in); ok {
			t.Errorf("NormalizeDomain(%q) = %q, want a refusal", in, got)
		}
	}
}
