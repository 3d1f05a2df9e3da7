package handlers

import (
	"strings"
	"testing"
)

func TestPlainParam(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"0123456789abcdef01234567", true},
		{"acme-video-labs", true},
		{"Zürich", true},
		{"-1", true},
		{"9223372036854775808", true},
		{strings.Repeat("a", maxParamLen), true},
		{"", true}, // the handler decides what an empty ID is
		{strings.Repeat("a", maxParamLen+1), false},
		{strings.Repeat("é", maxParamLen/2+1), false}, // bytes, not characters
		{"a\x00b", false},
		{"\xff\xfe", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false}, // C1
		{"\u202eexe.txt", false},
		{"a\u202ab", false},
		{"a\u2066b", false},
		{"a\u2069b", false},
		{"a\u200eb", false},
		{"a\u200fb", false},
		{"a\u061cb", false},
		{"a\u200bb", false}, // zero-width space
		{"a\u200cb", false},
		{"a\u200db", false},
		{"a\u2060b", false},
		{"\ufeffabc", false},
		{"a\u2028b", false},
	} {
		if got := plainParam(tc.value); got != tc.ok {
			t.Errorf("plainParam(%+q) = %v, want %v", tc.value, got, tc.ok)
		}
	}
}
