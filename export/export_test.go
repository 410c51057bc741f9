package export_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

func isRoot() bool { return os.Geteuid() == 0 }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

var mtime = time.Date(2023, 4, 5, 6, 7, 8, 123456789, time.UTC)

// richLayer has every kind of entry an export must carry: modes
// (setuid, sticky, read-only dirs, a 0000 file), owners, xattrs, hard
// link groups, symlinks (relative, absolute, dangling), a FIFO, device
// nodes and a sparse file.
func richLayer(t *testing.T) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h tar.Header, body string) {
		h.Format = tar.FormatPAX
		if h.ModTime.IsZero() {
			h.ModTime = mtime
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0755}, "")
	add(tar.Header{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0755}, "#!/bin/true\n")
	add(tar.Header{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 04755, PAXRecords: map[string]string{"SCHILY.xattr.user.note": "setuid\x00bin"}}, "su")
	add(tar.Header{Name: "bin/a", Typeflag: tar.TypeReg, Mode: 0644, Uid: 1000, Gid: 1001}, "linked")
	add(tar.Header{Name: "bin/b", Typeflag: tar.TypeLink, Linkname: "bin/a"}, "")
	add(tar.Header{Name: "bin/c", Typeflag: tar.TypeLink, Linkname: "bin/a"}, "")
	add(tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0755}, "")
	add(tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0644}, "root:x:0:0:root:/root:/bin/sh\n")
	add(tar.Header{Name: "etc/gshadow", Typeflag: tar.TypeReg, Mode: 0000, Gid: 42}, "secret")
	add(tar.Header{Name: "etc/abs", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, "")
	add(tar.Header{Name: "etc/dangling", Typeflag: tar.TypeSymlink, Linkname: "../nowhere"}, "")
	add(tar.Header{Name: "etc/up", Typeflag: tar.TypeSymlink, Linkname: "../../../.."}, "")
	add(tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 01777}, "")
	add(tar.Header{Name: "ro/", Typeflag: tar.TypeDir, Mode: 0555}, "")
	add(tar.Header{Name: "ro/inside", Typeflag: tar.TypeReg, Mode: 0444}, "x")
	add(tar.Header{Name: "secret/", Typeflag: tar.TypeDir, Mode: 0700, Uid: 1000, Gid: 1000}, "")
	add(tar.Header{Name: "secret/key", Typeflag: tar.TypeReg, Mode: 0600, Uid: 1000, Gid: 1000}, "key")
	add(tar.Header{Name: "dev/", Typeflag: tar.TypeDir, Mode: 0755}, "")
	add(tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0666, Devmajor: 1, Devminor: 3}, "")
	add(tar.Header{Name: "dev/loop0", Typeflag: tar.TypeBlock, Mode: 0660, Devmajor: 7, Devminor: 0, Gid: 6}, "")
	add(tar.Header{Name: "run/", Typeflag: tar.TypeDir, Mode: 0755}, "")
	add(tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0620}, "")
	add(tar.Header{Name: "var/", Typeflag: tar.TypeDir, Mode: 0755}, "")
	add(tar.Header{Name: "var/sparse", Typeflag: tar.TypeReg, Mode: 0644}, strings.Repeat("\x00", 3<<20)+"end")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pullRich pulls an image of richLayer (and a second layer with a
// whiteout) from a registry in the test into a new directory, with a
// launcher and a defaults file beside it.
func pullRich(t *testing.T) (reg *testregistry.Registry, ref, dir string) {
	t.Helper()
	reg, err := testregistry.Start(testregistry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: richLayer(t), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("etc/.wh.dangling", ""), testimage.File("etc/motd", "hi")), Compression: testimage.Zstd},
	}})
	if err := (testimage.Pusher{Host: reg.Host, Username: "admin", Password: "adminpw"}).Push(ctx(t), "demo/rich", "1", im); err != nil {
		t.Fatal(err)
	}
	ref = reg.Host + "/demo/rich:1"
	dir = filepath.Join(tmp(t), "rich")
	c := client(t)
	if _, err := pull.Pull(ctx(t), c, pull.Options{Image: ref, Dir: dir, Runtime: "proot"}); err != nil {
		t.Fatalf("pull: %v", err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "start-rich.defaults"), []byte("# mine\n--shared-tmp\n-e A=1\n"), 0644); err != nil {
		t.Fatal(err)
	}
	return reg, ref, dir
}

