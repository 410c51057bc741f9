package source

import (
	"strings"
	"testing"
)

// "https:x.tar" and "http:/x" have a URL's prefix but no host: Parse
// called them URLs, and the tarball source, seeing no "://", opened them
// as files named "https:x.tar" in the current directory (with --json
// saying source "url"). An argument is a URL only when it is one.
func TestReviewParseURLNeedsScheme(t *testing.T) {
	for _, arg := range []string{"https:x.tar.gz", "http:x", "https:/h/x.tar", "http:///x", "https://"} {
		s, err := Parse(arg)
		if err == nil && (s.Kind == URL || s.Kind == File) {
			t.Errorf("Parse(%q) = %+v: want an error (not a URL, and not a ./path)", arg, s)
		}
		if err != nil && !strings.Contains(err.Error(), "https://") {
			t.Errorf("Parse(%q): %v: want a hint at https://HOST/PATH", arg, err)
		}
	}
}
