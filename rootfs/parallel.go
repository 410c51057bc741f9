package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Small regular files are made by a pool of workers while the tar reader
// goes on: creating a file costs far more in the kernel than its few
// bytes (a journal, SELinux labels and file-based encryption on Android),
// and those costs run in parallel. The files go in batches, one directory
// each, so a small file does not pay for a handoff of its own.
//
// Ordering: the applier's goroutine keeps every decision and every other
// entry. A file is handed out only when nothing can be at its path but
// what this layer's own later entries put there: its directory is fresh
// (made by this layer), or the applier has just seen the name free in a
// lower layer's directory the process owns and may write (so the worker
// needs no retryWritable); and its path is not already written by this
// layer. Its path is then pending. The applier waits for the pool
// (barrier) before anything that could meet a pending file: an entry at a
// pending path, a hard link to one, a walk through one, any removal, and
// the directories' metadata at the end.
// A file fails in the pool as it would in order, under its own name, and
// the applier stops at its next entry; a failure it can foresee (a name too
// long) keeps the file out of the pool, so that nothing after it applies.
// Fresh dirs are owner-writable until the end, whatever the umask or a
// default ACL, so the pool never needs the applier's retryWritable.
const (
	poolFileMax  = 64 << 10  // larger files are written by the applier itself
	poolBatchMax = 256 << 10 // bytes of content in one batch
	poolBatchLen = 64        // files in one batch
	nameMax      = 255       // NAME_MAX of Linux file systems
)

// testPoolAdd, when set (by tests), is told each path handed to the pool.
var testPoolAdd func(path string)

type pool struct {
	jobs    chan *batch
	free    chan *batch
	wg      sync.WaitGroup // batches handed out and not done
	workers sync.WaitGroup
	cur     *batch              // being filled by the applier
	pending map[string]struct{} // canonical paths handed out since the last barrier
	failed  atomic.Bool         // err is set: the applier stops at its next entry

	mu    sync.Mutex
	err   error // the first failure, an *EntryError
	stats Stats // what the workers counted (skips)
}

type batch struct {
	dir   dirRef // a dup of the parent directory, closed by the worker
	files []pooledFile
	data  []byte
}

type pooledFile struct {
	hdr  *tar.Header
	base string
	data []byte // a slice of the batch's data
}

// newPool starts the workers for a, or returns nil when parallelism cannot
// help (one CPU).
func newPool(a *applier) *pool {
	n := min(runtime.GOMAXPROCS(0), 4)
	if n < 2 {
		return nil
	}
	p := &pool{jobs: make(chan *batch, n), free: make(chan *batch, 2*n+1), pending: map[string]struct{}{}}
	for range 2*n + 1 {
		p.free <- &batch{data: make([]byte, 0, poolBatchMax)}
	}
	for range n {
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			// Each worker has its own applier view: metadata code counts
			// into its stats, and touches nothing else of the applier.
			w := &applier{ctx: a.ctx, euid: a.euid, egid: a.egid, rootFd: -1}
			for b := range p.jobs {
				p.run(w, b)
			}
			p.mu.Lock()
			p.stats.Add(w.stats)
			p.mu.Unlock()
		}()
	}
	return p
}

// eligible reports whether the file entry hdr for t may go to the pool.
func (a *applier) eligible(t target, hdr *tar.Header) bool {
	if a.pool == nil || hdr.Size > poolFileMax || t.dir.fd == a.rootFd || len(t.base) > nameMax {
		return false // a name too long fails in order, in file
	}
	if _, written := a.written[t.path()]; written {
		return false
	}
	if _, ok := a.fresh[t.dir.path]; ok {
		return true
	}
	// A lower layer's dir: the name must be free now (a file there is
	// replaced in order, by file), and the dir writable without help.
	if !a.ownsWritable(t.dir) {
		return false
	}
	var st unix.Stat_t
	return unix.Fstatat(t.dir.fd, t.base, &st, unix.AT_SYMLINK_NOFOLLOW) == unix.ENOENT
}

