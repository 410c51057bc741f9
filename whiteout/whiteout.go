// Package whiteout holds the OCI image-spec whiteout rules: how a layer
// says "delete this from the layers below" (.wh.NAME) and "hide everything
// below in this directory" (.wh..wh..opq).
package whiteout

import (
	"errors"
	"strings"
)

const (
	// Prefix marks a whiteout file: ".wh.NAME" removes NAME.
	Prefix = ".wh."
	// MetaPrefix marks whiteout metadata files (AUFS's .wh..wh.plnk, …).
	MetaPrefix = Prefix + Prefix
	// Opaque marks its directory opaque: lower layers' content is hidden.
	Opaque = MetaPrefix + ".opq"
)

// Kind says what a tar entry's base name means.
type Kind int

const (
	// None: an ordinary entry, to be extracted.
	None Kind = iota
	// Remove: delete Target (a file or a whole tree) from lower layers.
	Remove
	// OpaqueDir: empty the entry's directory of lower layers' content.
	OpaqueDir
	// Meta: AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): skip it.
	Meta
)

// ErrInvalid is returned for names that look like whiteouts but name
// nothing a layer may remove: ".wh.", ".wh.." and ".wh...".
var ErrInvalid = errors.New("invalid whiteout name")

// Parse classifies a tar entry by its base name (no slashes). For Remove,
// target is the base name of what is removed.
func Parse(base string) (kind Kind, target string, err error) {
	if !strings.HasPrefix(base, Prefix) {
		return None, "", nil
	}
	if base == Opaque {
		return OpaqueDir, "", nil
	}
	if strings.HasPrefix(base, MetaPrefix) {
		return Meta, "", nil
	}
	target = strings.TrimPrefix(base, Prefix)
	if target == "" || target == "." || target == ".." || strings.Contains(target, "/") {
		return None, "", ErrInvalid
	}
	return Remove, target, nil
}

// InMeta reports whether a slash-separated path lies inside AUFS's
// whiteout metadata (".wh..wh.plnk/…", the hard-link directory): such
// entries are bookkeeping, never content.
func InMeta(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if strings.HasPrefix(c, MetaPrefix) && c != Opaque {
			return true
		}
	}
	return false
}
