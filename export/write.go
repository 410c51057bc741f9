package export

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// ErrNotReady: the directory is not a finished rootfs (a pull was
// interrupted, or is under way): an export of it would not restore.
var ErrNotReady = errors.New("is not a ready rootfs: finish its pull first (run the same pull again)")

// ErrExists: the archive's name is taken; an export never replaces a file.
var ErrExists = errors.New("exists: not replacing it (remove it, or choose another name)")

// ErrExtension: the archive's name says no format this command writes.
var ErrExtension = errors.New("want a name ending in .tar, .tar.gz (.tgz), .tar.xz (.txz) or .tar.zst (.tzst)")

// Compression of an archive, chosen by its name.
type Compression string

// Compressions.
const (
	None Compression = "none"
	Gzip Compression = "gzip"
	Xz   Compression = "xz"
	Zstd Compression = "zstd"
)

// CompressionOf tells the compression from an archive's name.
func CompressionOf(name string) (Compression, error) {
	switch n := strings.ToLower(name); {
	case strings.HasSuffix(n, ".tar"):
		return None, nil
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return Gzip, nil
	case strings.HasSuffix(n, ".tar.xz"), strings.HasSuffix(n, ".txz"):
		return Xz, nil
	case strings.HasSuffix(n, ".tar.zst"), strings.HasSuffix(n, ".tzst"):
		return Zstd, nil
	}
	return "", fmt.Errorf("%s: %w", safetext.Cut(name, 120), ErrExtension)
}

// Options tune Export.
type Options struct {
	// Progress, if set, is called now and then (at most every 250 ms)
	// and once at the end with what was written so far.
	Progress func(Progress)
}

// Progress is how far an export is.
type Progress struct {
	Entries int   // tree entries written
	Bytes   int64 // of file content
	Written int64 // bytes of the archive (compressed)
	Done    bool
}

// Result is what an export wrote.
type Result struct {
	Dir, File   string
	Compression Compression
	Marker      Marker
	Entries     int
	Bytes       int64 // file content
	Size        int64 // the archive
	Defaults    bool  // the launcher's defaults file is in it
	Duration    time.Duration
}

