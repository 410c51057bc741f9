package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// A rootfs on a filesystem without symlinks or modes (Android's /sdcard,
// a vfat or exfat card) cannot work: the pull refuses it with one line
// saying where to put it, before asking the registry anything, and leaves
// nothing there. The filesystem is a real FAT, mounted from an image file.
func TestPullRefusesVfat(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot mount a vfat filesystem to pull into (run as root)")
	}
	if _, err := exec.LookPath("mkfs.vfat"); err != nil {
		t.Skip("mkfs.vfat is not installed (Debian: apt install dosfstools; scripts/setup.sh does)")
	}
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "card.img"), filepath.Join(tmp, "sdcard")
	os.Mkdir(mnt, 0755)
	if out, err := exec.Command("mkfs.vfat", "-C", img, "8192").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v: %s", err, out)
	}
	// The kernel's vfat, else FAT through FUSE (fusefat), as Android's
	// /storage/emulated is a FUSE filesystem.
	fs := "vfat"
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		fs = "fuse"
		if _, err := exec.LookPath("fusefat"); err != nil {
			t.Skipf("cannot mount a vfat image here (%s) and fusefat is not installed (Debian: apt install fusefat; scripts/setup.sh does)", bytes.TrimSpace(out))
		}
		if out, err := exec.Command("fusefat", "-o", "rw+", img, mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a vfat image here, neither with the kernel's vfat nor with fusefat: %v: %s", err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})

	reg := startRegistry(t, testregistry.Options{TokenAuth: true, Users: map[string]string{"admin": "adminpw"}})
	push(t, reg.Host, "demo/app", smallImage())
	before := reg.TokenRequests.Load()
	for _, dir := range []string{filepath.Join(mnt, "app"), mnt} {
		r := runCLI(t, "", reg.Host+"/demo/app", dir)
		oneErrorLine(t, r, 1, "cannot pull into "+dir, fs, "symlinks", "$HOME in Termux")
		if n := reg.TokenRequests.Load(); n != before {
			t.Errorf("%s: the registry was asked (%d token requests) before the directory was refused", dir, n-before)
		}
		if left, _ := os.ReadDir(mnt); len(left) != 0 {
			t.Errorf("%s: the refused pull left %v", dir, left)
		}
		if _, err := os.Lstat(filepath.Join(tmp, "start-sdcard.sh")); err == nil {
			t.Errorf("%s: a launcher was written", dir)
		}
	}
}