func client(t *testing.T) *registry.Client {
	c, err := registry.NewClient(registry.Options{NoDockerConfig: true, Cache: nil})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// describe is every entry under root but the state directory, as a
// restore must reproduce it: type, mode, owner, mtime (ns), size and
// content hash, link target, device number, xattrs with values, and
// which entries share an inode.
func describe(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == rootfs.StateDirName {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := fmt.Sprintf("type %o mode %04o owner %d:%d mtime %d", st.Mode&unix.S_IFMT, st.Mode&07777, st.Uid, st.Gid, st.Mtim.Nano())
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && rel == "." {
			s = fmt.Sprintf("type %o mode %04o owner %d:%d", st.Mode&unix.S_IFMT, st.Mode&07777, st.Uid, st.Gid) // the root's mtime follows its entries
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := readAsOwner(p, st)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			s += fmt.Sprintf(" size %d sha256 %s", st.Size, hex.EncodeToString(sum[:8]))
			if st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], rel)
			}
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			s += " -> " + l
		case unix.S_IFCHR, unix.S_IFBLK:
			s += fmt.Sprintf(" rdev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		s += xattrs(p)
		out[rel] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, ps := range inodes {
		sort.Strings(ps)
		groups = append(groups, strings.Join(ps, "="))
	}
	sort.Strings(groups)
	out["(hard links)"] = strings.Join(groups, " ")
	return out
}

func readAsOwner(p string, st unix.Stat_t) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil && errors.Is(err, fs.ErrPermission) && int(st.Uid) == os.Geteuid() {
		os.Chmod(p, 0400)
		defer os.Chmod(p, os.FileMode(st.Mode&0777))
		return os.ReadFile(p)
	}
	return b, err
}

func xattrs(p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n <= 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var s string
	for _, name := range names {
		v := make([]byte, 4096)
		m, _ := unix.Lgetxattr(p, name, v)
		s += fmt.Sprintf(" xattr %s=%q", name, v[:max(m, 0)])
	}
	return s
}

func diff(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s:\n  was      %s\n  restored %s", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s: only in the restored tree: %s", k, v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func restore(t *testing.T, file, dir string) (*pull.Result, error) {
	t.Helper()
	ok, err := export.IsArchive(file)
	if err != nil || !ok {
		t.Fatalf("IsArchive(%s) = %v, %v", file, ok, err)
	}
	src, err := export.Open(file, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Runtime: "proot"})
	if err == nil {
		if _, derr := src.WriteDefaults(res.Launcher); derr != nil {
			t.Errorf("defaults: %v", derr)
		}
	}
	return res, err
}

// TestExportRestoreIdentical: export → restore gives the same tree, entry
// by entry, for each compression; the state records the same image name
// (so a later pull of it is an --update, not "up to date" on the
// archive's word), and the defaults file is beside the new launcher. As root, owners and device nodes are compared too;
// TestUnprivileged runs it again as uid 65534.
func TestExportRestoreIdentical(t *testing.T) {
	reg, ref, dir := pullRich(t)
	_ = reg
	want := describe(t, dir)
	if isRoot() {
		if !strings.Contains(want["dev/null"], "rdev 1:3") || !strings.Contains(want["bin/a"], "owner 1000:1001") {
			t.Fatalf("the pull did not make the device and owners this test needs: %v", want)
		}
	}
	if !strings.Contains(want["bin/su"], "user.note") {
		t.Fatalf("no xattr on bin/su to carry: %s", want["bin/su"])
	}
	orig, _ := rootfs.LoadState(dir)
	for _, ext := range []string{".tar", ".tar.gz", ".tar.xz", ".tar.zst"} {
		t.Run(ext, func(t *testing.T) {
			file := filepath.Join(tmp(t), "backup"+ext)
			res, err := export.Export(ctx(t), dir, file, export.Options{})
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if res.Entries == 0 || !res.Defaults {
				t.Errorf("result %+v: want entries and the defaults file", res)
			}
			dir2 := filepath.Join(tmp(t), "copy")
			pres, err := restore(t, file, dir2)
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if d := diff(want, describe(t, dir2)); d != "" {
				t.Errorf("restored tree differs:\n%s", d)
			}
			st, err := rootfs.LoadState(dir2)
			if err != nil || st.Status != rootfs.StatusReady {
				t.Fatalf("state %+v, %v: want ready", st, err)
			}
			// The same image by name and platform; as digest the archive's
			// own sha256 (the exported state's digest is only its word).
			if st.Image != orig.Image || st.Reference != orig.Reference || st.Platform != orig.Platform || st.Digest != "sha256:"+fileSHA256(t, file) {
				t.Errorf("restored state %+v; exported %+v", st, orig)
			}
			a, _ := rootfs.ReadStateFile(dir, "config.json")
			b, _ := rootfs.ReadStateFile(dir2, "config.json")
			if !bytes.Equal(a, b) {
				t.Error("config.json differs")
			}
			defs, err := os.ReadFile(filepath.Join(filepath.Dir(dir2), "start-copy.defaults"))
			if err != nil || string(defs) != "# mine\n--shared-tmp\n-e A=1\n" {
				t.Errorf("defaults beside the new launcher: %q, %v", defs, err)
			}
			if pres.Launcher != filepath.Join(filepath.Dir(dir2), "start-copy.sh") {
				t.Errorf("launcher %q", pres.Launcher)
			}
			// The same image to its registry, but not its verified tree: a
			// pull of it is an update (--update gives the registry's tree).
			var ue *pull.UpdateError
			if _, err := pull.Pull(ctx(t), client(t), pull.Options{Image: ref, Dir: dir2, Launcher: "-"}); !errors.As(err, &ue) {
				t.Errorf("pull of %s into the restored rootfs: %v; want an UpdateError", ref, err)
			}
			// And restoring it again does nothing.
			if res3, err := restore(t, file, dir2); err != nil || !res3.UpToDate {
				t.Errorf("restore again: %v; want up to date", err)
			}
		})
	}
}

