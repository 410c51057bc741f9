package export

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/decompress"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
	"github.com/rootfs-pull/rootfs-pull/tarball"
)

// ErrBadArchive: an export archive that is damaged, truncated or not
// what its marker says.
var ErrBadArchive = errors.New("not a usable rootfs-pull export")

// IsArchive says whether the file at path is an export archive: a tar
// (plain, gzip, xz, zstd or bzip2) whose first entry is the marker. Any
// other file (a rootfs tarball) is not; an unreadable one is an error.
func IsArchive(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	dr, _, err := decompress.NewReader(ocispec.MediaTypeImageLayer, f)
	if err != nil {
		return false, nil
	}
	defer dr.Close()
	hdr, err := tar.NewReader(io.LimitReader(dr, 1<<20)).Next()
	return err == nil && hdr.Name == MarkerName, nil
}

// Source restores an export archive: a pull.Source whose one layer is the
// archive's tree, with the image's own name and config, and as digest the
// archive's sha256: a later pull of the image is an update of the
// restored rootfs (--update replaces it with the registry's tree), never
// "up to date" on the archive's word, and restoring the same file again
// is up to date.
type Source struct {
	path     string
	file     *tarball.Source // opens and verifies the file's bytes
	sha256   string          // expected, or "" (not verified)
	marker   Marker
	state    rootfs.State
	config   []byte
	defaults []byte
	hasDefs  bool
}

// Open opens the export archive at path. sha256, if not empty, is the
// archive's expected sha256 (the restore is ready only if it matches).
func Open(path, sha256 string) (*Source, error) {
	s := &Source{path: path, sha256: sha256}
	return s, nil
}

// Marker is the archive's marker (after Resolve).
func (s *Source) Marker() Marker { return s.marker }

// Resolve implements pull.Source: the archive's image, with one layer,
// the archive itself, named by the file's sha256 (so a file changed
// while restoring fails, and a finished restore of the same file is up
// to date).
func (s *Source) Resolve(ctx context.Context, want registry.Platform) (*registry.Image, error) {
	name := safetext.Cut(s.path, 120)
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	// One pass: the head (state, config, defaults) is parsed from the
	// very bytes hashed, so a file changed between two reads can never
	// have its head taken on the word of a hash of other bytes.
	h := sha256.New()
	head := &gate{r: io.TeeReader(ctxReader{ctx, f}, h)}
	err = s.readMeta(head)
	head.close() // the decompressor's goroutines read no more of it
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return nil, err
	}
	sum := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	unverified := s.sha256 == ""
	if !unverified {
		want, err := tarball.ParseSHA256(s.sha256)
		if err != nil {
			return nil, err
		}
		if want != sum {
			return nil, &registry.VerifyError{What: "export archive", Expected: want, Actual: sum}
		}
	}
	if s.file, err = tarball.Open(s.path, tarball.Options{}); err != nil {
		return nil, err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(s.config, &cfg); err != nil {
		return nil, fmt.Errorf("%s: image config: %v: %w", name, err, ErrBadArchive)
	}
	// The tree is one layer here: the image's diff_ids name layers this
	// archive does not hold.
	cfg.RootFS.DiffIDs = nil
	// The platform is the config's, which the pull checks (known
	// architecture, variant and OS) before anything is written; the
	// state's platform is free text.
	plat := registry.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}.Normalize()
	if cfg.Architecture == "" {
		plat = want
	}
	for _, n := range []string{s.state.Image, s.state.Reference} {
		if !safetext.Safe(n) || len(n) > maxName {
			return nil, fmt.Errorf("%s: the state names its image %s: control characters or more than %d bytes: %w", name, safetext.Cut(n, 80), maxName, ErrBadArchive)
		}
	}
	// The image's name (so that a pull of it is an --update of this
	// rootfs), but as digest the archive's own sha256, never the image
	// digest its state claims: the tree is whatever the archive holds, so
	// a pull of the real image must not call it up to date, and two
	// archives claiming one digest are two images (an unfinished restore
	// of one is never resumed by the other).
	im := &registry.Image{
		Name:       s.state.Image,
		FullName:   s.state.Reference,
		Digest:     sum,
		Platform:   plat,
		Config:     cfg,
		RawConfig:  s.config,
		Unverified: unverified,
	}
	if im.Name == "" || im.FullName == "" {
		return nil, fmt.Errorf("%s: the state names no image: %w", name, ErrBadArchive)
	}
	im.Manifest.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(s.config), Size: int64(len(s.config))}
	im.Manifest.Layers = []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: sum, Size: fi.Size()}}
	return im, nil
}

