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

// Parse never panics, and a kind is only what the argument plainly is.
func FuzzReviewParse(f *testing.F) {
	for _, s := range []string{"ubuntu", "./a.tar", "https://h/x", "http:x", "docker-archive:a:b:c", "oci:d@sha256:" + strings.Repeat("a", 64), "lxc:a/b/c", "lxc:", ".."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		s, err := Parse(arg)
		if err != nil {
			return
		}
		switch s.Kind {
		case URL:
			if !strings.HasPrefix(arg, "https://") && !strings.HasPrefix(arg, "http://") {
				t.Errorf("Parse(%q) = URL", arg)
			}
		case File:
			if !strings.HasPrefix(arg, "/") && !strings.HasPrefix(arg, "./") && !strings.HasPrefix(arg, "../") && arg != "." && arg != ".." {
				t.Errorf("Parse(%q) = File", arg)
			}
		case DockerArchive, OCI, OCIArchive:
			if s.Path == "" || !strings.HasPrefix(arg, string(s.Kind)+":") {
				t.Errorf("Parse(%q) = %+v", arg, s)
			}
		case LXC:
			if n := strings.Count(s.Path, "/"); n < 1 || n > 2 || strings.Contains(s.Path, "//") {
				t.Errorf("Parse(%q) = %+v", arg, s)
			}
		}
	})
}
