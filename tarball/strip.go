package tarball

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// rootfsTop are names a rootfs has at its top: a first directory with
// one of these names is the rootfs itself, not a wrapper to strip.
var rootfsTop = map[string]bool{
	"bin": true, "boot": true, "dev": true, "etc": true, "home": true, "lib": true, "lib32": true,
	"lib64": true, "libx32": true, "media": true, "mnt": true, "opt": true, "proc": true,
	"root": true, "run": true, "sbin": true, "srv": true, "sys": true, "tmp": true, "usr": true,
	"var": true, "data": true, "system": true, "apex": true, "nix": true, "snap": true,
}

// ErrNotSingleTop: a tarball whose first entry is a wrapper directory has
// an entry outside it.
type ErrNotSingleTop struct{ Top, Name string }

func (e *ErrNotSingleTop) Error() string {
	return fmt.Sprintf("the tarball starts with the directory %s/, taken as a wrapper to strip, but %s is outside it", safetext.Cut(e.Top, 60), safetext.Cut(e.Name, 120))
}

// RewriteTar implements pull.TarRewriter: it strips a single top-level
// directory. The decision is made on the first entry, as the tar streams
// by: when it is a directory (or in one) whose name is not one a rootfs
// has at its top (bin, etc, usr …), that directory is the wrapper, and
// every later entry must be inside it (one that is not fails the pull).
// Otherwise the stream is passed through unchanged.
func (s *Source) RewriteTar(_ int, r io.Reader) io.ReadCloser { return StripTop(r) }

// StripTop returns r's tar stream with a single top-level directory
// stripped (see RewriteTar). Close waits until r is read no more.
func StripTop(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	st := &stripper{pr: pr}
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		pw.CloseWithError(strip(r, pw))
	}()
	return st
}

type stripper struct {
	pr *io.PipeReader
	wg sync.WaitGroup
}

func (s *stripper) Read(p []byte) (int, error) { return s.pr.Read(p) }

func (s *stripper) Close() error {
	s.pr.Close()
	s.wg.Wait()
	return nil
}

func strip(r io.Reader, w io.Writer) error {
	in := &counter{r: r}
	tr := tar.NewReader(in)
	tw := tar.NewWriter(w)
	top := ""
	var content int64
	for first := true; ; first = false {
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(h.Name, "./")
		if first {
			dir, _, nested := strings.Cut(name, "/")
			if dir != "" && dir != "." && dir != ".." && !rootfsTop[dir] && (nested || h.Typeflag == tar.TypeDir) {
				top = dir + "/"
			}
		}
		if top != "" {
			if strings.TrimSuffix(name, "/")+"/" == top {
				continue // the wrapper itself
			}
			if !strings.HasPrefix(name, top) {
				return &ErrNotSingleTop{Top: strings.TrimSuffix(top, "/"), Name: h.Name}
			}
			h.Name = strings.TrimPrefix(name, top)
			if h.Typeflag == tar.TypeLink {
				link := strings.TrimPrefix(h.Linkname, "./")
				if !strings.HasPrefix(link, top) {
					return &ErrNotSingleTop{Top: strings.TrimSuffix(top, "/"), Name: h.Linkname}
				}
				h.Linkname = strings.TrimPrefix(link, top)
			}
			delete(h.PAXRecords, "path")
			delete(h.PAXRecords, "linkpath")
		}
		// Written out, a sparse entry's holes become bytes of the stream:
		// bound them here as the applier would have.
		if rootfs.IsSparse(h) && h.Size > rootfs.SparseBudget(in.n, content) {
			return fmt.Errorf("tarball entry %q declares %d bytes from %d bytes of tar: %w", safetext.Cut(h.Name, 120), h.Size, in.n, rootfs.ErrSparseTooLarge)
		}
		content += h.Size
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tarball entry %q: %w", safetext.Cut(h.Name, 120), err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// counter counts the bytes read from r.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