// Export writes the ready rootfs at dir, its state and its launcher's
// defaults file to the archive file, compressed as its name says. The
// archive is streamed (no copy of the tree is made) into a hidden
// temporary file beside file, and appears under its name only when
// complete; a file of that name is never replaced. Symlinks are archived
// as links, never followed; hard links stay hard links; holes in sparse
// files are read as zeros without reading the disk.
func Export(ctx context.Context, dir, file string, o Options) (_ *Result, err error) {
	start := time.Now()
	comp, err := CompressionOf(file)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(file); err == nil {
		return nil, fmt.Errorf("%s %w", safetext.Cut(file, 120), ErrExists)
	}
	st, err := rootfs.LoadState(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safetext.Cut(dir, 120), err)
	}
	if st.Status != rootfs.StatusReady {
		return nil, fmt.Errorf("%s %w", safetext.Cut(dir, 120), ErrNotReady)
	}
	unlock, err := rootfs.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safetext.Cut(dir, 120), err)
	}
	defer unlock()
	// Under the lock, again: a pull may have started meanwhile.
	if st, err = rootfs.LoadState(dir); err != nil {
		return nil, fmt.Errorf("%s: %w", safetext.Cut(dir, 120), err)
	}
	if st.Status != rootfs.StatusReady {
		return nil, fmt.Errorf("%s %w", safetext.Cut(dir, 120), ErrNotReady)
	}
	// A mount inside (a running chroot, ruri's) would put the host's /dev
	// or /proc into the archive.
	if err := rootfs.CheckNoMounts(dir); err != nil {
		return nil, err
	}
	rawState, err := rootfs.ReadStateFile(dir, "state.json")
	if err != nil {
		return nil, err
	}
	rawConfig, err := rootfs.ReadStateFile(dir, "config.json")
	if err != nil {
		return nil, err
	}
	defaults, hasDefaults, err := readDefaults(dir, st)
	if err != nil {
		return nil, err
	}
	rootFd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(rootFd)
	var rootSt unix.Stat_t
	if err := unix.Fstat(rootFd, &rootSt); err != nil {
		return nil, err
	}
	m := Marker{Format: FormatName, Version: FormatVersion, Image: st.Image, Reference: st.Reference,
		Digest: st.Digest, Platform: st.Platform, Skipped: st.Skipped, Exported: time.Now().UTC(),
		ExportedAsRoot: os.Geteuid() == 0}
	w := &walker{ctx: ctx, buf: make([]byte, 256<<10), links: map[[2]uint64]string{}, progress: o.Progress, rootDev: rootSt.Dev}
	if st.Skipped.SkippedChown > 0 {
		// Pulled without root: the tree's owner stands for root (proot's
		// -0 shows it so); the image's owners were never on disk.
		m.OwnersMappedToRoot = true
		w.mapUID, w.mapGID = int(rootSt.Uid), int(rootSt.Gid)
		w.mapOwners = true
	}

	out, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.partial")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	done := false
	defer func() {
		if !done {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	counted := &countWriter{w: out}
	w.counted = counted
	zw, err := compressor(comp, counted)
	if err != nil {
		return nil, err
	}
	w.tw = tar.NewWriter(zw)
	mb, _ := json.MarshalIndent(m, "", "  ")
	for _, f := range []struct {
		name string
		data []byte
		ok   bool
	}{{MarkerName, mb, true}, {stateName, rawState, true}, {configName, rawConfig, true}, {defaultName, defaults, hasDefaults}} {
		if f.ok {
			if err := w.addFile(f.name, f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := w.entry(rootFd, "", ".", &rootSt); err != nil {
		return nil, err
	}
	// Again after the walk: a container started meanwhile (chroot and
	// ruri mount the host's /proc, /sys, /dev and -v binds inside DIR)
	// may have bound something of the host's filesystem in, which the
	// walk could not tell from the rootfs's own directories.
	if err := rootfs.CheckNoMounts(dir); err != nil {
		return nil, fmt.Errorf("%w (mounted while it was exported: is a container running?)", err)
	}
	tb, _ := json.Marshal(Trailer{Entries: w.entries, Bytes: w.bytes})
	if err := w.addFile(endName, tb); err != nil {
		return nil, err
	}
	if err := w.tw.Close(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := out.Sync(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := renameNoReplace(out.Name(), file); err != nil {
		return nil, err
	}
	done = true
	syncDir(filepath.Dir(file))
	w.report(true)
	return &Result{Dir: dir, File: file, Compression: comp, Marker: m, Entries: w.entries, Bytes: w.bytes,
		Size: counted.n, Defaults: hasDefaults, Duration: time.Since(start)}, nil
}

// readDefaults reads the defaults file beside dir's launcher: a regular
// file (never through a symlink) of at most 64 KiB.
func readDefaults(dir string, st *rootfs.State) ([]byte, bool, error) {
	script := launcher.DefaultName(dir)
	if abs, err := filepath.Abs(dir); err == nil && st.Launcher != "" && launcher.IsFor(st.Launcher, abs) {
		script = st.Launcher
	}
	p := launcher.DefaultsPath(script)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w: not exporting it (a symlink? remove it or make it a regular file)", safetext.Cut(p, 120), err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("%s is not a regular file: not exporting it", safetext.Cut(p, 120))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxDefaults+1))
	if err != nil {
		return nil, false, err
	}
	if len(b) > maxDefaults {
		return nil, false, fmt.Errorf("%s is larger than 64 KiB", safetext.Cut(p, 120))
	}
	return b, true, nil
}

func compressor(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case Gzip:
		return pgzip.NewWriter(w), nil
	case Zstd:
		return zstd.NewWriter(w, zstd.WithWindowSize(8<<20))
	case Xz:
		return xz.NewWriter(w)
	}
	return nopCloser{w}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// renameNoReplace moves tmp to file unless file exists by then.
func renameNoReplace(tmp, file string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, file, unix.RENAME_NOREPLACE)
	switch err {
	case nil:
		return nil
	case unix.EEXIST:
		return fmt.Errorf("%s %w", safetext.Cut(file, 120), ErrExists)
	case unix.EINVAL, unix.ENOSYS:
		// A filesystem (or kernel) without RENAME_NOREPLACE.
		if _, err := os.Lstat(file); err == nil {
			return fmt.Errorf("%s %w", safetext.Cut(file, 120), ErrExists)
		}
		return os.Rename(tmp, file)
	}
	return fmt.Errorf("export: %w", &os.LinkError{Op: "rename", Old: tmp, New: file, Err: err})
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// walker writes the tree, depth first, every syscall relative to an open
// directory fd and never following a symlink.
type walker struct {
	ctx       context.Context
	tw        *tar.Writer
	counted   *countWriter
	buf       []byte
	links     map[[2]uint64]string // dev, ino → the archive name first written
	entries   int
	bytes     int64
	rootDev   uint64 // the walk never leaves DIR's filesystem
	mapOwners bool
	mapUID    int
	mapGID    int
	progress  func(Progress)
	last      time.Time
}

func (w *walker) report(done bool) {
	if w.progress == nil || (!done && time.Since(w.last) < 250*time.Millisecond) {
		return
	}
	w.last = time.Now()
	w.progress(Progress{Entries: w.entries, Bytes: w.bytes, Written: w.counted.n, Done: done})
}

func (w *walker) addFile(name string, data []byte) error {
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0644, Size: int64(len(data)), ModTime: time.Now().Truncate(time.Second), Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err := w.tw.Write(data)
	return err
}

// entry writes the entry name (in the directory dfd; "." for the root,
// whose fd dfd is) at rel, and everything under it.
func (w *walker) entry(dfd int, rel, name string, st *unix.Stat_t) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.report(false)
	hdr := &tar.Header{
		Name:       treePrefix + rel,
		Mode:       int64(st.Mode & 07777),
		Uid:        int(st.Uid),
		Gid:        int(st.Gid),
		ModTime:    time.Unix(st.Mtim.Unix()),
		AccessTime: time.Unix(st.Atim.Unix()),
		Format:     tar.FormatPAX,
	}
	if w.mapOwners {
		if hdr.Uid == w.mapUID {
			hdr.Uid = 0
		}
		if hdr.Gid == w.mapGID {
			hdr.Gid = 0
		}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return w.dir(dfd, rel, name, st, hdr)
	case unix.S_IFREG:
		return w.file(dfd, name, st, hdr)
	case unix.S_IFLNK:
		target, err := readlinkat(dfd, name)
		if err != nil {
			return w.fail(rel, err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		w.xattrsAt(dfd, name, hdr)
		return w.write(hdr, nil)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			hdr.Typeflag = tar.TypeChar
		case unix.S_IFBLK:
			hdr.Typeflag = tar.TypeBlock
		default:
			hdr.Typeflag = tar.TypeFifo
		}
		if hdr.Typeflag != tar.TypeFifo {
			hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		}
		if w.hardlinked(st, hdr) {
			return w.write(hdr, nil)
		}
		w.xattrsAt(dfd, name, hdr)
		return w.write(hdr, nil)
	}
	return nil // a socket: tar has no such entry, and a restore could not use one
}

func (w *walker) fail(rel string, err error) error {
	return fmt.Errorf("export %s: %w", safetext.Cut("/"+rel, 200), err)
}

func (w *walker) write(hdr *tar.Header, body func() error) error {
	if err := w.tw.WriteHeader(hdr); err != nil {
		return w.fail(strings.TrimPrefix(hdr.Name, treePrefix), err)
	}
	w.entries++
	if body != nil {
		return body()
	}
	return nil
}

// hardlinked makes hdr a hard link to an inode already written, or
// remembers this one.
func (w *walker) hardlinked(st *unix.Stat_t, hdr *tar.Header) bool {
	if st.Nlink < 2 {
		return false
	}
	key := [2]uint64{st.Dev, st.Ino}
	if first, ok := w.links[key]; ok {
		hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		return true
	}
	w.links[key] = hdr.Name
	return false
}

func (w *walker) dir(dfd int, rel, name string, st *unix.Stat_t, hdr *tar.Header) error {
	hdr.Typeflag = tar.TypeDir
	fd := dfd
	if rel != "" {
		hdr.Name += "/"
		var err error
		fd, err = w.openChild(dfd, name, st, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return w.fail(rel, err)
		}
		defer unix.Close(fd)
	} else {
		hdr.Name = treePrefix
	}
	w.xattrsFd(fd, hdr)
	if err := w.write(hdr, nil); err != nil {
		return err
	}
	names, err := readNames(fd)
	if err != nil {
		return w.fail(rel, err)
	}
	for _, n := range names {
		if rel == "" && (n == rootfs.StateDirName || n == rootfs.RuriEnvName) {
			continue // the state goes in as meta entries; .rurienv is a running ruri's
		}
		var cst unix.Stat_t
		if err := unix.Fstatat(fd, n, &cst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				continue // removed meanwhile
			}
			return w.fail(path(rel, n), err)
		}
		if cst.Dev != w.rootDev {
			// A mount that appeared after the check (the host's /proc,
			// /sys, /dev, a bind of /sdcard): never the rootfs's.
			return w.fail(path(rel, n), errors.New("is on another filesystem: something was mounted inside while it was exported (is a container running?)"))
		}
		if err := w.entry(fd, path(rel, n), n, &cst); err != nil {
			return err
		}
	}
	return nil
}

func path(rel, n string) string {
	if rel == "" {
		return n
	}
	return rel + "/" + n
}

func (w *walker) file(dfd int, name string, st *unix.Stat_t, hdr *tar.Header) error {
	rel := strings.TrimPrefix(hdr.Name, treePrefix)
	hdr.Typeflag = tar.TypeReg
	if w.hardlinked(st, hdr) {
		return w.write(hdr, nil)
	}
	fd, err := w.openChild(dfd, name, st, unix.O_RDONLY)
	if err != nil {
		return w.fail(rel, err)
	}
	defer unix.Close(fd)
	hdr.Size = st.Size
	w.xattrsFd(fd, hdr)
	return w.write(hdr, func() error {
		if err := w.content(fd, st.Size); err != nil {
			return w.fail(rel, err)
		}
		w.bytes += st.Size
		return nil
	})
}

// content copies size bytes of fd into the archive; holes (SEEK_HOLE)
// are written as zeros without reading them.
func (w *walker) content(fd int, size int64) error {
	var off int64
	zero := make([]byte, 0)
	for off < size {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO || (err == nil && data > size) {
			data = size // a hole to the end
		} else if err != nil {
			data = off // no SEEK_DATA here: read everything
		}
		if data > off {
			if err := w.zeros(data-off, &zero); err != nil {
				return err
			}
			off = data
			continue
		}
		hole, err := unix.Seek(fd, off, unix.SEEK_HOLE)
		if err != nil || hole > size {
			hole = size
		}
		for off < hole {
			n := int64(len(w.buf))
			if hole-off < n {
				n = hole - off
			}
			got, err := unix.Pread(fd, w.buf[:n], off)
			if err != nil {
				return err
			}
			if got == 0 {
				return fmt.Errorf("file shrank while it was exported (is the container running?)")
			}
			if _, err := w.tw.Write(w.buf[:got]); err != nil {
				return err
			}
			off += int64(got)
			w.report(false)
		}
	}
	return nil
}

func (w *walker) zeros(n int64, zero *[]byte) error {
	if len(*zero) == 0 {
		*zero = make([]byte, 256<<10)
	}
	for n > 0 {
		k := int64(len(*zero))
		if n < k {
			k = n
		}
		if _, err := w.tw.Write((*zero)[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// openChild opens name in dfd without following a symlink or blocking
// on a FIFO, and checks it is still the inode st describes. A file or
// directory the owner may not read (mode 0000 in a rootfs pulled without
// root) is made readable for the moment it is opened, through its O_PATH
// fd, and its mode given back.
func (w *walker) openChild(dfd int, name string, st *unix.Stat_t, flags int) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Openat(dfd, name, flags, 0)
	if err == unix.EACCES && int(st.Uid) == os.Geteuid() {
		fd, err = openAsOwner(dfd, name, st, flags)
	}
	if err != nil {
		return -1, err
	}
	var got unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil || got.Dev != st.Dev || got.Ino != st.Ino {
		unix.Close(fd)
		return -1, fmt.Errorf("changed while it was exported (is the container running?)")
	}
	return fd, nil
}

func openAsOwner(dfd int, name string, st *unix.Stat_t, flags int) (int, error) {
	pfd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	var pst unix.Stat_t
	if err := unix.Fstat(pfd, &pst); err != nil || pst.Ino != st.Ino || pst.Dev != st.Dev {
		return -1, unix.EACCES
	}
	proc := "/proc/self/fd/" + strconv.Itoa(pfd)
	add := uint32(0400)
	if pst.Mode&unix.S_IFMT == unix.S_IFDIR {
		add = 0500
	}
	if err := unix.Chmod(proc, (pst.Mode&07777)|add); err != nil {
		return -1, unix.EACCES
	}
	defer unix.Chmod(proc, pst.Mode&07777)
	return unix.Open(proc, flags&^unix.O_NOFOLLOW, 0)
}

func readNames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

func readlinkat(dfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("symlink target too long")
}

// xattrsFd records the xattrs of an open file or directory.
func (w *walker) xattrsFd(fd int, hdr *tar.Header) {
	w.xattrs(hdr, func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
		func(n string, b []byte) (int, error) { return unix.Fgetxattr(fd, n, b) })
}

// xattrsAt records the xattrs of a symlink or node, named through the
// directory fd's /proc link so no path is walked again (none without /proc).
func (w *walker) xattrsAt(dfd int, name string, hdr *tar.Header) {
	p := "/proc/self/fd/" + strconv.Itoa(dfd) + "/" + name
	w.xattrs(hdr, func(b []byte) (int, error) { return unix.Llistxattr(p, b) },
		func(n string, b []byte) (int, error) { return unix.Lgetxattr(p, n, b) })
}

func (w *walker) xattrs(hdr *tar.Header, list func([]byte) (int, error), get func(string, []byte) (int, error)) {
	buf := make([]byte, 64<<10)
	n, err := list(buf)
	if err != nil || n <= 0 {
		return
	}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := get(name, v)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+name] = string(v[:m])
	}
}
