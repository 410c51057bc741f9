package tarball

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// A sparse entry in a rootfs tarball, wrapped or not: the stripper (which
// re-writes every tarball's stream) wrote it out as a plain file of its
// full declared size, so a tarball of a few KB became a stream of a TiB of
// zeros for the applier, whose sparse bound (64 times the layer's bytes
// plus 1 GiB) then counted those zeros as the layer's own bytes and let
// them all through: hours of work, or forever for a larger size.
func TestReviewStripTopKeepsTheSparseBound(t *testing.T) {
	for _, in := range [][]byte{
		testimage.SparseTar("wrap/big", 1<<40, testimage.Dir("wrap/"), testimage.File("wrap/a", "a")),
		testimage.SparseTar("big", 1<<40, testimage.Dir("bin/"), testimage.File("bin/a", "a")),
	} {
		stripSparse(t, in)
	}
}

func stripSparse(t *testing.T, in []byte) {
	r := StripTop(bytes.NewReader(in))
	defer r.Close()
	tr := tar.NewReader(r)
	var err error
	var n int64
	for {
		var h *tar.Header
		if h, err = tr.Next(); err != nil {
			break
		}
		var m int64
		m, err = io.CopyN(io.Discard, tr, (1<<30+64<<20)-n)
		if n += m; err != io.EOF || n >= 1<<30+64<<20 {
			t.Logf("%s: %d bytes", h.Name, m)
			break
		}
	}
	if n > 1<<30+64<<20 || !errors.Is(err, rootfs.ErrSparseTooLarge) {
		t.Errorf("%d bytes in, %d bytes of content out, err %v: want ErrSparseTooLarge", len(in), n, err)
	}
}

// The stripper never panics, and never hands on more content than the
// sparse bound allows for what it read.
func FuzzReviewStripTop(f *testing.F) {
	f.Add(testimage.Tar(testimage.Dir("wrap/"), testimage.File("wrap/a", "a"), testimage.Hardlink("wrap/b", "wrap/a")))
	f.Add(testimage.Tar(testimage.Dir("./"), testimage.File("./bin/sh", "x")))
	f.Add(testimage.SparseTar("w/big", 1<<20, testimage.Dir("w/")))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := StripTop(bytes.NewReader(in))
		defer r.Close()
		tr := tar.NewReader(r)
		var content int64
		for {
			if _, err := tr.Next(); err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, tr)
			if content += n; content > 64*int64(len(in))+1<<30 {
				t.Fatalf("%d bytes in, %d bytes of content out", len(in), content)
			}
		}
	})
}
