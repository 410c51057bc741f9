package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ext4 is a fresh ext4 filesystem on a loop device, made for one run so
// that every tool starts on an equal, empty disk (no fragmentation, no
// dirty pages of the last run). Its backing file lives on the host disk,
// opened with direct I/O so that a sync reaches the disk, not the host's
// page cache.
type ext4 struct {
	img, dev, mnt string
}

const ext4Size = 3 << 30 // bytes: room for two copies of the image and the OCI layouts

func newExt4(work string) (*ext4, error) {
	e := &ext4{img: filepath.Join(work, "ext4.img"), mnt: filepath.Join(work, "ext4")}
	os.Remove(e.img)
	f, err := os.Create(e.img)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(ext4Size)
	f.Close()
	if err != nil {
		return nil, err
	}
	// No lazy init: the kernel would otherwise zero inode tables in the
	// background, during the run.
	if err := runq("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", e.img); err != nil {
		return nil, err
	}
	out, err := exec.Command("losetup", "--find", "--show", "--direct-io=on", e.img).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup (needs root): %v: %s", err, out)
	}
	e.dev = strings.TrimSpace(string(out))
	if err := os.MkdirAll(e.mnt, 0755); err != nil {
		e.close()
		return nil, err
	}
	if err := runq("mount", "-t", "ext4", e.dev, e.mnt); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *ext4) close() {
	exec.Command("umount", e.mnt).Run()
	if e.dev != "" {
		exec.Command("losetup", "-d", e.dev).Run()
	}
	os.Remove(e.img)
}

func runq(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return nil
}
