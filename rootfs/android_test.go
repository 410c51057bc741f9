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
// seccomp policy kills for (openat2, fchmodat2): the applier's tests run
// again in a process where those syscalls kill, as in Termux. The canary
// shows the policy bites.
func TestAndroidSyscalls(t *testing.T) {
	if os.Getenv(androidsim.Env) == "1" {
		t.Skip("this is the child")
	}
	out, killed, _ := androidsim.Rerun("^TestAndroidCanary$")
	if !killed {
		t.Fatalf("the simulated policy did not kill a fchmodat2 (os.Root.Chmod):\n%s", out)
	}
	out, killed, err := androidsim.Rerun("^(TestApply|TestBreakouts|TestApplyLayerWhiteouts|TestApplySparse|TestApplyMetadata|TestApplyPrivileges|TestStateDirProtected)$")
	if killed {
		t.Fatalf("the applier made a syscall Android forbids (openat2 or fchmodat2):\n%s", out)
	}
	if err != nil {
		t.Fatalf("the applier's tests failed under the Android policy: %v\n%s", err, out)
	}
}

func TestAndroidCanary(t *testing.T) {
	if os.Getenv(androidsim.Env) != "1" {
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
