package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/inflate"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// store is where an archive's files are: a directory (an OCI layout) or
// a tar file, plain or gzipped. Names are slash-separated, relative and
// clean ("blobs/sha256/…", "manifest.json"); a name that is not is
// refused, so nothing is ever read from outside the layout or archive.
type store interface {
	// open opens the regular file name; its size is known up front.
	open(ctx context.Context, name string) (io.ReadCloser, int64, error)
	// stat says whether name exists and its size.
	stat(name string) (int64, error)
	// String names the store in messages.
	String() string
}

// ErrNotInArchive: a file the image needs is not in the archive or layout.
var ErrNotInArchive = errors.New("not in the archive")

// ErrUnsafeName: a name an archive's own documents give is absolute,
// climbs out with "..", or is not clean.
var ErrUnsafeName = errors.New("names a path outside the archive")

// checkName refuses a name that is not relative and clean.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") || name == "." {
		return fmt.Errorf("%q %w", safetext.Cut(name, 120), ErrUnsafeName)
	}
	return nil
}

// dirStore is a directory, read through os.Root: a symlink or ".."
// inside it cannot lead out of it.
type dirStore struct {
	dir  string
	root *os.Root
}

func openDir(dir string) (*dirStore, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &dirStore{dir: dir, root: r}, nil
}

func (d *dirStore) String() string { return d.dir }

func (d *dirStore) stat(name string) (int64, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	fi, err := d.root.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", safetext.Cut(name, 120), ErrNotInArchive)
	}
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", safetext.Cut(name, 120))
	}
	return fi.Size(), nil
}

func (d *dirStore) open(_ context.Context, name string) (io.ReadCloser, int64, error) {
	if _, err := d.stat(name); err != nil {
		return nil, 0, err
	}
	f, err := d.root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() { // swapped since the stat
		f.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file", safetext.Cut(name, 120))
	}
	return f, fi.Size(), nil
}

// maxEntries bounds the entries of a tar archive this tool indexes: a
// docker save of 1000 layers has about 4000.
const maxEntries = 100_000

// maxLinkHops bounds symlinks followed inside a tar archive (docker
// save links a layer it holds twice to its first copy).
const maxLinkHops = 8

// maxEntryName bounds the names and link targets a tar archive's index
// keeps (docker save's and skopeo's are under 100 bytes): a PAX record
// makes them up to 1 MiB, and gzip makes that cost a few bytes. Longer
// ones are never indexed, so never read; maxIndexBytes bounds the total.
const (
	maxEntryName  = 1024
	maxIndexBytes = 16 << 20
)

type tarEntry struct {
	typ   byte
	size  int64
	link  string
	count int // how many entries have this name
}

// tarStore is a tar file, plain or gzipped, never extracted: it is read
// once to index its entries, and each file is read by scanning the tar
// again up to it (a plain file seeks over the content before it; a
// gzipped one is decompressed again up to it, so each layer costs a pass:
// gunzip a big archive first to pull it faster).
type tarStore struct {
	file    string
	gzipped bool
	entries map[string]*tarEntry
}

var gzipMagic = []byte{0x1f, 0x8b}

