package tarball

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
)

func names(t *testing.T, r io.Reader) (string, error) {
	t.Helper()
	tr := tar.NewReader(r)
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return strings.Join(out, " "), nil
		}
		if err != nil {
			return strings.Join(out, " "), err
		}
		n := h.Name
		if h.Typeflag == tar.TypeLink {
			n += "=>" + h.Linkname
		}
		out = append(out, n)
	}
}

func TestStripTop(t *testing.T) {
	E := testimage.File
	D := testimage.Dir
	tests := []struct {
		name    string
		entries []testimage.Entry
		want    string
		err     bool
	}{
		{"wrapper stripped", []testimage.Entry{D("alpine-3.20/"), D("alpine-3.20/bin/"), E("alpine-3.20/bin/sh", "x"), testimage.Hardlink("alpine-3.20/bin/ash", "alpine-3.20/bin/sh")}, "bin/ bin/sh bin/ash=>bin/sh", false},
		{"wrapper without its own entry", []testimage.Entry{E("rootfs-x/etc/passwd", "x"), E("rootfs-x/bin/sh", "x")}, "etc/passwd bin/sh", false},
		{"./ first: a rootfs", []testimage.Entry{D("./"), D("./bin/"), E("./bin/sh", "x")}, "./ ./bin/ ./bin/sh", false},
		{"bin first: a rootfs", []testimage.Entry{D("bin/"), E("bin/sh", "x"), D("etc/")}, "bin/ bin/sh etc/", false},
		{"a file first: a rootfs", []testimage.Entry{E("README", "x"), D("bin/")}, "README bin/", false},
		{"an entry outside the wrapper", []testimage.Entry{D("wrap/"), E("wrap/a", "x"), E("escape", "x")}, "a", true},
		{"a hard link outside the wrapper", []testimage.Entry{D("wrap/"), E("wrap/a", "x"), testimage.Hardlink("wrap/b", "other/a")}, "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := StripTop(bytes.NewReader(testimage.Tar(tt.entries...)))
			got, err := names(t, r)
			r.Close()
			if tt.err {
				var nst *ErrNotSingleTop
				if !errors.As(err, &nst) {
					t.Errorf("err = %v, want ErrNotSingleTop", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("entries %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSHA256(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, s := range []string{h, "sha256:" + h, strings.ToUpper(h), " " + h + "\n"} {
		if d, err := ParseSHA256(s); err != nil || d.Encoded() != h {
			t.Errorf("ParseSHA256(%q) = %v, %v", s, d, err)
		}
	}
	for _, s := range []string{"", "abc", h + "00", "md5:" + h, strings.Repeat("zz", 32)} {
		if _, err := ParseSHA256(s); !errors.Is(err, ErrSHA256) {
			t.Errorf("ParseSHA256(%q) accepted", s)
		}
	}
}
