// Package pull runs the whole pipeline for one image and one directory:
// registry (resolve, verified blob stream) → decompress → rootfs.Apply,
// layer by layer, recording progress in the rootfs's state so that an
// interrupted or failed pull is never taken for a finished one and a
// re-run picks up where it stopped.
package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/rootfs-pull/rootfs-pull/decompress"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// Options say what to pull where.
type Options struct {
	Image    string            // as the user wrote it, e.g. "ubuntu:24.04"
	Dir      string            // the rootfs directory; created if missing
	Platform registry.Platform // zero value: the host's
	// Force allows pulling into a non-empty directory this tool did not
	// make, or over a rootfs of another image.
	Force bool
	// Launcher is where to write the start script: "" for start-NAME.sh
	// beside Dir, "-" for none.
	Launcher string
	// Runtime is the launcher's default runtime: launcher.Proot, Chroot,
	// Ruri or Auto ("" = Auto).
	Runtime string
	// DNS servers for the rootfs's resolv.conf ("" = the host's).
	DNS []string
	// Jobs is how many later layers may download (into the blob cache)
	// while one is applied; 0 means DefaultJobs. Needs a client cache.
	Jobs int
	// Update replaces a rootfs of the same image at another digest (a tag
	// that moved): the new one is pulled beside it and swapped in only when
	// complete.
	Update bool
	// Progress, if set, is called with events as the pull goes on, possibly
	// from the decompressor's goroutine: it must be safe for concurrent use.
	Progress func(Event)
}

// Event reports progress. Kind is one of the Event* constants.
type Event struct {
	Kind   string
	Index  int // layer number, from 1
	Count  int // number of layers
	Digest digest.Digest
	Size   int64 // compressed size of the layer
	Done   int64 // compressed bytes read so far
}

// Event kinds.
const (
	EventResolved    = "resolved"      // the image is known: Count layers, Size bytes in all
	EventLayerStart  = "layer-start"   // a layer starts downloading and applying
	EventLayerBytes  = "layer-bytes"   // Done bytes of the layer downloaded (maybe ahead, before its layer-start)
	EventLayerDone   = "layer-done"    // the layer is applied and verified
	EventLayerCached = "layer-applied" // the layer was applied by an earlier run
)

// Result is what a finished pull did.
type Result struct {
	Image    *registry.Image
	Dir      string
	UpToDate bool // the rootfs already held this image; nothing was done
	Resumed  int  // layers an interrupted earlier run had applied
	Stats    rootfs.Stats
	Duration time.Duration
	Launcher string          // the start script written, if any
	Launch   launcher.Config // how the container starts
}

// DefaultJobs is how many layers download ahead of the applier.
const DefaultJobs = 3

// UpdateError: the directory holds the same image at another digest, and
// Options.Update was not given.
type UpdateError struct {
	Dir, Image string
	Have, Want string // digests
	Ready      bool   // the rootfs there is complete
}

func (e *UpdateError) Error() string {
	return fmt.Sprintf("%s holds %s at %s; the registry now has %s", e.Dir, e.Image, e.Have, e.Want)
}

// ErrNotEmpty: the directory has content and no rootfs-pull state.
var ErrNotEmpty = errors.New("directory is not empty and is not a rootfs made by rootfs-pull")

// OtherImageError: the directory holds a rootfs of another image.
type OtherImageError struct {
	Dir        string
	Have, Want string // image names with digests
}

func (e *OtherImageError) Error() string {
	return fmt.Sprintf("%s holds %s, not %s", e.Dir, e.Have, e.Want)
}

// Pull pulls o.Image, an image name, into o.Dir from its registry with c.
func Pull(ctx context.Context, c *registry.Client, o Options) (*Result, error) {
	ref, err := registry.ParseReference(o.Image)
	if err != nil {
		return nil, err
	}
	return PullFrom(ctx, Registry(c, ref), o)
}

