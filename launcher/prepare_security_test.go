package launcher

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Prepare wrote the /proc stand-ins with os.MkdirAll and os.WriteFile on
// DIR/.rootfs-pull/proc/NAME, which follow symlinks. Layers cannot write
// .rootfs-pull, but a container process can (it is the container's
// /.rootfs-pull): a symlink there made the next pull into DIR (a resume,
// or --force with another image) overwrite a host file of its choice, or
// fill a host directory, as the user running rootfs-pull (root, for root
// pulls). Now every write goes through the rootfs's os.Root, a symlink is
// replaced, never followed, and the stand-ins end up in a real directory.
func TestPrepareFakeProcNeverFollowsSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "rootfs")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dir, ".rootfs-pull"), outside} {
		if err := os.MkdirAll(d, 0755); err != nil {
			t.Fatal(err)
		}
	}
	victim := filepath.Join(base, "victim")
	if err := os.WriteFile(victim, []byte("the user's file\n"), 0644); err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(dir, ".rootfs-pull", "proc")
	standIns := func(t *testing.T, how string) {
		t.Helper()
		if fi, err := os.Lstat(proc); err != nil || !fi.IsDir() {
			t.Fatalf("%s: .rootfs-pull/proc is not a directory after Prepare: %v", how, err)
		}
		for name, content := range fakeProc {
			fi, err := os.Lstat(filepath.Join(proc, name))
			b, _ := os.ReadFile(filepath.Join(proc, name))
			if err != nil || !fi.Mode().IsRegular() || string(b) != content {
				t.Errorf("%s: .rootfs-pull/proc/%s is not the stand-in: %v %q", how, name, err, b)
			}
		}
	}
	t.Run("file", func(t *testing.T) {
		for _, target := range []string{victim, "../../../victim"} {
			os.RemoveAll(proc)
			if err := os.MkdirAll(proc, 0755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(proc, "version")); err != nil {
				t.Fatal(err)
			}
			if err := Prepare(dir, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
				t.Fatalf("Prepare with a symlink at .rootfs-pull/proc/version: %v", err)
			}
			if b, _ := os.ReadFile(victim); string(b) != "the user's file\n" {
				t.Errorf("Prepare wrote through .rootfs-pull/proc/version, a symlink to %s, outside the rootfs: %s now holds %q", target, victim, b)
			}
			standIns(t, "a symlink to "+target)
		}
	})
	t.Run("dir", func(t *testing.T) {
		for _, target := range []string{outside, "../../outside", "/"} {
			os.RemoveAll(proc)
			if err := os.Symlink(target, proc); err != nil {
				t.Fatal(err)
			}
			if err := Prepare(dir, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
				t.Fatalf("Prepare with .rootfs-pull/proc a symlink to %s: %v", target, err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("Prepare wrote %d files through .rootfs-pull/proc, a symlink to %s, into %s", len(ents), target, outside)
			}
			standIns(t, "a symlink to "+target)
		}
	})
	t.Run("state dir", func(t *testing.T) {
		// .rootfs-pull itself a symlink (the state code refuses it too):
		// an error, nothing written outside.
		os.RemoveAll(filepath.Join(dir, ".rootfs-pull"))
		if err := os.Symlink(outside, filepath.Join(dir, ".rootfs-pull")); err != nil {
			t.Fatal(err)
		}
		if err := Prepare(dir, PrepareOptions{DNS: []string{"1.1.1.1"}}); err == nil {
			t.Error("Prepare with .rootfs-pull a symlink: no error")
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Errorf("Prepare wrote %d files through .rootfs-pull, a symlink, into %s", len(ents), outside)
		}
	})
}

// Prepare read the image's whole /etc/resolv.conf into memory
// (root.ReadFile) only to see whether it starts with the tool's marker
// line. A layer of a few MB (a GB of zeros compresses ~1000:1; a sparse
// entry even better) ships a multi-GB
// resolv.conf, and the pull then holds all of it in memory: unbounded
// memory from the image, on a phone. It now reads len(dnsMarker) bytes.
func TestPrepareReadsResolvConfMarkerOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0755); err != nil {
		t.Fatal(err)
	}
	const size = 96 << 20
	name := filepath.Join(dir, "etc", "resolv.conf")
	for _, start := range []string{"nameserver 10.0.0.1\n", dnsMarker + "; an earlier pull's\n"} {
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(start)
		if err := f.Truncate(size); err != nil { // sparse: no disk used
			t.Fatal(err)
		}
		f.Close()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := Prepare(dir, PrepareOptions{DNS: []string{"1.1.1.1"}}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
			t.Errorf("Prepare allocated %d MiB for a %d MiB /etc/resolv.conf from the image: memory grows with the image's file", got>>20, size>>20)
		}
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(name)
		if ours := strings.HasPrefix(start, dnsMarker); ours && (fi.Size() == size || !strings.Contains(string(b), "nameserver 1.1.1.1")) {
			t.Errorf("a resolv.conf starting with the marker was not rewritten: %d bytes", fi.Size())
		} else if !ours && (fi.Size() != size || !strings.HasPrefix(string(b), start)) {
			t.Errorf("the image's own resolv.conf was changed: %d bytes", fi.Size())
		}
	}
}
