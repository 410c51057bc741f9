package archive_test

import (
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/archive"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
)

// A docker save archive whose layer.tar is a sparse entry: a 5 KB file
// that the archive's tar reader hands out as a TiB of zeros (or up to
// 8 EiB), which the pull decoded and hashed to the end before the
// diff_id could fail it: hours of work from a few KB. docker save and
// skopeo never write sparse entries.
func TestReviewArchiveRefusesSparseEntries(t *testing.T) {
	im := image(false)
	files := testimage.DockerArchiveFiles(im, layerTars(), "demo/app:1")
	l1 := strings.Repeat("0", 63) + "1/layer.tar"
	delete(files, l1)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var es []testimage.Entry
	for _, n := range names {
		es = append(es, testimage.File(n, string(files[n])))
	}
	file := filepath.Join(t.TempDir(), "save.tar")
	writeFile(t, file, testimage.SparseTar(l1, 1<<40, es...))
	a, err := archive.OpenDockerArchive(ctx(t), file, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Resolve(ctx(t), amd64)
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	var l ocispec.Descriptor
	for _, d := range got.Manifest.Layers {
		if d.Annotations["org.rootfs-pull.archive.path"] == l1 {
			l = d
		}
	}
	rc, err := a.Blob(ctx(t), l)
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(rc, 256<<20))
	if err == nil {
		t.Errorf("a sparse entry of %d bytes (layer size %d) read %d bytes of it without error", int64(1)<<40, l.Size, n)
	}
}
