package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// --update and rm use hidden names beside the rootfs
// (.NAME.rootfs-pull-update and -old). Something else planted there (a
// symlink to the user's files, a file, a directory rootfs-pull did not
// make) is never followed, filled, swapped in or removed: --update refuses
// with one line, rm leaves it alone.
func TestPlantedSiblings(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	mk := func(v string) *testimage.Image {
		return testimage.Build(testimage.Spec{Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.File("version", v)), Compression: testimage.Gzip}}})
	}
	for _, what := range []string{"update", "old"} {
		for _, kind := range []string{"symlink", "foreign dir"} {
			t.Run(what+" "+kind, func(t *testing.T) {
				repo := "demo/sib-" + what + "-" + map[string]string{"symlink": "l", "foreign dir": "d"}[kind]
				push(t, reg.Host, repo, mk("1"))
				parent := t.TempDir()
				dir := filepath.Join(parent, "rootfs")
				image := reg.Host + "/" + repo
				if r := runCLI(t, "", image, dir, "-q"); r.code != 0 {
					t.Fatal(r.stderr)
				}
				victim := t.TempDir() // the user's files
				os.WriteFile(filepath.Join(victim, "precious"), []byte("mine"), 0644)
				sib := filepath.Join(parent, ".rootfs.rootfs-pull-"+what)
				if kind == "symlink" {
					os.Symlink(victim, sib)
				} else {
					os.Mkdir(sib, 0755)
					os.WriteFile(filepath.Join(sib, "precious"), []byte("mine"), 0644)
				}
				push(t, reg.Host, repo, mk("2"))
				oneErrorLine(t, runCLI(t, "", image, dir, "--update"), 1, "in the way")
				if b, _ := os.ReadFile(filepath.Join(dir, "version")); string(b) != "1" {
					t.Errorf("version = %q after a refused update", b)
				}
				r := runCLI(t, "", "rm", dir)
				if r.code != 0 {
					t.Fatalf("rm: %s", r.stderr)
				}
				check := victim
				if kind != "symlink" {
					check = sib
				}
				if b, err := os.ReadFile(filepath.Join(check, "precious")); err != nil || string(b) != "mine" {
					t.Errorf("the planted %s's files were touched: %q, %v", kind, b, err)
				}
				if _, err := os.Lstat(sib); err != nil {
					t.Errorf("rm removed the planted %s: %v", kind, err)
				}
				if entries, _ := os.ReadDir(victim); len(entries) != 1 {
					t.Errorf("the victim directory holds %d entries, want only its own", len(entries))
				}
			})
		}
	}
}
