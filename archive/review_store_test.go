package archive_test

import (
	"context"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/archive"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/registry"
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

// Reading any bytes as a docker save or OCI archive never panics, and
// what it reads comes from the archive's bytes (at most its size per
// blob, as no sparse entry is read).
func FuzzReviewArchive(f *testing.F) {
	im := image(false)
	f.Add(testimage.TarFiles(testimage.DockerArchiveFiles(im, layerTars(), "demo/app:1")))
	f.Add(testimage.TarFiles(testimage.OCILayoutFiles(image(false), "v1")))
	f.Add(testimage.TarFiles(map[string][]byte{"manifest.json": []byte(`[{"Config":"a.json","Layers":["l"]}]`)}, testimage.Symlink("l", "../x"), testimage.Symlink("a.json", "l")))
	f.Fuzz(func(t *testing.T, b []byte) {
		file := filepath.Join(t.TempDir(), "a.tar")
		writeFile(t, file, b)
		var srcs []interface {
			Resolve(context.Context, registry.Platform) (*registry.Image, error)
			Blob(context.Context, ocispec.Descriptor) (io.ReadCloser, error)
		}
		if a, err := archive.OpenDockerArchive(ctx(t), file, ""); err == nil {
			srcs = append(srcs, a)
		}
		if o, err := archive.OpenOCIArchive(ctx(t), file, "", ""); err == nil {
			srcs = append(srcs, o)
		}
		for _, s := range srcs {
			im, err := s.Resolve(ctx(t), amd64)
			if err != nil {
				continue
			}
			for _, l := range im.Manifest.Layers {
				rc, err := s.Blob(ctx(t), l)
				if err != nil {
					continue
				}
				n, _ := io.Copy(io.Discard, io.LimitReader(rc, 1<<30))
				rc.Close()
				if n > int64(len(b))*1100+1<<20 {
					t.Errorf("%d bytes of archive gave a blob of %d bytes", len(b), n)
				}
			}
		}
	})
}