// readMeta reads the marker, state, config and defaults entries at the
// archive's head.
func (s *Source) readMeta(r io.Reader) error {
	dr, _, err := decompress.NewReader(ocispec.MediaTypeImageLayer, r)
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrBadArchive)
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	var got []string
	for {
		hdr, err := tr.Next()
		if err != nil {
			return fmt.Errorf("reading its head: %v: %w", err, ErrBadArchive)
		}
		if len(got) == 0 && hdr.Name != MarkerName {
			return fmt.Errorf("its first entry is not %s: %w", MarkerName, ErrBadArchive)
		}
		if !strings.HasPrefix(hdr.Name, metaDir) && hdr.Name != MarkerName {
			break // the tree
		}
		if slices.Contains(got, hdr.Name) {
			// An export writes each once: repeats would only make a
			// restore parse 16 MiB more each, and the last one count.
			return fmt.Errorf("%s twice: %w", safetext.Cut(hdr.Name, 80), ErrBadArchive)
		}
		limit := int64(maxMeta)
		if hdr.Name == defaultName {
			limit = maxDefaults
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > limit {
			return fmt.Errorf("%s: not a regular file of at most %d bytes: %w", safetext.Cut(hdr.Name, 80), limit, ErrBadArchive)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("%v: %w", err, ErrBadArchive)
		}
		switch hdr.Name {
		case MarkerName:
			if err := json.Unmarshal(b, &s.marker); err != nil || s.marker.Format != FormatName {
				return fmt.Errorf("its marker is damaged: %w", ErrBadArchive)
			}
			if s.marker.Version != FormatVersion {
				return fmt.Errorf("export format version %d; this rootfs-pull reads version %d: %w", s.marker.Version, FormatVersion, ErrBadArchive)
			}
		case stateName:
			if err := json.Unmarshal(b, &s.state); err != nil {
				return fmt.Errorf("its state is damaged: %w", ErrBadArchive)
			}
		case configName:
			s.config = b
		case defaultName:
			s.defaults, s.hasDefs = b, true
		case endName:
			return fmt.Errorf("it holds no tree: %w", ErrBadArchive)
		default:
			return fmt.Errorf("unknown entry %s: %w", safetext.Cut(hdr.Name, 80), ErrBadArchive)
		}
		got = append(got, hdr.Name)
	}
	if s.state.Digest == "" || s.config == nil {
		return fmt.Errorf("its state or image config is missing: %w", ErrBadArchive)
	}
	return nil
}

// Blob implements pull.Source: the archive's bytes, checked at the end
// against the sha256 Resolve found.
func (s *Source) Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if s.file == nil {
		return nil, errors.New("export: Blob before Resolve")
	}
	return s.file.Blob(ctx, desc)
}

// RewriteTar implements pull.TarRewriter: the archive's tree, its
// "rootfs/" prefix stripped, without the meta entries; the stream fails
// when the trailer is missing (a truncated archive), does not match the
// tree, or is not the last entry.
func (s *Source) RewriteTar(_ int, r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	t := &treeReader{pr: pr}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		pw.CloseWithError(tree(r, pw))
	}()
	return t
}

type treeReader struct {
	pr *io.PipeReader
	wg sync.WaitGroup
}

func (t *treeReader) Read(p []byte) (int, error) { return t.pr.Read(p) }

func (t *treeReader) Close() error {
	t.pr.Close()
	t.wg.Wait()
	return nil
}

// tree copies the tree entries of the archive r to w as a tar stream.
func tree(r io.Reader, w io.Writer) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	var entries int
	var bytes int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("the archive ends before its trailer (%s): it is truncated: %w", endName, ErrBadArchive)
		}
		if err != nil {
			return err
		}
		switch {
		case hdr.Name == MarkerName, hdr.Name == stateName, hdr.Name == configName, hdr.Name == defaultName:
			if entries > 0 {
				return fmt.Errorf("%s after the tree: %w", hdr.Name, ErrBadArchive)
			}
			continue // read by Resolve
		case hdr.Name == endName:
			return finish(tr, tw, entries, bytes)
		case !strings.HasPrefix(hdr.Name, treePrefix):
			return fmt.Errorf("entry %s is outside %s: %w", safetext.Cut(hdr.Name, 120), treePrefix, ErrBadArchive)
		}
		if sparse(hdr) {
			// archive/tar would hand its holes out as zeros and this
			// re-write would drop its sparse records: the applier would
			// take a tiny header claiming a PiB for a plain file, past the
			// bound it keeps on sparse entries. An export never holds one
			// (holes are written as zeros).
			return fmt.Errorf("entry %s is a sparse file, which an export never holds: %w", safetext.Cut(hdr.Name, 120), ErrBadArchive)
		}
		hdr.Name = strings.TrimPrefix(hdr.Name, treePrefix)
		if hdr.Name == "" {
			hdr.Name = "./"
		}
		if hdr.Typeflag == tar.TypeLink {
			if !strings.HasPrefix(hdr.Linkname, treePrefix) {
				return fmt.Errorf("hard link %s to %s, outside %s: %w", safetext.Cut(hdr.Name, 120), safetext.Cut(hdr.Linkname, 120), treePrefix, ErrBadArchive)
			}
			hdr.Linkname = strings.TrimPrefix(hdr.Linkname, treePrefix)
		}
		delete(hdr.PAXRecords, "path")
		delete(hdr.PAXRecords, "linkpath")
		entries++
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("entry %s: %w", safetext.Cut(hdr.Name, 120), err)
		}
		n, err := io.Copy(tw, tr)
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			bytes += n
		}
	}
}