func openTar(ctx context.Context, file string) (*tarStore, error) {
	t := &tarStore{file: file, entries: map[string]*tarEntry{}}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	var magic [2]byte
	if n, _ := io.ReadFull(f, magic[:]); n == 2 && bytes.Equal(magic[:], gzipMagic) {
		t.gzipped = true
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	n, held := 0, 0
	err = t.scan(ctx, f, func(h *tar.Header, _ *tar.Reader) (bool, error) {
		if n++; n > maxEntries {
			return true, fmt.Errorf("%s has more than %d entries: not an image archive", file, maxEntries)
		}
		name, ok := entryName(h.Name)
		if !ok || len(name) > maxEntryName || len(h.Linkname) > maxEntryName {
			return false, nil // never asked for: no document may name it
		}
		if held += len(name) + len(h.Linkname); held > maxIndexBytes {
			return true, fmt.Errorf("%s: its entries' names are more than %d MiB: not an image archive", file, maxIndexBytes>>20)
		}
		if e := t.entries[name]; e != nil {
			e.count++
			return false, nil
		}
		typ := h.Typeflag
		if rootfs.IsSparse(h) {
			// A few bytes that read as terabytes of zeros: docker save and
			// skopeo never write one, so it is never read.
			typ = tar.TypeGNUSparse
		}
		t.entries[name] = &tarEntry{typ: typ, size: h.Size, link: h.Linkname, count: 1}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// entryName is a tar entry's name as documents name it ("./a/b" and
// "a/b/" are "a/b"); false for one that is absolute or climbs out.
func entryName(n string) (string, bool) {
	n = strings.TrimPrefix(n, "./")
	n = strings.TrimSuffix(n, "/")
	if checkName(n) != nil {
		return "", false
	}
	return n, true
}

func (t *tarStore) String() string { return t.file }

// scan reads the tar from r (decompressing it if gzipped), calling fn
// for each entry until it says stop.
func (t *tarStore) scan(ctx context.Context, r io.Reader, fn func(*tar.Header, *tar.Reader) (bool, error)) error {
	if t.gzipped {
		zr := inflate.NewReader(bufio.NewReaderSize(r, 64<<10), 2)
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r) // over a plain *os.File it seeks past content
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.file, err)
		}
		stop, err := fn(h, tr)
		if stop || err != nil {
			return err
		}
	}
}

// resolve follows symlinks inside the archive to a regular file.
func (t *tarStore) resolve(name string) (string, *tarEntry, error) {
	if err := checkName(name); err != nil {
		return "", nil, err
	}
	for range maxLinkHops {
		e := t.entries[name]
		switch {
		case e == nil:
			return "", nil, fmt.Errorf("%s: %w", safetext.Cut(name, 120), ErrNotInArchive)
		case e.count > 1:
			return "", nil, fmt.Errorf("the archive holds %s %d times: refusing to guess which is meant", safetext.Cut(name, 120), e.count)
		case e.typ == tar.TypeReg || e.typ == tar.TypeRegA:
			return name, e, nil
		case e.typ == tar.TypeSymlink:
			target := e.link
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(name), target)
			}
			if err := checkName(target); err != nil {
				return "", nil, fmt.Errorf("%s links to %w", safetext.Cut(name, 120), err)
			}
			name = target
		case e.typ == tar.TypeGNUSparse:
			return "", nil, fmt.Errorf("%s is a sparse file in the archive (image archives have none): refused", safetext.Cut(name, 120))
		default:
			return "", nil, fmt.Errorf("%s is not a regular file in the archive", safetext.Cut(name, 120))
		}
	}
	return "", nil, fmt.Errorf("%s: too many symlinks in the archive", safetext.Cut(name, 120))
}

func (t *tarStore) stat(name string) (int64, error) {
	_, e, err := t.resolve(name)
	if err != nil {
		return 0, err
	}
	return e.size, nil
}

func (t *tarStore) open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	name, e, err := t.resolve(name)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(t.file)
	if err != nil {
		return nil, 0, err
	}
	pr, pw := io.Pipe()
	found := make(chan error, 1)
	go func() {
		defer f.Close()
		sent := false
		err := t.scan(ctx, f, func(h *tar.Header, tr *tar.Reader) (bool, error) {
			if n, ok := entryName(h.Name); !ok || n != name {
				return false, nil
			}
			if h.Size != e.size { // the file changed since it was indexed
				return true, fmt.Errorf("%s changed while it was read", t.file)
			}
			sent = true
			found <- nil
			_, err := io.Copy(pw, tr)
			return true, err
		})
		if !sent {
			if err == nil {
				err = fmt.Errorf("%s: %w (the file changed while it was read?)", safetext.Cut(name, 120), ErrNotInArchive)
			}
			found <- err
		}
		pw.CloseWithError(err)
	}()
	if err := <-found; err != nil {
		pr.Close()
		return nil, 0, err
	}
	return pr, e.size, nil
}
