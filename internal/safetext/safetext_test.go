package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain text", 0, "plain text"},
		{"héllo wörld 日本", 0, "héllo wörld 日本"},
		{"\x1b[2J\x1b]0;owned\x07", 0, `\x1b[2J\x1b]0;owned\x07`},
		{"line1\nline2\r\t", 0, `line1\nline2\r\t`},
		{"bad \xff utf8", 0, `bad \xff utf8`},
		{"c1 \u009b31m", 0, `c1 \u009b31m`},
		{"rtl \u202eevil", 0, `rtl \u202eevil`},
		{"abcdef", 4, "abc…"},
		{"abcd", 4, "abcd"},
		{"\x1b\x1b\x1b", 5, `\x1b…`},
	}
	for _, tt := range tests {
		if got := Cut(tt.in, tt.max); got != tt.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func FuzzCut(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[31m", "\xff\xfe", strings.Repeat("é", 300)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%400 + 1
		if max < 1 {
			max = -max + 1
		}
		got := Cut(s, max)
		if !utf8.ValidString(got) || !Safe(strings.TrimSuffix(got, "…")) {
			t.Fatalf("Cut(%q) = %q: not safe", s, got)
		}
		if n := utf8.RuneCountInString(got); n > max {
			t.Fatalf("Cut(%q, %d) = %q: %d runes", s, max, got, n)
		}
	})
}