// finish checks the trailer against what the tree held, and that nothing
// follows it.
func finish(tr *tar.Reader, tw *tar.Writer, entries int, n int64) error {
	b, err := io.ReadAll(io.LimitReader(tr, maxMeta))
	if err != nil {
		return err
	}
	var t Trailer
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("its trailer is damaged: %w", ErrBadArchive)
	}
	if t.Entries != entries || t.Bytes != n {
		return fmt.Errorf("its trailer lists %d entries and %d bytes, the tree held %d and %d: %w", t.Entries, t.Bytes, entries, n, ErrBadArchive)
	}
	if hdr, err := tr.Next(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("entry %s after the trailer: %w", safetext.Cut(hdr.Name, 120), ErrBadArchive)
		}
		return err
	}
	return tw.Close()
}

// RestoreState implements pull.Restorer: once the tree is applied, the
// rootfs records the image name the exported state had, when it was
// created and what its pull skipped (with what this restore skipped
// added). Its digest stays the archive's sha256 and its one layer the
// archive: the exported state's image digest and layers are the
// archive's word, never checked against the tree.
func (s *Source) RestoreState(st *rootfs.State) {
	skipped := st.Skipped
	st.Image = s.state.Image
	st.Skipped = s.state.Skipped
	st.Skipped.Add(skipped)
	if !s.state.Created.IsZero() {
		st.Created = s.state.Created
	}
}

// Defaults is the archive's launcher defaults file as the launcher reads
// it: its option lines (blank lines and comments left out), and whether
// the archive has one. They decide how the host starts the container
// (-v HOST:CONTAINER, --shared-home, --env-file): a restore shows them
// and writes them (WriteDefaults) only when the user asks.
func (s *Source) Defaults() ([]string, bool) {
	if !s.hasDefs {
		return nil, false
	}
	var lines []string
	for _, l := range strings.Split(string(s.defaults), "\n") {
		l = strings.TrimLeft(strings.TrimSuffix(l, "\r"), " \t")
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines, true
}

// ErrDefaultsExist: a defaults file beside the new launcher differs from
// the archive's; it is kept.
var ErrDefaultsExist = errors.New("exists with other options: kept it (the archive's options were not restored)")

// WriteDefaults writes the archive's launcher defaults file beside the
// launcher script (start-NAME.defaults), atomically: only when the user
// asked for them (see Defaults), since the archive can come from anyone
// and the launcher takes them as the user's own options. It returns the
// file's path, or "" when the archive has none. A defaults file already
// there is kept (ErrDefaultsExist when it differs). The options are
// checked as the launcher reads them first: a line that is not an
// option refuses the file.
func (s *Source) WriteDefaults(script string) (string, error) {
	if !s.hasDefs || script == "" || script == "-" {
		return "", nil
	}
	p := launcher.DefaultsPath(script)
	if old, err := os.ReadFile(p); err == nil || !errors.Is(err, os.ErrNotExist) {
		if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode().IsRegular() && bytes.Equal(old, s.defaults) {
			return p, nil
		}
		return p, fmt.Errorf("%s %w", safetext.Cut(p, 120), ErrDefaultsExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(s.defaults); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if _, err := launcher.ReadDefaults(tmp.Name(), "/"); err != nil {
		return "", fmt.Errorf("the archive's defaults file: %w", err)
	}
	if err := renameNoReplace(tmp.Name(), p); err != nil {
		return "", err
	}
	return p, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// sparse reports a GNU sparse entry, old (type 'S') or PAX (GNU.sparse.*
// records).
func sparse(hdr *tar.Header) bool {
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

// gate passes reads to r until closed; close waits for a read under way,
// and every read after it ends at EOF. A decompressor that reads ahead on
// its own goroutine thus stops reading the file before the rest is hashed
// from where it stopped.
type gate struct {
	mu     sync.Mutex
	r      io.Reader
	closed bool
}

func (g *gate) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, io.EOF
	}
	return g.r.Read(p)
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
