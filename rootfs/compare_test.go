package rootfs

// TestCompareUmoci checks the applier against an independent one: a real
// multi-layer OCI image (a static busybox with its applet links and /etc,
// then layers with whiteouts, an opaque dir, replacements of every kind,
// hard links across layers, setuid/setgid files, odd directory modes and
// owners) is written as an OCI image layout, unpacked by umoci (Debian's),
// and applied by Apply; the two trees must be equal in what is meaningful.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
)

// compareLayers are the image's layers after the busybox one. Whiteouts
// come before the entries of their layer: the spec's rule that a whiteout
// spares its own layer's entries in either order is tested in TestApply;
// umoci 0.4.7 applies entries strictly in order.
func compareLayers() [][]ent {
	return [][]ent{
		{
			dir("opt/"), dir("opt/app/"), file("opt/app/a", "a\n"), file("opt/app/b", "b\n"), dir("opt/app/sub/"), file("opt/app/sub/c", "c\n"),
			withMode(dir("srv/"), 0755), withMode(dir("srv/ro/"), 0555), file("srv/ro/f", "ro\n"),
			withMode(dir("srv/locked/"), 0500), withMode(dir("srv/locked/inner/"), 0700), file("srv/locked/inner/f", "locked\n"),
			withMode(dir("srv/sticky/"), 01777),
			withOwner(withMode(dir("home/user/"), 0750), 1000, 1000), withOwner(file("home/user/.profile", "PS1='$ '\n"), 1000, 1000),
			dir("usr/"), dir("usr/bin/"), dir("usr/lib/"), symlink("lib", "usr/lib"),
			withMode(file("usr/bin/suid", "#!/bin/sh\n"), 04755), withOwner(withMode(file("usr/bin/sgid", "#!/bin/sh\n"), 02755), 0, 50),
			withMode(file("etc/shadow", "root:*:1::::::\n"), 0), withOwner(withMode(file("etc/gshadow", "root:*::\n"), 0640), 0, 42),
			file("etc/motd", "hello\n"), dir("etc/skel/"), file("etc/skel/.bashrc", "# bashrc\n"),
			hardlink("bin/sh.hard", "bin/busybox"), // to a lower layer's file
			hardlink("usr/bin/suid.hard", "usr/bin/suid"),
			withMode(file("usr/bin/big", strings.Repeat("0123456789abcdef", 70000)), 0755),
			fifo("run/initctl"), chardev("dev/null"), blockdev("dev/loop0"),
			{name: "etc/xattr", typ: tar.TypeReg, mode: 0644, pax: map[string]string{"SCHILY.xattr.user.comment": "hi"}},
		},
		{
			whiteoutOf("etc", "os-release"), whiteoutOf("srv", "locked"), whiteoutOf("opt/app", "b"),
			dir("opt/app/"), opaqueIn("opt/app"), file("opt/app/new", "new\n"),
			// A regular file over an applet symlink, a dir over a file,
			// a file over a dir, a symlink over a read-only dir.
			file("bin/ls", "not busybox\n"),
			dir("etc/motd/"), file("etc/motd/x", "x"),
			file("etc/skel", "now a file\n"),
			symlink("srv/ro", "/usr/share"),
			// Written through the lower layer's lib -> usr/lib link.
			dir("usr/share/"), file("lib/libx.so.1", "ELF\n"), symlink("lib/libx.so", "libx.so.1"),
			withMode(file("bin/busybox.copy", "copy\n"), 0700),
			hardlink("usr/bin/suid.hard2", "usr/bin/suid.hard"),
			// New metadata for an existing dir: its contents stay.
			withOwner(withMode(dir("home/user/"), 0700), 1000, 1000),
			// Rewritten files; bin/sh.hard was a hard link to
			// bin/busybox, which must not change.
			file("usr/bin/big", "small now\n"),
			file("bin/sh.hard", "replaced\n"),
		},
	}
}

