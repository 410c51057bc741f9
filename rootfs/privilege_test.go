package rootfs

// The applier's tests run both as root and as an unprivileged user. Run as
// root, TestUnprivileged runs them again as uid/gid 65534 in a child
// process; run as a normal user they are simply unprivileged, and the
// expectations below that differ by privilege (owners, device nodes, the
// file capability) follow what the process may do.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/asnobody"
)

// nobody is the uid and gid the unprivileged run uses.
const nobody = asnobody.UID

// unprivilegedTests are the tests the child runs: every applier test that
// makes sense without privileges.
var unprivilegedTests = []string{
	"TestApply", "TestApplyLayerWhiteouts", "TestApplyMetadata", "TestApplySparse", "TestApplyTruncatedTar", "TestApplyCancelled",
	"TestBreakouts", "TestStateDirProtected",
	"TestApplyPrivileges", "TestApplyFileCapability",
	"FuzzApply", "TestCompareUmoci",
	"TestPool", "TestPoolDirMetadataLast", "TestPoolNoLeaks", "TestPoolFreshDirNotWritable", "TestPoolLowerDirs",
	"TestSwapRaceApply", "TestSwapRaceRemove", "TestSwapMakeWritable", "TestSwapDuringFinish", "TestRemoveSwapAfterListing",
	"TestRemoveTreeSymlinks", "TestHugeEntryName", "TestShortNames", "TestSparseBudget", "TestStateDirNoFollow",
}

// TestUnprivileged re-runs the applier's tests as uid/gid 65534 when the
// tests run as root, and fails with the child's output if any fails.
func TestUnprivileged(t *testing.T) {
	if asnobody.Child() {
		t.Skip("this is the unprivileged run")
	}
	if !isRoot() {
		t.Skip("not root: this whole run is the unprivileged one; run the tests as root too, to cover ownership, devices and this re-exec")
	}
	out := asnobody.Rerun(t, unprivilegedTests)
	if testing.Verbose() {
		t.Logf("as uid/gid %d:\n%s", nobody, out)
	}
}

// TestApplyPrivileges: owners, setuid bits after chown, device nodes and
// FIFOs as root; as a user the files are the user's, chown and mknod are
// skipped and counted (once each in Stats, not a warning per file), FIFOs
// are still made, and the tree is otherwise the same.
func TestApplyPrivileges(t *testing.T) {
	layers := [][]ent{
		{
			withOwner(file("owned", "x"), 1234, 5678),
			withOwner(withMode(file("suid", "s"), 06755), 1234, 5678),
			withOwner(dir("d"), 42, 43), withOwner(file("d/f", "f"), 0, 0),
			withOwner(symlink("l", "owned"), 7, 8),
			fifo("pipe"), withOwner(fifo("pipe2"), 9, 9),
			chardev("null"), blockdev("loop0"),
			withOwner(withMode(dir("ro"), 0555), 1, 1), file("ro/x", "x"),
		},
		{withOwner(file("d/g", "g"), 100, 100), chardev("d/zero"), withOwner(hardlink("d/h", "owned"), 3, 3)},
	}
	want := map[string]string{
		"owned": "f 644 x", "suid": "f 6755 s", "d": "d 755", "d/f": "f 644 f", "l": "l owned",
		"pipe": "p 644", "pipe2": "p 644", "ro": "d 555", "ro/x": "f 644 x", "d/g": "f 644 g", "d/h": "f 644 x",
	}
	root, check := sandbox(t)
	st, err := applyLayers(t, root, layers...)
	if err != nil {
		t.Fatal(err)
	}
	check()
	me := fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
	owners := treeOwners(t, root)
	if isRoot() {
		want = merge(want, map[string]string{"null": "c 666", "loop0": "b 660", "d/zero": "c 666"})
		wantOwners := map[string]string{"owned": "1234:5678", "suid": "1234:5678", "d": "42:43", "d/f": "0:0", "l": "7:8",
			"pipe": "0:0", "pipe2": "9:9", "null": "0:0", "loop0": "0:0", "ro": "1:1", "ro/x": "0:0", "d/g": "100:100", "d/zero": "0:0",
			"d/h": "1234:5678"} // a hard link is the target's inode: its header's owner is not applied
		if !equalTrees(owners, wantOwners) {
			t.Errorf("owners differ:\n%s", diffTrees(owners, wantOwners))
		}
		if st.Devices != 3 || st.FIFOs != 2 || st.SkippedChown != 0 || st.SkippedDevices != 0 || st.SkippedFIFOs != 0 {
			t.Errorf("stats = %+v, want 3 devices, 2 FIFOs and no skips", st)
		}
	} else {
		for p, o := range owners {
			if o != me {
				t.Errorf("%s is owned by %s, want the user, %s", p, o, me)
			}
		}
		// Every entry given an owner other than the user (all but the
		// hard link and the skipped devices): counted, not fatal.
		if st.Devices != 0 || st.SkippedDevices != 3 || st.FIFOs != 2 || st.SkippedChown != 10 {
			t.Errorf("stats = %+v, want 3 skipped devices, 2 FIFOs, 10 skipped chowns", st)
		}
	}
	if got := tree(t, root); !equalTrees(got, want) {
		t.Errorf("tree differs:\n%s", diffTrees(got, want))
	}
}

