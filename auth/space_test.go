package auth

import (
	"strings"
	"testing"
	"unicode"
)

func TestIndexSpaceIsIndexFuncIsSpace(t *testing.T) {
	for _, s := range []string{
		"", "abc", "Bearer abc", "a\tb", "a\nb", "a\vb", "a\fb", "a\rb",
		"abc\u0085def", "abc\u00a0def", "ab\u2003c", "é é", "éé\x01 ",
		"\xff\xfe ", "x\u3000", strings.Repeat("eyJhbGciOi", 200) + " ",
	} {
		if got, want := indexSpace(s), strings.IndexFunc(s, unicode.IsSpace); got != want {
			t.Errorf("indexSpace(%q) = %d, want %d", s, got, want)
		}
	}
	for c := range 256 {
		s := "ab" + string(rune(c)) + "cd"
		if got, want := indexSpace(s), strings.IndexFunc(s, unicode.IsSpace); got != want {
			t.Errorf("indexSpace with U+%04X = %d, want %d", c, got, want)
		}
		// Every byte value at every place of a word the fast path reads, and
		// after it.
		for at := range 20 {
			b := []byte(strings.Repeat("eyJhbGciOi", 2))
			b[at] = byte(c)
			s := string(b)
			if got, want := indexSpace(s), strings.IndexFunc(s, unicode.IsSpace); got != want {
				t.Errorf("indexSpace with byte %#x at %d = %d, want %d", c, at, got, want)
			}
		}
	}
}
