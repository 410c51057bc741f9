package whiteout

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		base   string
		kind   Kind
		target string
		err    error
	}{
		{"file", None, "", nil},
		{".hidden", None, "", nil},
		{".wh.file", Remove, "file", nil},
		{".wh..hidden", Remove, ".hidden", nil},
		{".wh..wh..opq", OpaqueDir, "", nil},
		{".wh..wh.plnk", Meta, "", nil},
		{".wh..wh.aufs", Meta, "", nil},
		{".wh.", None, "", ErrInvalid},
		{".wh..", None, "", ErrInvalid},
		{".wh...", None, "", ErrInvalid},
		{".wh.a/b", None, "", ErrInvalid},
		{".wh.a.wh.b", Remove, "a.wh.b", nil},
		{"a.wh.b", None, "", nil},
		{".wh", None, "", nil},
		{".wh.....", Remove, "....", nil},
		{".wh..wh.", Meta, "", nil},
		{".wh..wh..opqx", Meta, "", nil},
		{"..wh.x", None, "", nil},
	}
	for _, tt := range tests {
		kind, target, err := Parse(tt.base)
		if kind != tt.kind || target != tt.target || !errors.Is(err, tt.err) {
			t.Errorf("Parse(%q) = %v, %q, %v; want %v, %q, %v", tt.base, kind, target, err, tt.kind, tt.target, tt.err)
		}
	}
}

func TestInMeta(t *testing.T) {
	for p, want := range map[string]bool{
		".wh..wh.plnk":        true,
		".wh..wh.plnk/123.45": true,
		"a/.wh..wh.aufs":      true,
		"a/.wh..wh..opq":      false,
		"a/.wh.b":             false,
		"usr/bin":             false,
	} {
		if got := InMeta(p); got != want {
			t.Errorf("InMeta(%q) = %v, want %v", p, got, want)
		}
	}
}
