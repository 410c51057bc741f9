package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds on what one tar entry may ask of the applier. Without them one
// entry of tens of thousands of components costs a walk per component
// (each holding a descriptor), and its name fills the error line.
const (
	// MaxPathLen bounds an entry's name and link target (bytes), as
	// PATH_MAX does for one syscall.
	MaxPathLen = 4096
	// MaxPathDepth bounds the components of an entry's name, and the
	// depth of directories a walk may hold open.
	MaxPathDepth = 512
	// maxWalkSteps bounds the components one walk may visit, symlink
	// targets included (at most maxSymlinkHops of them).
	maxWalkSteps = 8 * MaxPathDepth
	// maxRemoveDepth bounds the nesting a removal descends into (one
	// descriptor per level).
	maxRemoveDepth = 4096
	// sparseRatio and sparseSlack bound the content a layer may produce
	// (holes of sparse entries, which the tar reader hands out as zeros)
	// against the bytes it is made of: work stays proportional to the
	// input, not to what the headers declare.
	sparseRatio = 64
	sparseSlack = 1 << 30
)

// ErrPathTooLong: an entry's name or link target is longer than MaxPathLen.
var ErrPathTooLong = errors.New("path too long")

// ErrPathTooDeep: an entry's name has more than MaxPathDepth components,
// or resolving it would hold more directories open than that.
var ErrPathTooDeep = errors.New("path too deep")

// ErrSparseTooLarge: a sparse entry declares far more content than the
// layer's bytes can hold.
var ErrSparseTooLarge = errors.New("sparse entry larger than its layer can hold")

// SparseBudget is how much more content a tar stream may produce after
// in bytes of it produced content: the bound Apply keeps sparse entries
// to. A rewriter of the stream between the decompressor and Apply
// (package tarball's) must keep it too, on the stream it reads: what it
// writes is no longer sparse, so Apply would count the holes as bytes of
// the layer.
func SparseBudget(in, content int64) int64 { return sparseRatio*in + sparseSlack - content }

// IsSparse reports a GNU sparse entry, old or PAX, whose holes the tar
// reader hands out as zeros.
func IsSparse(hdr *tar.Header) bool { return isSparse(hdr) }

// checkName refuses a name (or link target) beyond the bounds, with a
// message that names it shortly.
func checkName(what, name string) error {
	if len(name) > MaxPathLen {
		return fmt.Errorf("%s %s: %d bytes: %w (at most %d)", what, shortName(name), len(name), ErrPathTooLong, MaxPathLen)
	}
	if n := strings.Count(name, "/"); n >= MaxPathDepth {
		// A quick bound first; the exact count ignores "", "." and "..".
		if d := len(splitPath(name)); d > MaxPathDepth {
			return fmt.Errorf("%s %s: %d components: %w (at most %d)", what, shortName(name), d, ErrPathTooDeep, MaxPathDepth)
		}
	}
	return nil
}

// shortName makes a name fit an error line: control characters and
// invalid UTF-8 are escaped, backslashes doubled, and a long name keeps
// its first 40 and last 20 characters around "…".
func shortName(s string) string {
	const head, tail = 40, 20
	if utf8.RuneCountInString(s) > head+tail+1 {
		r := []rune(s)
		s = string(r[:head]) + "\u2026" + string(r[len(r)-tail:])
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			// C0/C1 controls, line separators and bidi overrides, which
			// could rewrite what the terminal shows.
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
