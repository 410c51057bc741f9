package pull_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// cancelAtBlob cancels the pull when the blob of layer index stop is
// opened (its sync of the layer before may still be running).
type cancelAtBlob struct {
	pull.Source
	layers []ocispec.Descriptor
	stop   int
	cancel context.CancelFunc
	opened int
}

func (s *cancelAtBlob) Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if s.opened == s.stop {
		s.cancel()
		return nil, context.Canceled
	}
	s.opened++
	return s.Source.Blob(ctx, desc)
}

// An image whose layers share a digest ([A, A, B, A]), pulled whole, and
// stopped as each layer's blob opens: the applied layers are a prefix,
// the one stopped in is to be rebuilt, none is named as being applied
// when the stop came between layers, and the re-run finishes the tree.
func TestReview18DuplicateLayersStopped(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	a := testimage.Layer{Tar: testimage.Tar(testimage.File("a", "A\n")), Compression: testimage.Gzip}
	b := testimage.Layer{Tar: testimage.Tar(testimage.File("b", "B\n"), testimage.File(".wh.a", "")), Compression: testimage.Gzip}
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{a, a, b, a}})
	push(t, reg, "public/dup", "latest", im)
	for stop := 0; stop <= 4; stop++ {
		dir := filepath.Join(t.TempDir(), "r")
		c := newClient(t, registry.Options{})
		ref, err := registry.ParseReference(reg.Host + "/public/dup:latest")
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx(t))
		src := &cancelAtBlob{Source: pull.Registry(c, ref), stop: stop, cancel: cancel}
		_, err = pull.PullFrom(cctx, src, pull.Options{Image: reg.Host + "/public/dup:latest", Dir: dir, Launcher: "-"})
		cancel()
		if stop < 4 {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("stopped at layer %d: %v", stop+1, err)
			}
			st, err := rootfs.LoadState(dir)
			if err != nil {
				if stop == 0 {
					continue // the directory was removed: nothing applied
				}
				t.Fatal(err)
			}
			// The next blob opens ahead (no cache): the stop may come
			// while the layer before is applied, which then stays
			// unapplied and named as being applied (it was begun).
			p := 0
			for p < len(st.Layers) && st.Layers[p].Applied {
				p++
			}
			for i := p; i < len(st.Layers); i++ {
				if st.Layers[i].Applied {
					t.Errorf("stopped at layer %d: layer %d applied after an unapplied one", stop+1, i+1)
				}
			}
			if p != stop && p != stop-1 {
				t.Errorf("stopped at layer %d: %d layers applied", stop+1, p)
			}
			if p == stop && st.Applying != "" {
				t.Errorf("stopped at layer %d before any of it was read: the state names %s as being applied", stop+1, st.Applying)
			}
			// Stopped in layer stop (1-based) with no rebuild asked: none
			// of it may be in the tree (the stop came before its first
			// entry). Layer 1 makes a, layer 3 makes b.
			if p == stop-1 && !st.NeedsRebuild() {
				for _, c := range []struct {
					layer int
					name  string
				}{{1, "a"}, {3, "b"}} {
					if c.layer == stop && exists(filepath.Join(dir, c.name)) {
						t.Errorf("stopped in layer %d, not to be rebuilt, and its %s is in the tree", stop, c.name)
					}
				}
			}
			// The re-run resumes and ends with the image's tree.
			if _, err := pull.PullFrom(ctx(t), pull.Registry(c, ref), pull.Options{Image: reg.Host + "/public/dup:latest", Dir: dir, Launcher: "-"}); err != nil {
				t.Fatalf("re-run after stopping at layer %d: %v", stop+1, err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		st, err := rootfs.LoadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != rootfs.StatusReady || st.NeedsRebuild() {
			t.Errorf("stop %d: the state at the end: %s, applying %q", stop, st.Status, st.Applying)
		}
		for i, l := range st.Layers {
			if !l.Applied {
				t.Errorf("stop %d: layer %d not applied at the end", stop, i+1)
			}
		}
		if got := readFile(t, filepath.Join(dir, "a")); got != "A\n" {
			t.Errorf("stop %d: a = %q", stop, got)
		}
		if got := readFile(t, filepath.Join(dir, "b")); got != "B\n" {
			t.Errorf("stop %d: b = %q", stop, got)
		}
	}
}
