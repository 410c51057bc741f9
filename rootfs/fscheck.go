package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnfitFilesystem: the directory is on a filesystem that cannot hold a
// working rootfs (no symlinks, no file modes, or names that ignore case):
// Android's shared storage (/sdcard, /storage: FUSE or sdcardfs over
// FAT-like rules), vfat, exfat.
var ErrUnfitFilesystem = errors.New("this filesystem cannot hold a rootfs")

// FilesystemError says why dir's filesystem cannot hold a rootfs. It is
// ErrUnfitFilesystem to errors.Is.
type FilesystemError struct {
	Dir  string // the directory looked at (the rootfs, or its nearest existing parent)
	Type string // the filesystem's name when known ("vfat", "fuse"…), else ""
	Lack string // what it cannot hold: "symlinks", "file modes", "names differing only in case"
}

func (e *FilesystemError) Error() string {
	on := "its filesystem"
	if e.Type != "" {
		on = "a " + e.Type + " filesystem"
	}
	return fmt.Sprintf("%s is on %s, which has no %s", e.Dir, on, e.Lack)
}

func (e *FilesystemError) Unwrap() error { return ErrUnfitFilesystem }

// Filesystem magic numbers (statfs f_type).
const (
	magicMsdos    = 0x4d44
	magicExfat    = 0x2011bab0
	magicSdcardfs = 0x5dca2df5
	magicFuse     = 0x65735546
	magicNTFS     = 0x5346544e
	magicNTFS3    = 0x7366746e
	magicVboxsf   = 0x786f4256
	magicSMB2     = 0xfe534d42
	magicCIFS     = 0xff534d42
)

// fsNames names the magic numbers a message may show.
var fsNames = map[int64]string{
	magicMsdos: "vfat", magicExfat: "exfat", magicSdcardfs: "sdcardfs", magicFuse: "fuse",
	magicNTFS: "ntfs", magicNTFS3: "ntfs3", magicVboxsf: "vboxsf", magicSMB2: "smb", magicCIFS: "cifs",
}

// noLinks are filesystems that never hold a symlink: refused without a probe.
var noLinks = map[int64]bool{magicMsdos: true, magicExfat: true, magicSdcardfs: true}

// fsProbe is what CheckFilesystem uses of the system (tests replace it).
type fsProbe struct {
	fsType  func(dir string) (int64, error) // statfs f_type
	symlink func(oldname, newname string) error
	chmod   func(name string, mode os.FileMode) error
}

var realProbe = fsProbe{fsType: statfsType, symlink: os.Symlink, chmod: os.Chmod}

// CheckFilesystem refuses, with a *FilesystemError, a dir (or, when it
// does not exist yet, its nearest existing parent) on a filesystem that
// cannot hold a rootfs: one known by its type never to hold symlinks, or
// one where a probe finds that a symlink cannot be made, that a file
// mode does not stick, or that a name is found in another case. The
// probe's files are removed again. What it cannot look at (a parent it
// may not write, say) it leaves for the pull itself to report.
func CheckFilesystem(dir string) error { return realProbe.check(dir) }

func (p fsProbe) check(dir string) error {
	at, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	for {
		if fi, err := os.Stat(at); err == nil {
			if !fi.IsDir() {
				return nil // not a directory: the pull says so
			}
			break
		}
		up := filepath.Dir(at)
		if up == at {
			return nil
		}
		at = up
	}
	typ, err := p.fsType(at)
	if err == nil && noLinks[typ] {
		return &FilesystemError{Dir: at, Type: fsNames[typ], Lack: "symlinks"}
	}
	fail := func(lack string) error { return &FilesystemError{Dir: at, Type: fsNames[typ], Lack: lack} }

	f, err := os.CreateTemp(at, ".rootfs-pull-probe-")
	if err != nil {
		return nil
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	link := name + ".link"
	if err := p.symlink(filepath.Base(name), link); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return fail("symlinks")
	}
	fi, err := os.Lstat(link)
	os.Remove(link)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return fail("symlinks")
	}
	for _, m := range []os.FileMode{0700, 0755} {
		if err := p.chmod(name, m); err != nil {
			return fail("file modes")
		}
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != m {
			return fail("file modes")
		}
	}
	upper := filepath.Join(at, strings.ToUpper(filepath.Base(name)))
	if fi, err := os.Lstat(upper); err == nil {
		if orig, err := os.Lstat(name); err == nil && os.SameFile(fi, orig) {
			return fail("names differing only in case")
		}
	}
	return nil
}

// statfsType is the f_type of the filesystem dir is on (as unsigned 32
// bits: 32-bit platforms hold it signed).
func statfsType(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(uint32(st.Type)), nil
}