// PullFrom pulls the image src resolves into o.Dir; o.Image is how the
// user named it.
func PullFrom(ctx context.Context, src Source, o Options) (_ *Result, err error) {
	start := time.Now()
	want := o.Platform
	if want.OS == "" {
		want = registry.HostPlatform()
	}
	// A rootfs on shared storage (/sdcard), vfat or exfat could not work:
	// refuse it before the network, and before writing anything.
	if err := rootfs.CheckFilesystem(o.Dir); err != nil {
		return nil, err
	}
	if err := recoverSwap(o.Dir); err != nil {
		return nil, err
	}
	// Refuse a directory we must not touch before using the network, and
	// touch nothing until the image is known.
	if _, err := checkDir(o.Dir, o.Force); err != nil {
		return nil, err
	}
	im, err := src.Resolve(ctx, want)
	if err != nil {
		return nil, err
	}
	return pullResolved(ctx, src, o, im, start)
}

// pullResolved pulls the resolved image im into o.Dir.
func pullResolved(ctx context.Context, src Source, o Options, im *registry.Image, start time.Time) (_ *Result, err error) {
	// What of the config goes on the launcher's command lines is checked
	// before anything is written (the architecture names a qemu binary).
	if err := launcher.CheckImage(im.Config); err != nil {
		return nil, fmt.Errorf("%s: %w", im.DisplayName(), err)
	}
	if err := checkVerifiable(im); err != nil {
		return nil, err
	}
	created, err := makeDir(o.Dir)
	if err != nil {
		return nil, err
	}
	unlock, err := rootfs.Lock(o.Dir)
	if err != nil {
		return nil, err // another run holds it: its directory now, not ours to remove
	}
	defer unlock()
	applied := false
	defer func() {
		// A directory this run made and filled with nothing but its own
		// bookkeeping goes away again when the run fails (still locked).
		if created && !applied && err != nil {
			os.RemoveAll(o.Dir)
		}
	}()
	state, err := checkDir(o.Dir, o.Force) // again, under the lock
	if err != nil {
		return nil, err
	}
	res := &Result{Image: im, Dir: o.Dir}
	named := im.Identity()
	if im.Ref.Digest == "" && im.Digest != "" {
		named += "@" + im.Digest.String()
	}
	if state != nil {
		switch {
		case im.Digest == "" && state.Reference == im.Identity() && !o.Force:
			// No digest to compare (a tarball by URL without --sha256):
			// whether it changed cannot be told, so it is pulled again
			// only when asked.
			if !o.Update {
				return nil, &UpdateError{Dir: o.Dir, Image: im.DisplayName(), Have: state.Digest, Want: "", Ready: state.Status == rootfs.StatusReady}
			}
			return update(ctx, src, o, im, start)
		case state.Digest == im.Digest.String() && state.Status == rootfs.StatusReady:
			res.UpToDate = true
			if err := writeLauncher(res, im, o, state); err != nil {
				return nil, err
			}
			res.Duration = time.Since(start)
			return res, nil
		case state.Digest != im.Digest.String() && state.Reference == im.Identity() && !o.Force:
			if !o.Update {
				return nil, &UpdateError{Dir: o.Dir, Image: im.DisplayName(), Have: state.Digest, Want: im.Digest.String(), Ready: state.Status == rootfs.StatusReady}
			}
			return update(ctx, src, o, im, start)
		case state.Digest != im.Digest.String() && !o.Force:
			return nil, &OtherImageError{Dir: o.Dir, Have: state.Reference + "@" + state.Digest, Want: named}
		case state.Digest != im.Digest.String():
			// --force: start this image's record afresh; but a tree that
			// holds never verified bytes is emptied first (below), whatever
			// image they came with.
			if !state.NeedsRebuild() {
				state = nil
			}
		}
	}
	// Resuming or forcing into a tree with mounts inside (ruri's, a running
	// chroot) would let whiteouts reach through them.
	if state != nil || o.Force {
		if err := rootfs.CheckNoMounts(o.Dir); err != nil {
			return nil, err
		}
	}
	if state != nil && state.NeedsRebuild() {
		// An earlier run applied bytes no digest confirmed (a layer that
		// failed verification, or one it never finished): start over.
		if err := rootfs.Clear(o.Dir); err != nil {
			return nil, fmt.Errorf("empty %s of a layer that was never verified: %w", o.Dir, err)
		}
		state = nil
	}
	state = newState(o.Image, im, state)
	if err := rootfs.WriteStateFile(o.Dir, "config.json", im.RawConfig); err != nil {
		return nil, err
	}
	if err := state.Save(o.Dir); err != nil {
		return nil, err
	}
	emit(o.Progress, Event{Kind: EventResolved, Count: len(state.Layers), Size: im.Size()})
	jobs := o.Jobs
	if jobs == 0 {
		jobs = DefaultJobs
	}
	applied = true // from here on, a re-run resumes: keep the directory
	retried := false
	for again := true; again; {
		var err error
		if again, err = applyLayers(ctx, src, im, o, state, res, jobs, !retried); err != nil {
			return nil, err
		}
		retried = retried || again
	}
	// A restore is prepared too: it may come from another machine (a
	// backup made on Linux restored on a phone needs Android's /proc
	// stand-ins and this machine's DNS in a resolv.conf rootfs-pull wrote;
	// one the image shipped is left alone, as on any pull).
	restorer, restoring := src.(Restorer)
	if err := launcher.Prepare(o.Dir, launcher.PrepareOptions{DNS: o.DNS}); err != nil {
		return nil, err
	}
	// The container must be startable (its User known to its own
	// /etc/passwd, a readable one) before the rootfs is called ready.
	if _, err := launcher.NewConfig(o.Dir, im.Config, runtime.GOARCH, o.Runtime); err != nil {
		return nil, fmt.Errorf("launcher: %w", err)
	}
	if restoring {
		restorer.RestoreState(state)
	}
	state.Status = rootfs.StatusReady
	if err := state.Save(o.Dir); err != nil {
		return nil, err
	}
	// Only a finished rootfs gets a launcher.
	if err := writeLauncher(res, im, o, state); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// applyLayers applies the layers state does not mark applied, in order,
// with later ones downloading ahead. Before a layer's first entry is
// applied, the state durably names it as the one being applied, and only
// a layer applied, verified and synced clears that (the sync runs beside
// the next layer: layersync.go): a layer stopped midway, for whatever
// reason, leaves the tree needing a rebuild (its entries cannot be undone
// one by one, and the bytes applied so far were never verified). A layer
// whose bytes fail verification also marks every layer unapplied; when
// the bad copy came from the cache (now dropped) and mayRestart, the tree
// is emptied at once and again is true: the caller applies every layer
// once more.
func applyLayers(ctx context.Context, src Source, im *registry.Image, o Options, state *rootfs.State, res *Result, jobs int, mayRestart bool) (again bool, err error) {
	pf := startPrefetch(ctx, src, im, func(i int) bool { return state.Layers[i].Applied }, jobs, o.Progress)
	defer pf.stop()
	cs, cached := src.(cachingSource)
	lookAhead := !cached || !cs.HasCache() // the prefetcher's work, without a cache
	// Set from the decompressor's goroutine (near), taken here.
	var ahead atomic.Pointer[lookahead]
	defer func() { ahead.Swap(nil).drop() }()
	// The last applied layer's sync, while the next one is applied; mu
	// guards state's Applying and saves between it and this goroutine.
	var (
		syncing  *layerSync
		mu       sync.Mutex
		applying = -1 // the layer state.Applying names (two layers may share a digest)
	)
	settle := func() error {
		if syncing == nil {
			return nil
		}
		s := syncing
		syncing = nil
		if err := s.wait(); err != nil {
			return fmt.Errorf("layer %d/%d: %w", s.index+1, len(state.Layers), err)
		}
		return nil
	}
	defer settle() // after a failure: no sync left running
	for i, desc := range im.Manifest.Layers {
		ev := Event{Index: i + 1, Count: len(state.Layers), Digest: layerName(im, i), Size: desc.Size}
		if state.Layers[i].Applied {
			res.Resumed++
			ev.Kind = EventLayerCached
			emit(o.Progress, ev)
			continue
		}
		ev.Kind = EventLayerStart
		emit(o.Progress, ev)
		pf.claim(ctx, i)
		begin := func() error {
			mu.Lock()
			defer mu.Unlock()
			state.Applying, applying = desc.Digest.String(), i
			return state.Save(o.Dir)
		}
		pre := ahead.Swap(nil)
		if pre != nil && pre.index != i {
			pre.drop() // not this layer's: nothing to keep
			pre = nil
		}
		var near func()
		if next := i + 1; lookAhead && next < len(im.Manifest.Layers) && !state.Layers[next].Applied {
			near = func() { ahead.Store(openAhead(ctx, src, im, next)) }
		}
		st, err := applyLayer(ctx, src, im, i, o.Dir, begin, o.Progress, pre, near)
		serr := settle() // the previous layer's
		state.Skipped.Add(st)
		res.Stats.Add(st)
		var ve *registry.VerifyError
		if errors.As(err, &ve) {
			for j := range state.Layers {
				state.Layers[j].Applied = false
			}
			if ve.Cached && mayRestart && rootfs.Clear(o.Dir) == nil {
				state.Applying, applying = "", -1
				res.Resumed, res.Stats, state.Skipped = 0, rootfs.Stats{}, rootfs.Stats{}
				return true, state.Save(o.Dir)
			}
			state.Tainted = true
		}
		if err != nil {
			// The layer stays marked unapplied, and Applying (when any of
			// it reached the tree) has the next run rebuild the tree.
			state.Save(o.Dir)
			name := ""
			if n := layerName(im, i); n != "" {
				name = " " + registry.ShortDigest(n)
			}
			return false, fmt.Errorf("layer %d/%d%s: %w", i+1, len(state.Layers), name, err)
		}
		if serr != nil {
			state.Save(o.Dir)
			return false, serr
		}
		// Durable before the state says applied.
		syncing = startSync(o.Dir, i, func() error {
			mu.Lock()
			defer mu.Unlock()
			state.Layers[i].Applied = true
			if applying == i {
				state.Applying, applying = "", -1
			}
			return state.Save(o.Dir)
		})
		ev.Kind = EventLayerDone
		emit(o.Progress, ev)
	}
	if err := settle(); err != nil {
		state.Save(o.Dir)
		return false, err
	}
	return false, nil
}

// writeLauncher writes (or replaces) the rootfs's start script and
// records it in the state.
func writeLauncher(res *Result, im *registry.Image, o Options, state *rootfs.State) error {
	cfg, err := launcher.NewConfig(o.Dir, im.Config, runtime.GOARCH, o.Runtime)
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	cfg.Image = im.DisplayName()
	cfg.Digest = im.Digest.String()
	res.Launch = cfg
	if o.Launcher == "-" {
		return nil
	}
	res.Launcher = o.Launcher
	if res.Launcher == "" {
		res.Launcher = launcher.DefaultName(o.Dir)
	}
	if err := launcher.Write(res.Launcher, o.Dir, cfg); err != nil {
		return err
	}
	if abs, err := filepath.Abs(res.Launcher); err == nil && (state.Launcher != abs || state.Runtime != cfg.Runtime) {
		state.Launcher, state.Runtime = abs, cfg.Runtime
		return state.Save(o.Dir)
	}
	return nil
}

func emit(f func(Event), e Event) {
	if f != nil {
		f(e)
	}
}

// checkDir returns dir's state, if any. A missing directory is fine; a
// non-empty one without state is refused unless force.
func checkDir(dir string, force bool) (*rootfs.State, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%s exists and is not a directory", dir)
	}
	state, err := rootfs.LoadState(dir)
	if err == nil {
		return state, nil
	}
	if !errors.Is(err, rootfs.ErrNoState) {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	for _, n := range names {
		// Our own state directory without a state file is what a run that
		// failed before its first write leaves (its lock).
		if n != rootfs.StateDirName && !force {
			return nil, fmt.Errorf("%s: %w", dir, ErrNotEmpty)
		}
	}
	return nil, nil
}

// makeDir creates dir if missing and says whether it did.
func makeDir(dir string) (bool, error) {
	if _, err := os.Lstat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0755); err != nil {
		return false, fmt.Errorf("create %s: %w", dir, err)
	}
	return true, nil
}

