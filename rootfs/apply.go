package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/whiteout"
)

// copyBufSize is the block in which file content is copied (and holes
// are found).
const copyBufSize = 256 << 10

// StateDirName is the directory at the top of a rootfs where this tool
// keeps its state. Layers cannot write, link or remove anything there.
const StateDirName = ".rootfs-pull"

// Stats counts what applying a layer did, and what it could not do
// without privileges (so the summary can say it once, not per file).
type Stats struct {
	Files     int   `json:"files"`
	Dirs      int   `json:"dirs"`
	Symlinks  int   `json:"symlinks"`
	Hardlinks int   `json:"hardlinks"`
	Devices   int   `json:"devices"`
	FIFOs     int   `json:"fifos"`
	Whiteouts int   `json:"whiteouts"`
	Bytes     int64 `json:"bytes"` // regular files' content

	SkippedChown   int `json:"skipped_chown,omitempty"`   // ownership left to the user
	SkippedDevices int `json:"skipped_devices,omitempty"` // mknod refused
	SkippedFIFOs   int `json:"skipped_fifos,omitempty"`   // mkfifo refused
	SkippedXattrs  int `json:"skipped_xattrs,omitempty"`  // setxattr refused or unsupported
	HardlinkCopies int `json:"hardlink_copies,omitempty"` // link(2) refused: content copied
	SkippedOther   int `json:"skipped_other,omitempty"`   // unknown entry types, reserved names
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Files += o.Files
	s.Dirs += o.Dirs
	s.Symlinks += o.Symlinks
	s.Hardlinks += o.Hardlinks
	s.Devices += o.Devices
	s.FIFOs += o.FIFOs
	s.Whiteouts += o.Whiteouts
	s.Bytes += o.Bytes
	s.SkippedChown += o.SkippedChown
	s.SkippedDevices += o.SkippedDevices
	s.SkippedFIFOs += o.SkippedFIFOs
	s.SkippedXattrs += o.SkippedXattrs
	s.HardlinkCopies += o.HardlinkCopies
	s.SkippedOther += o.SkippedOther
}

// EntryError names the tar entry a layer failed on.
type EntryError struct {
	Name string
	Err  error
}

// Error names the entry shortly (a name can be 100 KB of anything).
func (e *EntryError) Error() string { return fmt.Sprintf("entry \"%s\": %v", shortName(e.Name), e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// Apply applies one layer, the tar stream r, to the directory root in
// place, following the OCI image-spec's layer rules: whiteouts and opaque
// directories remove lower layers' content (never this layer's), a later
// entry replaces whatever is at its path, and nothing outside root is ever
// written, linked, chmodded or removed. Ownership, devices, FIFOs and
// xattrs are applied where the process may; what it may not do is counted
// in Stats. Apply stops at the tar end marker; it does not read past it.
func Apply(ctx context.Context, root string, r io.Reader) (Stats, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, fmt.Errorf("open rootfs %s: %w", root, err)
	}
	defer unix.Close(fd)
	in := &countingReader{r: r}
	a := &applier{
		ctx:       ctx,
		rootPath:  root,
		rootFd:    fd,
		in:        in,
		written:   map[string]struct{}{},
		ancestors: map[string]struct{}{},
		dirs:      map[string]dirMeta{},
		restore:   map[string]restoreMode{},
		buf:       make([]byte, copyBufSize),
		fresh:     map[string]struct{}{},
		writable:  map[string]bool{},
		euid:      os.Geteuid(),
		egid:      os.Getegid(),
	}
	var rst unix.Stat_t
	if err := unix.Fstat(fd, &rst); err != nil {
		return Stats{}, fmt.Errorf("stat rootfs %s: %w", root, err)
	}
	a.rootDev = rst.Dev
	a.pool = newPool(a)
	tr := tar.NewReader(in)
	for {
		if err = ctx.Err(); err != nil {
			break
		}
		if a.pool != nil && a.pool.failed.Load() {
			err = a.pool.barrier() // stop at the next entry, as if applied in order
			break
		}
		var hdr *tar.Header
		hdr, err = tr.Next()
		if err == io.EOF {
			err = nil
			break
		}
		if err != nil {
			err = fmt.Errorf("read tar: %w", err)
			break
		}
		if err = a.entry(hdr, tr); err != nil {
			// A pooled file's failure, met at this entry's barrier,
			// already names its own entry.
			if !errors.As(err, new(*EntryError)) {
				err = &EntryError{Name: hdr.Name, Err: err}
			}
			break
		}
	}
	a.forget()
	if a.pool != nil {
		skipped, perr := a.pool.close()
		a.stats.Add(skipped)
		if err == nil {
			err = perr
		}
	}
	// Directory metadata and modes are set last, even after a failure, so
	// that no directory is left owner-writable when the image says not.
	if ferr := a.finish(); err == nil {
		err = ferr
	}
	return a.stats, err
}

type applier struct {
	ctx      context.Context
	rootPath string
	rootFd   int
	rootDev  uint64 // removals stay on the root's filesystem
	// written holds the canonical paths this layer wrote, ancestors their
	// parents: whiteouts and opaque dirs spare both.
	written, ancestors map[string]struct{}
	dirs               map[string]dirMeta     // dir metadata, set by finish
	restore            map[string]restoreMode // dirs made owner-writable: original mode
	in                 *countingReader        // the layer's bytes, counted
	content            int64                  // bytes of content produced (holes included)
	cache              dirCache               // the last parent resolved
	fresh              map[string]struct{}    // dirs this layer made: only its entries are in them
	writable           map[string]bool        // lower dirs the pool may write in (ownsWritable), until a removal
	pool               *pool                  // makes small files in parallel; nil on one CPU
	stats              Stats
	buf                []byte
	euid, egid         int
}

// dirMeta is a directory's header, set by finish on the inode this layer
// made or kept there (dev/ino), never on whatever has its name by then.
type dirMeta struct {
	hdr      *tar.Header
	dev, ino uint64
}

// restoreMode is a directory's mode before it was made owner-writable,
// given back by finish to that inode only.
type restoreMode struct {
	mode     uint32
	dev, ino uint64
}

// countingReader counts the bytes of the layer read so far.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// budget is how many more bytes of content the layer may produce: a
// multiple of its bytes so far, so that holes (which cost the tar reader
// a memclr per byte) cannot make the work exceed the input's by more.
func (a *applier) budget() int64 {
	return sparseRatio*a.in.n + sparseSlack - a.content
}

// isSparse reports a GNU sparse entry, old or PAX (whose holes the tar
// reader fills with zeros).
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// mark records p as written by this layer.
func (a *applier) mark(p string) {
	a.written[p] = struct{}{}
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := a.ancestors[d]; ok {
			break
		}
		a.ancestors[d] = struct{}{}
	}
}

