package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

type lsRow struct {
	Name, Dir, Image, Digest, Platform, Status, Launcher string
	Size                                                 int64
	LauncherExists                                       bool `json:"launcher_exists"`
}

func lsJSON(t *testing.T, env []string) map[string]lsRow {
	t.Helper()
	r := runCLIEnv(t, env, "ls", "--json")
	if r.code != 0 {
		t.Fatalf("ls: %d %s", r.code, r.stderr)
	}
	var rows []lsRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("ls --json %q: %v", r.stdout, err)
	}
	m := map[string]lsRow{}
	for _, row := range rows {
		m[filepath.Base(row.Dir)] = row
	}
	return m
}

func miniTarball(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(dir, "mini.tar.gz")
	tarb := testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), testimage.File("etc/a", "a"))
	if err := os.WriteFile(file, testimage.Compress(tarb, testimage.Gzip), 0644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestExportCLI: export's bad inputs get one line and a non-zero exit;
// a good export restores with ./FILE DIR, with a launcher and (asked
// with --restore-defaults) the defaults file; ls follows pull, restore and rm, shows a rootfs removed
// by hand as missing and survives a damaged index with one warning.
func TestExportCLI(t *testing.T) {
	work := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + filepath.Join(work, "data")}
	file := miniTarball(t, work)
	dir := filepath.Join(work, "a")
	if r := runCLIEnv(t, env, "-q", file, dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if row := lsJSON(t, env)["a"]; row.Status != "ready" || row.Size == 0 || !row.LauncherExists || row.Platform == "" {
		t.Fatalf("ls after pull: %+v", row)
	}
	os.WriteFile(filepath.Join(work, "start-a.defaults"), []byte("--shared-tmp\n"), 0644)

	backup := filepath.Join(work, "a.tar.xz")
	oneErrorLine(t, runCLIEnv(t, env, "export", dir, filepath.Join(work, "a.zip")), exitUsage, "a.zip", ".tar.zst")
	oneErrorLine(t, runCLIEnv(t, env, "export", dir), exitUsage, "want DIR and FILE")
	oneErrorLine(t, runCLIEnv(t, env, "export", work, backup), exitFailure, "not a rootfs made by rootfs-pull")
	r := runCLIEnv(t, env, "export", "--json", dir, backup)
	if r.code != 0 {
		t.Fatalf("export: %s", r.stderr)
	}
	var doc struct {
		File        string `json:"file"`
		Compression string `json:"compression"`
		Entries     int    `json:"entries"`
		Defaults    bool   `json:"defaults_file"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Compression != "xz" || doc.Entries < 3 || !doc.Defaults {
		t.Fatalf("export --json %q: %v", r.stdout, err)
	}
	oneErrorLine(t, runCLIEnv(t, env, "export", dir, backup), exitFailure, "exists")
	st, _ := rootfs.LoadState(dir)
	st.Status = rootfs.StatusPulling
	st.Save(dir)
	oneErrorLine(t, runCLIEnv(t, env, "export", dir, filepath.Join(work, "b.tar")), exitFailure, "not a ready rootfs")
	if _, err := os.Lstat(filepath.Join(work, "b.tar")); err == nil {
		t.Error("a failed export left its file")
	}
	st.Status = rootfs.StatusReady
	st.Save(dir)

	dir2 := filepath.Join(work, "b")
	r = runCLIEnv(t, env, "--json", "--restore-defaults", backup, dir2)
	if r.code != 0 {
		t.Fatalf("restore: %s", r.stderr)
	}
	if !strings.Contains(r.stdout, `"source": "export"`) {
		t.Errorf("restore --json: %s", r.stdout)
	}
	if b, err := os.ReadFile(filepath.Join(work, "start-b.defaults")); err != nil || string(b) != "--shared-tmp\n" {
		t.Errorf("defaults beside the new launcher: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(work, "start-b.sh")); err != nil {
		t.Errorf("no launcher: %v", err)
	}
	rows := lsJSON(t, env)
	// The same image by name; as digest the archive's sha256 (the
	// exported state's digest is only the archive's word).
	if rows["b"].Status != "ready" || rows["b"].Image != rows["a"].Image || rows["b"].Digest != "sha256:"+sha256File(t, backup) {
		t.Fatalf("ls after restore: %+v", rows)
	}
	if r := runCLIEnv(t, env, "rm", dir2); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if _, ok := lsJSON(t, env)["b"]; ok {
		t.Error("ls lists a removed rootfs")
	}
	// Removed by hand: shown as missing.
	if r := runCLIEnv(t, env, "-q", file, filepath.Join(work, "c")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	os.RemoveAll(filepath.Join(work, "c"))
	if row := lsJSON(t, env)["c"]; row.Status != "missing" {
		t.Errorf("stale entry: %+v", row)
	}
	r = runCLIEnv(t, env, "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "missing") || !strings.Contains(r.stdout, "NAME") {
		t.Errorf("ls: %d %q %q", r.code, r.stdout, r.stderr)
	}
	// A damaged index: one warning, no failure; the next pull starts anew.
	os.WriteFile(filepath.Join(work, "data", "rootfs-pull", "index.json"), []byte("{broken"), 0600)
	r = runCLIEnv(t, env, "ls")
	if r.code != 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "damaged") {
		t.Errorf("ls of a damaged index: %d %q", r.code, r.stderr)
	}
	if r := runCLIEnv(t, env, "-q", file, filepath.Join(work, "d")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if rows := lsJSON(t, env); rows["d"].Status != "ready" {
		t.Errorf("after a pull over a damaged index: %+v", rows)
	}
}

// TestLsConcurrentPulls: pulls running at once each keep their entry.
func TestLsConcurrentPulls(t *testing.T) {
	work := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + filepath.Join(work, "data")}
	file := miniTarball(t, work)
	const n = 6
	var wg sync.WaitGroup
	codes := make([]result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			codes[i] = runCLIEnv(t, env, "-q", file, filepath.Join(work, fmt.Sprintf("r%d", i)))
		}(i)
	}
	wg.Wait()
	for i, r := range codes {
		if r.code != 0 {
			t.Fatalf("pull %d: %s", i, r.stderr)
		}
	}
	if rows := lsJSON(t, env); len(rows) != n {
		t.Fatalf("ls lists %d of %d rootfses: %+v", len(rows), n, rows)
	}
}

// TestLsAfterUpdate: an --update records the new digest.
func TestLsAfterUpdate(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	img := func(body string) *testimage.Image {
		return testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), testimage.File("etc/v", body)), Compression: testimage.Gzip}}})
	}
	push(t, reg.Host, "demo/up", img("1"))
	work := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + filepath.Join(work, "data")}
	dir := filepath.Join(work, "up")
	if r := runCLIEnv(t, env, "-q", reg.Host+"/demo/up", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	before := lsJSON(t, env)["up"].Digest
	push(t, reg.Host, "demo/up", img("2"))
	if r := runCLIEnv(t, env, "-q", "--update", reg.Host+"/demo/up", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if after := lsJSON(t, env)["up"]; after.Digest == before || after.Status != "ready" {
		t.Errorf("ls after update: %+v (before %s)", after, before)
	}
}

func sha256File(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
