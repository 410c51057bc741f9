package export_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// backdoorTree is a small tree with a file the image never had.
func backdoorTree() []testimage.Entry {
	return []testimage.Entry{
		testimage.Dir("rootfs/"), testimage.Dir("rootfs/etc/"),
		testimage.File("rootfs/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
		testimage.File("rootfs/etc/backdoor", "not from the registry"),
	}
}

// noTimes drops the mtimes from describe's lines (the files a pull
// prepares, resolv.conf and hosts, get the time of their pull).
func noTimes(m map[string]string) map[string]string {
	re := regexp.MustCompile(` mtime [0-9]+`)
	for k, v := range m {
		m[k] = re.ReplaceAllString(v, "")
	}
	return m
}

func fileSHA256(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestReviewRestoredTreeIsNotTheRegistryImage: an archive's state names
// an image and its digest, which is only the archive's word; the tree is
// whatever the archive holds. The restore recorded that digest as the
// rootfs's own, so a later pull of the real image said the restored tree
// (with a file the image never had) was "up to date" with the registry's
// verified digest, and --update kept it. A rootfs records as its digest
// only a digest of bytes it applied: a pull of the image must not call a
// restored tree up to date, and --update must give the registry's tree.
func TestReviewRestoredTreeIsNotTheRegistryImage(t *testing.T) {
	_, ref, dir := pullRich(t)
	file := forge(t, metaOf(t, dir), backdoorTree(), true)
	dir2 := filepath.Join(tmp(t), "restored")
	if _, err := restore(t, file, dir2); err != nil {
		t.Fatalf("restore: %v", err)
	}
	res, err := pull.Pull(ctx(t), client(t), pull.Options{Image: ref, Dir: dir2, Launcher: "-"})
	if err == nil && res.UpToDate {
		t.Fatalf("a pull of %s calls the restored tree, which holds etc/backdoor, up to date with the registry's digest", ref)
	}
	var ue *pull.UpdateError
	if err != nil && !errors.As(err, &ue) {
		t.Errorf("pull over a restored tree: %v; want an UpdateError (--update replaces it)", err)
	}
	if _, err := pull.Pull(ctx(t), client(t), pull.Options{Image: ref, Dir: dir2, Launcher: "-", Update: true}); err != nil {
		t.Fatalf("--update: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir2, "etc/backdoor")); err == nil {
		t.Fatal("after --update from the registry the archive's etc/backdoor is still there")
	}
	if d := diff(noTimes(describe(t, dir)), noTimes(describe(t, dir2))); d != "" {
		t.Errorf("after --update the tree is not the registry's:\n%s", d)
	}
}

// TestReviewRestoreDoesNotResumeAnotherArchive: two archives can claim
// the same image digest with different trees. A restore of a hostile one
// that stops after its tree is applied (here: its config names a user its
// passwd lacks) left the state at that claimed digest with its one layer
// applied; restoring the genuine archive, verified with its sha256, into
// the same directory then resumed: it applied the genuine tree over the
// hostile one and called the mix ready, with the hostile file in it.
func TestReviewRestoreDoesNotResumeAnotherArchive(t *testing.T) {
	_, _, dir := pullRich(t)
	genuine := filepath.Join(tmp(t), "genuine.tar.gz")
	if _, err := export.Export(ctx(t), dir, genuine, export.Options{}); err != nil {
		t.Fatal(err)
	}
	meta := metaOf(t, dir)
	for _, e := range meta {
		if e.h.Name != ".rootfs-pull-export/config.json" {
			continue
		}
		var cfg ocispec.Image
		if err := json.Unmarshal(e.body, &cfg); err != nil {
			t.Fatal(err)
		}
		cfg.Config.User = "ghost"
		e.body, _ = json.Marshal(cfg)
		e.h.Size = int64(len(e.body))
	}
	hostile := forge(t, meta, backdoorTree(), true)
	dir2 := filepath.Join(tmp(t), "restored")
	src, err := export.Open(hostile, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pullFrom(t, src, hostile, dir2); err == nil {
		t.Fatal("the hostile archive (user ghost) restored")
	}
	if _, err := os.Lstat(filepath.Join(dir2, "etc/backdoor")); err != nil {
		t.Fatalf("the hostile tree was not applied, the test needs it: %v", err)
	}
	src, err = export.Open(genuine, fileSHA256(t, genuine))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pullFrom(t, src, genuine, dir2)
	if err != nil {
		// Refused (another archive's unfinished restore): --update
		// restores it beside and swaps it in.
		src, _ = export.Open(genuine, fileSHA256(t, genuine))
		if _, err = pull.PullFrom(ctx(t), src, pull.Options{Image: genuine, Dir: dir2, Launcher: "-", Update: true}); err != nil {
			t.Fatalf("restore --update of the genuine archive: %v", err)
		}
	}
	st, err := rootfs.LoadState(dir2)
	if err != nil || st.Status != rootfs.StatusReady {
		t.Fatalf("state %+v, %v", st, err)
	}
	if _, err := os.Lstat(filepath.Join(dir2, "etc/backdoor")); err == nil {
		t.Error("the genuine archive, verified by its sha256, is ready with the hostile archive's etc/backdoor in it")
	}
}