// TestExportOwnersOfUnprivilegedPull: a rootfs pulled without root
// belongs to its user (recorded as skipped ownership); its export
// records that owner as root, so a restore as root gives root's files.
func TestExportOwnersOfUnprivilegedPull(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to restore with owners")
	}
	_, _, dir := pullRich(t)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, 65534, 65534)
		}
		return nil
	})
	st, _ := rootfs.LoadState(dir)
	st.Skipped.SkippedChown = 7
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp(t), "b.tar.gz")
	res, err := export.Export(ctx(t), dir, file, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Marker.OwnersMappedToRoot {
		t.Error("marker does not say owners were mapped")
	}
	dir2 := filepath.Join(tmp(t), "r")
	if _, err := restore(t, file, dir2); err != nil {
		t.Fatal(err)
	}
	var sst syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(dir2, "bin/a"), &sst); err != nil || sst.Uid != 0 || sst.Gid != 0 {
		t.Errorf("bin/a owner %d:%d, %v; want 0:0", sst.Uid, sst.Gid, err)
	}
	st2, _ := rootfs.LoadState(dir2)
	if st2.Skipped.SkippedChown < 7 {
		t.Errorf("restored state forgot what the pull skipped: %+v", st2.Skipped)
	}
}

// TestRestoredLauncherRuns: a busybox rootfs exported and restored under
// another name starts its container through the new launcher under the
// real proot.
func TestRestoredLauncherRuns(t *testing.T) {
	if _, err := exec.LookPath("proot"); err != nil {
		t.Skip("proot not installed (scripts/setup.sh)")
	}
	reg, err := testregistry.Start(testregistry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	im, err := testimage.BusyboxImage("/bin/busybox", ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}, testimage.File("etc/marker", "exported\n"))
	if err != nil {
		t.Skipf("%v (scripts/setup.sh)", err)
	}
	if err := (testimage.Pusher{Host: reg.Host, Username: "admin", Password: "adminpw"}).Push(ctx(t), "demo/bb", "1", im); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp(t), "bb")
	if _, err := pull.Pull(ctx(t), client(t), pull.Options{Image: reg.Host + "/demo/bb:1", Dir: dir, Runtime: "proot"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(tmp(t), "bb.tar.zst")
	if _, err := export.Export(ctx(t), dir, file, export.Options{}); err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(tmp(t), "moved")
	res, err := restore(t, file, dir2)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx(t), res.Launcher, "sh", "-c", "cat /etc/marker; echo $0 ran")
	cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME=proot")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "exported\nsh ran") {
		t.Fatalf("restored launcher: %v\n%s", err, out)
	}
}

func pullFrom(t *testing.T, src *export.Source, file, dir string) (*pull.Result, error) {
	return pull.PullFrom(ctx(t), src, pull.Options{Image: file, Dir: dir, Launcher: "-"})
}

// tmp is a t.TempDir that can be removed when a rootfs in it has
// read-only directories (as a non-root owner sees them).
func tmp(t *testing.T) string {
	d := t.TempDir()
	t.Cleanup(func() {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				os.Chmod(p, 0755)
			}
			return nil
		})
	})
	return d
}