// ownsWritable reports whether d is a directory the process owns with
// owner write and search permission: one the pool can create files in as
// the applier would, with no mode to lend. What it learns holds until the
// next removal (forget): until then, the applier only ever adds owner
// permissions to a directory.
func (a *applier) ownsWritable(d dirRef) bool {
	if ok, known := a.writable[d.path]; known {
		return ok
	}
	var st unix.Stat_t
	ok := unix.Fstat(d.fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR &&
		int(st.Uid) == a.euid && st.Mode&0300 == 0300
	a.writable[d.path] = ok
	return ok
}

// add reads the file's content and queues it; the applier has checked
// eligible.
func (p *pool) add(t target, hdr *tar.Header, r io.Reader) error {
	b := p.cur
	if b != nil && (b.dir.path != t.dir.path || len(b.files) == poolBatchLen || len(b.data)+int(hdr.Size) > cap(b.data)) {
		p.dispatch()
		b = nil
	}
	if b == nil {
		fd, err := unix.FcntlInt(uintptr(t.dir.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("dup %s: %w", shortName(t.dir.path), err)
		}
		b = <-p.free
		b.dir = dirRef{fd: fd, path: t.dir.path}
		b.files, b.data = b.files[:0], b.data[:0]
		p.cur = b
	}
	start := len(b.data)
	b.data = b.data[:start+int(hdr.Size)]
	if _, err := io.ReadFull(r, b.data[start:]); err != nil {
		b.data = b.data[:start]
		return fmt.Errorf("read %s: %w", shortName(t.path()), err)
	}
	b.files = append(b.files, pooledFile{hdr: hdr, base: t.base, data: b.data[start:]})
	p.pending[t.path()] = struct{}{}
	if testPoolAdd != nil {
		testPoolAdd(t.path())
	}
	return nil
}

func (p *pool) dispatch() {
	if p.cur == nil {
		return
	}
	if len(p.cur.files) == 0 {
		unix.Close(p.cur.dir.fd)
		p.free <- p.cur
	} else {
		p.wg.Add(1)
		p.jobs <- p.cur
	}
	p.cur = nil
}

// run makes a batch's files, as the applier's file would.
func (p *pool) run(w *applier, b *batch) {
	defer func() {
		unix.Close(b.dir.fd)
		p.free <- b
		p.wg.Done()
	}()
	for _, f := range b.files {
		t := target{dir: b.dir, base: f.base}
		if err := w.smallFile(t, f.hdr, f.data); err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = &EntryError{Name: f.hdr.Name, Err: err}
				p.failed.Store(true)
			}
			p.mu.Unlock()
			return
		}
	}
}

// smallFile creates t with content data: O_EXCL in a fresh directory, where
// nothing of another layer can be. All zeros is a hole, as copyData makes.
func (a *applier) smallFile(t target, hdr *tar.Header, data []byte) error {
	fd, err := unix.Openat(t.dir.fd, t.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0600)
	if err != nil {
		return fmt.Errorf("create %s: %w", shortName(t.path()), err)
	}
	defer unix.Close(fd)
	if allZero(data) {
		err = unix.Ftruncate(fd, int64(len(data)))
	} else {
		for rest := data; len(rest) > 0 && err == nil; {
			var n int
			n, err = unix.Write(fd, rest)
			switch {
			case err == unix.EINTR:
				err = nil
			case err == nil && n == 0:
				err = io.ErrShortWrite
			}
			rest = rest[max(n, 0):]
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", shortName(t.path()), err)
	}
	// Small files' writeback waits for the layer's Sync (writebackMin).
	return a.setMeta(t, hdr, fd, false)
}

// barrier waits until every file handed out is made, and returns the
// first failure.
func (p *pool) barrier() error {
	p.dispatch()
	p.wg.Wait()
	clear(p.pending)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// close waits for the pool and stops its workers; it returns the skips
// they counted.
func (p *pool) close() (Stats, error) {
	err := p.barrier()
	close(p.jobs)
	p.workers.Wait()
	return p.stats, err
}
