package rootfs

import (
	"os"
	"path/filepath"
	"testing"
)

// Found by the second hostile review, fixed since: ruri (the launcher's root runtime) reads
// DIR/.rurienv, a file it normally writes itself, as its own trusted
// config. An image can ship one:
//
//   - `ruri -U DIR`, which the launcher tells the user to run after every
//     ruri start ("unmount with  ruri -U DIR"), umounts and then remove()s
//     DIR + each extra_mountpoint value: "/../../../../etc/shadow" deletes
//     the host's file, as root; and it SIGKILLs the file's ns_pid when that
//     process is in another mount namespace (any Android app, any systemd
//     service with PrivateTmp);
//   - with sys/class/input in the image (ruri's "already mounted" test),
//     ruri skips its own setup and takes drop_caplist, enable_seccomp,
//     no_new_privs, user and env from the image's file: an empty
//     drop_caplist keeps CAP_SYS_ADMIN, CAP_SYS_MODULE … in the container.
//
// The image's .rurienv must never reach the rootfs (a reserved name, like
// .rootfs-pull), so that only ruri's own file is ever there.
func TestImageRurienvNotExtracted(t *testing.T) {
	root, check := sandbox(t)
	defer check()
	evil := "[extra_mountpoint]=\"/tmp\",\"/../../../../../../etc/shadow\"\n[drop_caplist]=\n[ns_pid]=\"1\"\n"
	if _, err := applyLayers(t, root, []ent{
		dir("sys"), dir("sys/class"), dir("sys/class/input"),
		file(".rurienv", evil),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, ".rurienv")); err == nil {
		t.Errorf("the image's /.rurienv was extracted: ruri -U (which the launcher advises) and ruri itself read it as their own config")
	}
	// Nor through a hard link or a symlink named .rurienv.
	root2, check2 := sandbox(t)
	defer check2()
	if _, err := applyLayers(t, root2, []ent{file("x", evil), hardlink(".rurienv", "x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root2, ".rurienv")); err == nil {
		t.Errorf("a hard link named /.rurienv was extracted")
	}
}