// RuriEnvName is ruri's own record of a running container, DIR/.rurienv:
// ruri and `ruri -U` read it as trusted config (mount points to unmount
// and remove, capabilities to keep, a pid to kill), so an image must
// never be able to ship one.
const RuriEnvName = ".rurienv"

// reserved names paths no layer may create, change or remove: the
// tool's state directory and ruri's .rurienv.
func reserved(p string) bool {
	return p == StateDirName || strings.HasPrefix(p, StateDirName+"/") || p == RuriEnvName
}

// ignorable are walk errors that mean "nothing there to act on" (for a
// whiteout: nothing a layer may remove).
func ignorable(err error) bool {
	return errors.Is(err, errNotExist) || errors.Is(err, errNotDir) || errors.Is(err, errReserved)
}

// rootHeader is what an image's "./" entry may change of the rootfs
// directory itself: its mtime, and its mode without write access for
// group or others and without setuid, setgid or sticky bits. Owner, group
// and xattrs stay the puller's: the directory lives on the host, and a
// world-writable one (or one given to an unprivileged uid) would let
// another local user swap the rootfs's /etc or /bin under a root
// container. containerd does not apply the root entry at all.
func rootHeader(hdr *tar.Header, uid, gid int) *tar.Header {
	h := &tar.Header{Typeflag: tar.TypeDir, Name: hdr.Name, Mode: hdr.Mode & 0o755, Uid: uid, Gid: gid,
		ModTime: hdr.ModTime, AccessTime: hdr.AccessTime, Format: hdr.Format}
	return h
}

