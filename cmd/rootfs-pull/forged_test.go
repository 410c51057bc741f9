package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// A source sends a forged prefix of the second layer (a planted file, a
// whiteout of the first layer's bin/sh) and hangs; the pull is killed
// (kill -9: nothing can be saved) or interrupted (Ctrl-C). The forged
// entries are in the tree and no digest ever saw them. The same command
// against the honest registry must end with the image's tree, never the
// planted one, whether the image is named by tag or by digest.
func TestForgedPrefixThenKill(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	big := make([]byte, 2<<20)
	rand.Read(big)
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.Dir("bin/"), testimage.File("bin/sh", "shell")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("big", string(big))), Compression: testimage.None},
	}})
	push(t, reg.Host, "test/forged", im)
	pad := make([]byte, 600<<10) // past the read-ahead's chunk
	rand.Read(pad)
	forged := testimage.Tar(testimage.File("junk", "planted"), testimage.File("bin/.wh.sh", ""), testimage.File("pad", string(pad)))
	forged = forged[:len(forged)-1024] // no end of archive: more is to come

	for _, tt := range []struct {
		name   string
		sig    syscall.Signal
		pinned bool
	}{
		{"kill -9", syscall.SIGKILL, false},
		{"kill -9, pinned digest", syscall.SIGKILL, true},
		{"Ctrl-C", syscall.SIGINT, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := faultproxy.New(reg.Host)
			t.Cleanup(p.Close)
			image := p.Host + "/test/forged"
			if tt.pinned {
				image += "@" + im.Desc.Digest.String()
			}
			dir := filepath.Join(t.TempDir(), "rootfs")
			f := faultproxy.NewForgery(im.Manifest.Layers[1].Digest.String(), forged, true)
			p.Forge.Store(f)

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// --no-cache: with the cache, a later layer is fetched and
			// verified in full before it is applied.
			cmd := command(t, ctx, "", image, dir, "--no-cache", "-q")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			planted := false
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !planted; time.Sleep(10 * time.Millisecond) {
				_, err := os.Lstat(filepath.Join(dir, "junk"))
				planted = err == nil
			}
			cmd.Process.Signal(tt.sig)
			cmd.Wait()
			if !planted {
				t.Fatal("the forged prefix never reached the tree (the test proves nothing)")
			}
			if st, err := rootfs.LoadState(dir); err != nil || st.Status == rootfs.StatusReady || !st.NeedsRebuild() {
				t.Fatalf("state after the cut = %+v, %v; want pulling, needing a rebuild", st, err)
			}

			p.Forge.Store(nil)
			r := runCLI(t, "", image, dir, "-q")
			if r.code != 0 {
				t.Fatalf("honest re-run: exit %d: %s", r.code, r.stderr)
			}
			if _, err := os.Lstat(filepath.Join(dir, "junk")); err == nil {
				t.Error("a file from a forged, never verified prefix is in the ready rootfs")
			}
			if b, err := os.ReadFile(filepath.Join(dir, "bin/sh")); err != nil || string(b) != "shell" {
				t.Errorf("bin/sh = %q, %v: a forged whiteout's removal survived", b, err)
			}
			if st, err := rootfs.LoadState(dir); err != nil || st.Status != rootfs.StatusReady {
				t.Errorf("state after the honest re-run = %+v, %v", st, err)
			}
		})
	}
}
