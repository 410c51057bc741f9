package rootfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim"
)

func TestMain(m *testing.M) {
	androidsim.InstallIfChild()
	os.Exit(m.Run())
}

// TestAndroidSyscalls proves the applier makes no syscall Android's app
// seccomp policy forbids (openat2, fchmodat2, chroot, ...): the applier's
// tests run again under that policy, where such a syscall raises SIGSYS,
// as in Termux. The canary shows the policy bites.
func TestAndroidSyscalls(t *testing.T) {
	if on, _ := androidsim.Active(); on {
		t.Skip("this is the child")
	}
	out, killed, _ := androidsim.Rerun("^TestAndroidCanary$", false)
	if !killed {
		t.Fatalf("the simulated policy did not kill a fchmodat2 (os.Root.Chmod):\n%s", out)
	}
	out, killed, err := androidsim.Rerun("^(TestApply|TestBreakouts|TestApplyLayerWhiteouts|TestApplySparse|TestApplyMetadata|TestApplyPrivileges|TestStateDirProtected|TestPool|TestPoolFreshDirNotWritable|TestPoolLowerDirs|TestSwap.*|TestRemove.*|TestHugeEntryName|TestSparseBudget|TestStateDirNoFollow)$", false)
	if killed {
		t.Fatalf("the applier made a syscall Android forbids an app:\n%s", out)
	}
	if err != nil {
		t.Fatalf("the applier's tests failed under the Android policy: %v\n%s", err, out)
	}
}

func TestAndroidCanary(t *testing.T) {
	if on, _ := androidsim.Active(); !on {
		t.Skip("runs only under the simulated Android policy (see TestAndroidSyscalls)")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), nil, 0644)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	root.Chmod("f", 0600) // fchmodat2 in Go 1.26: the process dies here
	t.Fatal("fchmodat2 did not kill the process")
}

// Android has denied link(2) to apps since 6.0 (EACCES): hard links in a
// layer become copies of their target's content, mode and times, counted
// once. The test runs where linkat fails with EACCES.
func TestAndroidHardlinksCopied(t *testing.T) {
	if on, _ := androidsim.Active(); !on {
		out, killed, err := androidsim.Rerun("^TestAndroidHardlinksCopied$", true)
		if killed || err != nil {
			t.Fatalf("under the Android policy with links denied: %v\n%s", err, out)
		}
		return
	}
	if _, deny := androidsim.Active(); !deny {
		t.Skip("links are allowed in this child")
	}
	root, check := sandbox(t)
	defer check()
	l1 := []ent{dir("usr/"), withMode(file("usr/lower", "from below"), 0751)}
	l2 := []ent{file("usr/upper", "same layer"), hardlink("usr/link-up", "usr/upper"), hardlink("usr/link-low", "usr/lower")}
	st, err := applyLayers(t, root, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	got := tree(t, root)
	for name, want := range map[string]string{
		"usr/link-up": "f 644 same layer", "usr/link-low": "f 751 from below",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q (a copy)", name, got[name], want)
		}
	}
	if st.HardlinkCopies != 2 {
		t.Errorf("HardlinkCopies = %d, want 2", st.HardlinkCopies)
	}
	a, _ := os.Stat(filepath.Join(root, "usr/lower"))
	b, _ := os.Stat(filepath.Join(root, "usr/link-low"))
	if !a.ModTime().Equal(b.ModTime()) {
		t.Errorf("the copy's mtime %v differs from its target's %v", b.ModTime(), a.ModTime())
	}
	if os.SameFile(a, b) {
		t.Errorf("a hard link was made although linkat was denied")
	}
}