func (a *applier) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if err := checkName("name", hdr.Name); err != nil {
		return err
	}
	if err := checkName("link target", hdr.Linkname); err != nil {
		return err
	}
	if hdr.Size < 0 {
		return fmt.Errorf("negative size %d", hdr.Size)
	}
	if isSparse(hdr) && hdr.Size > a.budget() {
		return fmt.Errorf("%w: it declares %d bytes from %d bytes of layer so far (at most %dx plus %d MiB)",
			ErrSparseTooLarge, hdr.Size, a.in.n, sparseRatio, sparseSlack>>20)
	}
	rel := cleanName(hdr.Name)
	if whiteout.InMeta(rel) {
		return nil
	}
	if rel != "" {
		kind, name, err := whiteout.Parse(path.Base(rel))
		if err != nil {
			return err
		}
		switch kind {
		case whiteout.Meta:
			return nil
		case whiteout.Remove:
			a.stats.Whiteouts++
			return a.whiteout(path.Dir(rel), name)
		case whiteout.OpaqueDir:
			a.stats.Whiteouts++
			return a.opaque(path.Dir(rel))
		}
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			a.dirs[""] = dirMeta{hdr: rootHeader(hdr, a.euid, a.egid)}
		}
		return nil // the root itself can only be a directory
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return a.withTarget(rel, func(t target) error { return a.mkdir(t, hdr) })
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		return a.withTarget(rel, func(t target) error { return a.file(t, hdr, r) })
	case tar.TypeSymlink:
		return a.withTarget(rel, func(t target) error { return a.symlink(t, hdr) })
	case tar.TypeLink:
		return a.hardlink(rel, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return a.withTarget(rel, func(t target) error { return a.node(t, hdr) })
	default:
		a.stats.SkippedOther++
		return nil
	}
}

// withTarget resolves rel's parent (creating missing dirs), refuses the
// state dir, and runs fn on the result.
func (a *applier) withTarget(rel string, fn func(target) error) error {
	t, err := a.resolveParent(rel, true)
	if errors.Is(err, errReserved) {
		a.stats.SkippedOther++
		return nil
	}
	if err != nil {
		return err
	}
	defer a.release(t.dir)
	if reserved(t.path()) {
		a.stats.SkippedOther++
		return nil
	}
	if err := a.waitFor(t); err != nil {
		return err
	}
	return fn(t)
}

// waitFor waits for the pool if the file at t is still being made by it.
func (a *applier) waitFor(t target) error {
	if a.pool == nil || len(a.pool.pending) == 0 {
		return nil // no path to build: this runs per walked component
	}
	if _, ok := a.pool.pending[t.path()]; !ok {
		return nil
	}
	return a.pool.barrier()
}

// settle waits for every file the pool is making: before a removal, which
// could reach one.
func (a *applier) settle() error {
	if a.pool == nil {
		return nil
	}
	return a.pool.barrier()
}

// clear makes room for a new entry at t: a non-dir is unlinked, a dir is
// removed with its contents unless keepDir. It reports whether a dir was
// kept.
func (a *applier) clear(t target, keepDir bool) (bool, error) {
	var st unix.Stat_t
	if err := a.lstatAt(t.dir, t.base, &st); err != nil {
		if err == unix.ENOENT {
			return false, nil
		}
		return false, fmt.Errorf("stat %s: %w", shortName(t.path()), err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return true, nil
		}
		if err := a.settle(); err != nil {
			return false, err
		}
		return false, a.removeAll(t.dir, t.base, &st)
	}
	a.forget()
	return false, a.retryWritable(t.dir, func() error { return unix.Unlinkat(t.dir.fd, t.base, 0) })
}

func (a *applier) mkdir(t target, hdr *tar.Header) error {
	kept, err := a.clear(t, true)
	if err != nil {
		return err
	}
	if !kept {
		// Owner-writable until finish sets the real mode, whatever the
		// umask or a default ACL inherited from the parent took away: the
		// pool writes into fresh dirs without retryWritable.
		if err := a.retryWritable(t.dir, func() error { return unix.Mkdirat(t.dir.fd, t.base, 0700) }); err != nil {
			return fmt.Errorf("mkdir %s: %w", shortName(t.path()), err)
		}
	}
	// The inode made (or kept) here is the one finish will set: it is
	// pinned now, and chmodded through its descriptor.
	var st unix.Stat_t
	fd, err := openNode(t.dir.fd, t.base, &st)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		err = errReplaced
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", shortName(t.path()), err)
	}
	defer unix.Close(fd)
	if !kept {
		if err := chmodFd(fd, 0700, true); err != nil {
			return fmt.Errorf("chmod %s: %w", shortName(t.path()), err)
		}
		a.fresh[t.path()] = struct{}{}
	}
	a.dirs[t.path()] = dirMeta{hdr: hdr, dev: st.Dev, ino: st.Ino}
	a.mark(t.path())
	a.stats.Dirs++
	return nil
}

// mkdirImplicit creates a parent directory the layer did not list, 0755
// as Docker and containerd do.
func (a *applier) mkdirImplicit(d dirRef, name string) error {
	err := a.retryWritable(d, func() error { return unix.Mkdirat(d.fd, name, 0755) })
	if err != nil && err != unix.EEXIST {
		return err
	}
	if err == nil {
		var st unix.Stat_t
		fd, err := openNode(d.fd, name, &st)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return errReplaced
		}
		if err := chmodFd(fd, 0755, true); err != nil { // undo the umask
			return err
		}
		a.fresh[joinPath(d.path, name)] = struct{}{}
	}
	a.mark(joinPath(d.path, name))
	return nil
}

