package pull_test

import (
	"os"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim"
)

func TestMain(m *testing.M) {
	androidsim.InstallIfChild()
	os.Exit(m.Run())
}

// TestAndroidSyscalls runs whole pulls (registry, cache, applier, rootfs
// preparation, launcher, update swap) under Android's app seccomp policy,
// where every syscall it does not allow (openat2, fchmodat2, faccessat2,
// chroot, ...) raises SIGSYS, as in Termux.
func TestAndroidSyscalls(t *testing.T) {
	if on, _ := androidsim.Active(); on {
		t.Skip("this is the child")
	}
	out, killed, err := androidsim.Rerun("^(TestPullFormats|TestPullCache|TestPullUpdate|TestPullDirectoryRules)$", false)
	if killed {
		t.Fatalf("a pull made a syscall Android forbids an app:\n%s", out)
	}
	if err != nil {
		t.Fatalf("pulls failed under the Android policy: %v\n%s", err, out)
	}
}