func TestCompareUmoci(t *testing.T) {
	umoci, err := exec.LookPath("umoci")
	if err != nil {
		t.Fatalf("umoci is not installed: run scripts/setup.sh (the tools it installs are required by these tests): %v", err)
	}
	bb, err := testimage.Busybox("/bin/busybox")
	if err != nil {
		t.Fatalf("%v: run scripts/setup.sh (the tools it installs are required by these tests)", err)
	}
	tars := [][]byte{bb}
	for _, l := range compareLayers() {
		tars = append(tars, layerTar(t, l...))
	}

	dir := t.TempDir()
	t.Cleanup(func() { makeRemovable(dir) })
	layout := filepath.Join(dir, "image")
	writeLayout(t, layout, tars)

	bundle := filepath.Join(dir, "bundle")
	args := []string{"unpack", "--image", layout + ":latest", bundle}
	if !isRoot() {
		args = []string{"unpack", "--rootless", "--image", layout + ":latest", bundle}
	}
	cmd := exec.Command(umoci, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("umoci %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	ours := filepath.Join(dir, "ours")
	if err := os.Mkdir(ours, 0755); err != nil {
		t.Fatal(err)
	}
	var total Stats
	for i, l := range tars {
		st, err := Apply(context.Background(), ours, bytes.NewReader(l))
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		total.Add(st)
	}

	theirs := describe(t, filepath.Join(bundle, "rootfs"))
	mine := describe(t, ours)
	if !isRoot() {
		// Unprivileged, umoci --rootless leaves an empty regular file
		// where a device node should be; Apply skips the node and counts
		// it (for the summary and the rootfs state).
		for _, p := range []string{"dev/null", "dev/loop0"} {
			if _, ok := mine[p]; ok || !strings.HasPrefix(theirs[p], "file ") || !strings.Contains(theirs[p], " size 0 ") {
				t.Errorf("device %s: ours %q, umoci's %q; want none and an empty placeholder", p, mine[p], theirs[p])
			}
			delete(theirs, p)
		}
		if total.SkippedDevices != 2 {
			t.Errorf("SkippedDevices = %d, want 2", total.SkippedDevices)
		}
	}
	if !equalTrees(mine, theirs) {
		t.Errorf("Apply's tree (got) differs from umoci's (want):\n%s", diffTrees(mine, theirs))
	}
	// The hard-link sets must match too.
	if a, b := linkSets(t, ours), linkSets(t, filepath.Join(bundle, "rootfs")); a != b {
		t.Errorf("hard links differ:\n ours:  %s\n umoci: %s", a, b)
	}
	if len(mine) < 40 {
		t.Errorf("only %d paths compared: the image did not unpack", len(mine))
	}
	t.Logf("%d paths equal; stats %+v", len(mine), total)
}

// writeLayout writes an OCI image layout holding one image, tagged latest,
// with the given layers (gzip-compressed).
func writeLayout(t *testing.T, dir string, tars [][]byte) {
	t.Helper()
	spec := testimage.Spec{Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}}
	for _, tb := range tars {
		spec.Layers = append(spec.Layers, testimage.Layer{Tar: tb, Compression: testimage.Gzip})
	}
	im := testimage.Build(spec)
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0755); err != nil {
		t.Fatal(err)
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0644); err != nil {
			t.Fatal(err)
		}
	}
	for d, b := range im.Blobs {
		write(filepath.Join(blobs, d.Encoded()), b)
	}
	write(filepath.Join(blobs, im.Desc.Digest.Encoded()), im.Raw)
	desc := ocispec.Descriptor{MediaType: im.Desc.MediaType, Digest: im.Desc.Digest, Size: im.Desc.Size,
		Annotations: map[string]string{ocispec.AnnotationRefName: "latest"}}
	idx, err := json.Marshal(ocispec.Index{Versioned: im.Manifest.Versioned, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}})
	if err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "index.json"), idx)
	write(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`))
}

// describe maps every path under root to what the comparison covers:
// type, permission bits (setuid/setgid/sticky included), owner (as root;
// unprivileged, both appliers leave files to the user), size and sha256 of
// a regular file's content, a symlink's target, a device's numbers.
//
// Not compared, on purpose:
//   - directory mtimes: a whiteout or a new child changes the mtime of a
//     lower layer's directory the layer does not list; umoci puts some of
//     these back and Apply (like Docker and containerd) does not, and no
//     layer says what they should be;
//   - atimes and ctimes, which no applier controls.
//
// File, symlink and node mtimes are compared: both take them from the
// layer. So are xattrs (the names; a user.* one is in the image).
func describe(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	walkEntries(t, root, func(rel, p string, fi fs.FileInfo) error {
		st := fi.Sys().(*syscall.Stat_t)
		var s string
		switch {
		case fi.IsDir():
			s = fmt.Sprintf("dir %04o", permBits(fi))
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			s = fmt.Sprintf("symlink -> %s mtime %d", l, st.Mtim.Sec)
		case fi.Mode()&fs.ModeNamedPipe != 0:
			s = fmt.Sprintf("fifo %04o mtime %d", permBits(fi), st.Mtim.Sec)
		case fi.Mode()&fs.ModeDevice != 0:
			s = fmt.Sprintf("dev %04o %d mtime %d", permBits(fi), st.Rdev, st.Mtim.Sec)
		case fi.Mode().IsRegular():
			b, err := readAsOwner(p, fi)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			s = fmt.Sprintf("file %04o size %d sha256 %s mtime %d", permBits(fi), fi.Size(), hex.EncodeToString(sum[:8]), st.Mtim.Sec)
		default:
			s = fmt.Sprintf("other %v", fi.Mode())
		}
		if isRoot() {
			s += fmt.Sprintf(" owner %d:%d", st.Uid, st.Gid)
		}
		if x := xattrNames(p); x != "" {
			s += " xattrs " + x
		}
		out[rel] = s
		return nil
	})
	return out
}

// xattrNames lists p's xattrs but umoci's rootless record of the owner it
// could not set ("user.rootlesscontainers"): the rootless counterpart of
// what Apply counts in Stats.
func xattrNames(p string) string {
	buf := make([]byte, 4096)
	n, err := syscall.Listxattr(p, buf)
	if err != nil || n <= 0 {
		return ""
	}
	var names []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name != "user.rootlesscontainers" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// linkSets lists the groups of paths that share an inode.
func linkSets(t *testing.T, root string) string {
	t.Helper()
	byIno := map[uint64][]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) == nil && st.Nlink > 1 {
			rel, _ := filepath.Rel(root, p)
			byIno[st.Ino] = append(byIno[st.Ino], rel)
		}
		return nil
	})
	var sets []string
	for _, ps := range byIno {
		sort.Strings(ps)
		sets = append(sets, strings.Join(ps, "="))
	}
	sort.Strings(sets)
	return strings.Join(sets, " ")
}