// TestApplyFileCapability: security.capability is kept as root (after the
// chown that would clear it); a user cannot set it, and it is counted.
func TestApplyFileCapability(t *testing.T) {
	// VFS_CAP_REVISION_2 with the effective bit, CAP_NET_RAW permitted.
	capv2 := make([]byte, 20)
	binary.LittleEndian.PutUint32(capv2[0:], 0x02000001)
	binary.LittleEndian.PutUint32(capv2[4:], 1<<13)
	e := withOwner(withMode(file("ping", "elf"), 0755), 0, 0)
	e.pax = map[string]string{"SCHILY.xattr.security.capability": string(capv2)}
	root, check := sandbox(t)
	st, err := applyLayers(t, root, []ent{e})
	if err != nil {
		t.Fatal(err)
	}
	check()
	buf := make([]byte, 64)
	n, gerr := syscall.Getxattr(filepath.Join(root, "ping"), "security.capability", buf)
	if !isRoot() {
		t.Logf("not root: the capability is skipped and counted (SkippedXattrs = %d)", st.SkippedXattrs)
		if gerr == nil || st.SkippedXattrs != 1 {
			t.Errorf("as a user: capability %x (%v), SkippedXattrs %d; want none and 1", buf[:max(n, 0)], gerr, st.SkippedXattrs)
		}
		return
	}
	if gerr != nil || !bytes.Equal(buf[:n], capv2) || st.SkippedXattrs != 0 {
		t.Errorf("security.capability = %x, %v (SkippedXattrs %d); want %x", buf[:max(n, 0)], gerr, st.SkippedXattrs, capv2)
	}
}

// TestApplyOwnerOnlyAsRoot is the part of the ownership rules only root
// can show: a later layer's chown of a lower layer's dir, kept setgid.
func TestApplyOwnerOnlyAsRoot(t *testing.T) {
	if !isRoot() {
		t.Skip("not root: changing a directory's owner needs privileges (the unprivileged expectations are in TestApplyPrivileges)")
	}
	root, check := sandbox(t)
	if _, err := applyLayers(t, root, []ent{dir("srv"), file("srv/f", "1")}, []ent{withOwner(withMode(dir("srv"), 02775), 33, 33)}); err != nil {
		t.Fatal(err)
	}
	check()
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(root, "srv"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 33 || st.Gid != 33 || st.Mode&07777 != 02775 {
		t.Errorf("srv: %d:%d %o, want 33:33 2775", st.Uid, st.Gid, st.Mode&07777)
	}
	want := map[string]string{"srv": "d 2775", "srv/f": "f 644 1"}
	if got := tree(t, root); !equalTrees(got, want) {
		t.Errorf("tree differs:\n%s", diffTrees(got, want))
	}
}