func (a *applier) file(t target, hdr *tar.Header, r io.Reader) error {
	if a.eligible(t, hdr) {
		if err := a.pool.add(t, hdr, r); err != nil {
			return err
		}
		a.stats.Bytes += hdr.Size
		a.content += hdr.Size
		a.mark(t.path())
		a.stats.Files++
		return nil
	}
	if _, err := a.clear(t, false); err != nil {
		return err
	}
	// O_EXCL|O_NOFOLLOW after the unlink: never write through an existing
	// file, so a hard link or symlink planted earlier cannot redirect it.
	var fd int
	err := a.retryWritable(t.dir, func() (err error) {
		fd, err = unix.Openat(t.dir.fd, t.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0600)
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", shortName(t.path()), err)
	}
	f := os.NewFile(uintptr(fd), t.path())
	defer f.Close()
	n, err := a.copyData(f, r)
	a.stats.Bytes += n
	if err != nil {
		return fmt.Errorf("write %s: %w", shortName(t.path()), err)
	}
	startWriteback(fd, n)
	if err := a.setMeta(t, hdr, fd, false); err != nil {
		return err
	}
	a.mark(t.path())
	a.stats.Files++
	return f.Close()
}

// copyData copies an entry's content to f. Blocks of zeros are seeked
// over, not written: a sparse entry (whose holes the tar reader hands out
// as zeros) stays sparse, so a tiny header claiming a huge file costs
// neither disk nor, with the context checked per block, an unstoppable
// wait.
func (a *applier) copyData(f *os.File, r io.Reader) (int64, error) {
	var n int64
	hole := false
	for {
		if err := a.ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := fill(r, a.buf)
		if int64(m) > a.budget() {
			return n, fmt.Errorf("%w: %d bytes of content from %d bytes of layer", ErrSparseTooLarge, a.content+int64(m), a.in.n)
		}
		a.content += int64(m)
		if m > 0 {
			chunk := a.buf[:m]
			if allZero(chunk) {
				if _, err := f.Seek(int64(m), io.SeekCurrent); err != nil {
					return n, err
				}
				hole = true
			} else {
				if _, err := f.Write(chunk); err != nil {
					return n, err
				}
				hole = false
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, rerr
		}
	}
	if hole { // the file ends in a hole: give it its size
		if err := f.Truncate(n); err != nil {
			return n, err
		}
	}
	return n, nil
}

// fill reads into buf until it is full or r ends (io.EOF) or fails.
func fill(r io.Reader, buf []byte) (int, error) {
	m := 0
	for m < len(buf) {
		k, err := r.Read(buf[m:])
		m += k
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

var zeros = make([]byte, copyBufSize)

func allZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }

func (a *applier) symlink(t target, hdr *tar.Header) error {
	if _, err := a.clear(t, false); err != nil {
		return err
	}
	// The link text is stored as is; it is data, only ever followed by
	// this package's own walk, which keeps it inside the root.
	if err := a.retryWritable(t.dir, func() error { return unix.Symlinkat(hdr.Linkname, t.dir.fd, t.base) }); err != nil {
		return fmt.Errorf("symlink %s: %w", shortName(t.path()), err)
	}
	if err := a.setMetaAt(t, hdr, unix.S_IFLNK); err != nil {
		return err
	}
	a.mark(t.path())
	a.stats.Symlinks++
	return nil
}

func (a *applier) hardlink(rel string, hdr *tar.Header) error {
	trel := cleanName(hdr.Linkname)
	if trel == "" {
		return fmt.Errorf("hard link to the root directory")
	}
	src, err := a.resolveParent(trel, false)
	if errors.Is(err, errReserved) {
		return fmt.Errorf("hard link target \"%s\" is reserved", shortName(hdr.Linkname))
	}
	if err != nil {
		if ignorable(err) {
			return fmt.Errorf("hard link target \"%s\" does not exist in the rootfs", shortName(hdr.Linkname))
		}
		return err
	}
	defer a.release(src.dir)
	if reserved(src.path()) {
		return fmt.Errorf("hard link target \"%s\" is reserved", shortName(hdr.Linkname))
	}
	if err := a.waitFor(src); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := a.lstatAt(src.dir, src.base, &st); err != nil {
		if err == unix.ENOENT {
			return fmt.Errorf("hard link target \"%s\" does not exist in the rootfs", shortName(hdr.Linkname))
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hard link target \"%s\" is a directory", shortName(hdr.Linkname))
	}
	return a.withTarget(rel, func(t target) error {
		if t.path() == src.path() {
			return nil
		}
		if _, err := a.clear(t, false); err != nil {
			return err
		}
		err := a.retryWritable(t.dir, func() error { return unix.Linkat(src.dir.fd, src.base, t.dir.fd, t.base, 0) })
		switch err {
		case nil:
		case unix.EPERM, unix.EACCES, unix.EMLINK, unix.EXDEV, unix.ENOTSUP:
			// Android denies link(2) to apps: copy the target instead.
			if err := a.copyFile(src, t); err != nil {
				return fmt.Errorf("hard link %s (copying %s): %w", shortName(t.path()), shortName(src.path()), err)
			}
			a.stats.HardlinkCopies++
		default:
			return fmt.Errorf("hard link %s to %s: %w", shortName(t.path()), shortName(src.path()), err)
		}
		a.mark(t.path())
		a.stats.Hardlinks++
		return nil
	})
}

// setMetaAt sets hdr's metadata on what this layer just made at t, a
// symlink or node of type typ, through an O_PATH descriptor of it.
func (a *applier) setMetaAt(t target, hdr *tar.Header, typ uint32) error {
	var st unix.Stat_t
	fd, err := openNode(t.dir.fd, t.base, &st)
	if err == nil && st.Mode&unix.S_IFMT != typ {
		unix.Close(fd)
		err = errReplaced
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", shortName(t.path()), err)
	}
	defer unix.Close(fd)
	return a.setMeta(t, hdr, fd, true)
}

func (a *applier) node(t target, hdr *tar.Header) error {
	if _, err := a.clear(t, false); err != nil {
		return err
	}
	mode := uint32(hdr.Mode) & 07777
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	default:
		mode |= unix.S_IFIFO
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	err := a.retryWritable(t.dir, func() error { return unix.Mknodat(t.dir.fd, t.base, mode, int(dev)) })
	if err == unix.EPERM || err == unix.EACCES {
		if hdr.Typeflag == tar.TypeFifo {
			a.stats.SkippedFIFOs++
		} else {
			a.stats.SkippedDevices++
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("mknod %s: %w", shortName(t.path()), err)
	}
	if err := a.setMetaAt(t, hdr, mode&unix.S_IFMT); err != nil {
		return err
	}
	a.mark(t.path())
	if hdr.Typeflag == tar.TypeFifo {
		a.stats.FIFOs++
	} else {
		a.stats.Devices++
	}
	return nil
}

// finish sets the metadata of the layer's directories, deepest first (so
// a parent is still searchable while its children are done, and no child
// touches a parent's mtime afterwards), and gives back the modes of lower
// directories that were made owner-writable.
func (a *applier) finish() error {
	paths := make([]string, 0, len(a.dirs)+len(a.restore))
	for p := range a.dirs {
		paths = append(paths, p)
	}
	for p := range a.restore {
		if _, ok := a.dirs[p]; !ok {
			paths = append(paths, p)
		}
	}
	depth := func(p string) int {
		if p == "" {
			return -1
		}
		return strings.Count(p, "/")
	}
	sort.Slice(paths, func(i, j int) bool {
		if di, dj := depth(paths[i]), depth(paths[j]); di != dj {
			return di > dj
		}
		return paths[i] < paths[j]
	})
	var first error
	for _, p := range paths {
		if err := a.finishDir(p); err != nil && first == nil {
			first = fmt.Errorf("directory \"%s\": %w", shortName(p), err)
		}
	}
	return first
}

func (a *applier) finishDir(p string) error {
	fd := a.rootFd
	t := target{dir: dirRef{fd: a.rootFd}, base: "."}
	if p != "" {
		// No symlinks followed, and only the inode recorded for p: a dir
		// replaced later in the layer, or swapped by anyone, is skipped.
		d, err := a.walk(path.Dir(p), false, false)
		if err != nil {
			return nil
		}
		defer a.release(d)
		t = target{dir: d, base: path.Base(p)}
		var st unix.Stat_t
		nfd, err := openNode(d.fd, t.base, &st)
		if err != nil {
			return nil
		}
		defer unix.Close(nfd)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil
		}
		dev, ino := a.restore[p].dev, a.restore[p].ino
		if m, ok := a.dirs[p]; ok {
			dev, ino = m.dev, m.ino
		}
		if st.Dev != dev || st.Ino != ino {
			return nil
		}
		fd = nfd
	}
	if m, ok := a.dirs[p]; ok {
		return a.setMeta(t, m.hdr, fd, true)
	}
	return chmodFd(fd, a.restore[p].mode, true)
}