// newState records im, keeping which layers an earlier, interrupted run of
// the same image applied (only an unbroken prefix counts).
func newState(name string, im *registry.Image, old *rootfs.State) *rootfs.State {
	s := &rootfs.State{
		Status:       rootfs.StatusPulling,
		Image:        name,
		Reference:    im.Identity(),
		Digest:       im.Digest.String(),
		IndexDigest:  im.IndexDigest.String(),
		Platform:     im.Platform.String(),
		ConfigDigest: im.Manifest.Config.Digest.String(),
	}
	if old != nil {
		s.Created = old.Created
		s.Skipped = old.Skipped
	}
	prefix := true
	for i, l := range im.Manifest.Layers {
		li := rootfs.LayerInfo{Digest: l.Digest.String(), DiffID: diffID(im, i).String(), MediaType: l.MediaType, Size: l.Size}
		if prefix && old != nil && i < len(old.Layers) && old.Layers[i].Digest == li.Digest && old.Layers[i].DiffID == li.DiffID && old.Layers[i].Applied {
			li.Applied = true
		} else {
			prefix = false
		}
		s.Layers = append(s.Layers, li)
	}
	return s
}

// applyLayer streams layer i: blob (digest and size verified) →
// decompressor → diff_id hash → applier. Every byte is read, trailing
// bytes after the tar end included, before the digests are compared.
// begin is called once, before the applier reads its first byte (so
// before any entry reaches the tree); an error from it stops the layer.
//
// pre, if set, is the blob opened ahead; near, if set, is called once
// when the blob is within aheadWindow of its end (to open the next one).
func applyLayer(ctx context.Context, src Source, im *registry.Image, i int, dir string, begin func() error, progress func(Event), pre *lookahead, near func()) (rootfs.Stats, error) {
	desc := im.Manifest.Layers[i]
	diffID := diffID(im, i)
	if err := diffID.Validate(); err != nil && diffID != "" {
		return rootfs.Stats{}, fmt.Errorf("config diff_id %q: %w", diffID, err)
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var blob io.ReadCloser
	var err error
	if pre != nil {
		var stop context.CancelFunc
		blob, stop, err = pre.take()
		defer stop()
		cancel = func() { stop() } // aborts a read in progress
	} else {
		blob, err = src.Blob(bctx, desc)
	}
	if err != nil {
		return rootfs.Stats{}, err
	}
	ra := newReadAhead(blob) // the network and the blob's sha256 run beside the decoder
	defer func() {
		ra.Close(cancel)
		blob.Close()
	}()
	counted := &countingReader{r: ra, progress: progress, near: near, nearAt: desc.Size - aheadWindow,
		ev: Event{Kind: EventLayerBytes, Index: i + 1, Count: len(im.Manifest.Layers), Digest: layerName(im, i), Size: desc.Size}}
	// The decompressor may read on its own goroutine from here on: counted
	// is not touched again.
	dr, format, err := decompress.NewReader(desc.MediaType, counted)
	if err != nil {
		return rootfs.Stats{}, err
	}
	algo := digest.Canonical // with no diff_id, hashed for nothing: the blob's digest is the check
	if diffID != "" {
		algo = diffID.Algorithm()
	}
	verifier := newAsyncHasher(algo)
	defer verifier.Close()
	tee := io.TeeReader(dr, verifier)
	var tarStream io.Reader = tee
	var rewritten io.ReadCloser
	if rw, ok := src.(TarRewriter); ok {
		rewritten = rw.RewriteTar(i, tee)
		tarStream = rewritten
	}
	st, err := rootfs.Apply(ctx, dir, &firstRead{r: tarStream, begin: begin})
	if rewritten != nil {
		// Its Close waits until it reads tee no more.
		if cerr := rewritten.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		_, err = io.Copy(io.Discard, tee) // bytes after the tar end marker count too
		if err != nil {
			err = fmt.Errorf("%s: %w", format, err)
		}
	}
	dr.Close()
	if err != nil {
		// Corrupt data often shows first as a decompression or tar error;
		// the blob's own verification names the real cause.
		if verr := drainForVerify(ctx, ra); verr != nil {
			return st, verr
		}
		return st, err
	}
	if _, err := io.Copy(io.Discard, ra); err != nil {
		return st, err
	}
	if got := verifier.Digest(); diffID != "" && got != diffID {
		return st, &registry.VerifyError{What: "layer content (diff_id)", Expected: diffID, Actual: got}
	}
	return st, nil
}

// drainForVerify reads what is left of the blob (a bounded amount) to let
// its verifier judge it; it returns the verification error, if any.
func drainForVerify(ctx context.Context, blob io.Reader) error {
	if ctx.Err() != nil {
		return nil
	}
	_, err := io.Copy(io.Discard, io.LimitReader(blob, 256<<20))
	var ve *registry.VerifyError
	if errors.As(err, &ve) {
		return err
	}
	return nil
}

// countingReader reports compressed bytes read, at most every 250ms, and
// calls near once when nearAt bytes have been read.
type countingReader struct {
	r        io.Reader
	progress func(Event)
	ev       Event
	last     time.Time
	near     func()
	nearAt   int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.ev.Done += int64(n)
	if c.near != nil && c.ev.Done >= c.nearAt {
		c.near()
		c.near = nil
	}
	if c.progress != nil && (time.Since(c.last) > 250*time.Millisecond || err == io.EOF) {
		c.last = time.Now()
		c.progress(c.ev)
	}
	return n, err
}

// firstRead calls begin once, when the first bytes from r are in hand and
// before they are returned (so before any entry reaches the tree), and
// fails every Read from then on if begin failed.
type firstRead struct {
	r     io.Reader
	begin func() error
	err   error
}

func (f *firstRead) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.r.Read(p)
	if n > 0 && f.begin != nil {
		begin := f.begin
		f.begin = nil
		if f.err = begin(); f.err != nil {
			return 0, f.err
		}
	}
	return n, err
}

// diffID is layer i's diff_id from the config, or "" when the image has
// none (a rootfs tarball).
func diffID(im *registry.Image, i int) digest.Digest {
	if ids := im.Config.RootFS.DiffIDs; i < len(ids) {
		return ids[i]
	}
	return ""
}

// layerName is how progress and messages name layer i: its digest, else
// its diff_id.
func layerName(im *registry.Image, i int) digest.Digest {
	if d := im.Manifest.Layers[i].Digest; d != "" {
		return d
	}
	return diffID(im, i)
}

// checkVerifiable refuses, before anything is written, an image one of
// whose layers nothing would verify (neither a digest nor a diff_id),
// unless its source says it cannot be verified (and the output says so).
func checkVerifiable(im *registry.Image) error {
	if n := len(im.Config.RootFS.DiffIDs); n != 0 && n != len(im.Manifest.Layers) {
		return fmt.Errorf("%s: config lists %d layer diff_ids for %d layers: the image is malformed", im.DisplayName(), n, len(im.Manifest.Layers))
	}
	if im.Unverified {
		return nil
	}
	for i, l := range im.Manifest.Layers {
		if l.Digest == "" && diffID(im, i) == "" {
			return fmt.Errorf("%s: layer %d has neither a digest nor a diff_id to check it by: %w", im.DisplayName(), i+1, registry.ErrMalformed)
		}
	}
	return nil
}
