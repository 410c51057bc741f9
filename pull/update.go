package pull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// update pulls im beside o.Dir and swaps it in once complete, so a failed
// or interrupted update leaves the old rootfs as it was; running the same
// command again resumes the new one where it stopped.
func update(ctx context.Context, src Source, o Options, im *registry.Image, start time.Time) (*Result, error) {
	dir := filepath.Clean(o.Dir)
	if err := rootfs.CheckNoMounts(dir); err != nil {
		return nil, err // swapping and removing it would reach through them
	}
	staging := siblingName(dir, "update")
	old := siblingName(dir, "old")
	for _, p := range []string{staging, old} {
		if _, err := checkSibling(p); err != nil {
			return nil, err
		}
	}
	if st, err := rootfs.LoadState(staging); err == nil && (st.Digest != im.Digest.String() || im.Digest == "") {
		// A newer tag moved again since an earlier interrupted update.
		if err := rootfs.RemoveTree(staging); err != nil {
			return nil, fmt.Errorf("clear the unfinished update in %s: %w", staging, err)
		}
	}
	so := o
	so.Dir, so.Launcher, so.Update, so.Force = staging, "-", false, false
	res, err := pullResolved(ctx, src, so, im, start)
	if err != nil {
		return nil, &UpdateFailedError{Dir: o.Dir, Err: err}
	}
	// One atomic exchange where the filesystem has it: at every moment
	// dir is a complete rootfs, the old or the new.
	if err := unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err == nil {
		rootfs.RemoveTree(staging) // now the old one; a leftover is only disk space
	} else {
		if err := rootfs.RemoveTree(old); err != nil {
			return nil, fmt.Errorf("remove %s: %w", old, err)
		}
		if err := os.Rename(dir, old); err != nil {
			return nil, fmt.Errorf("update of %s (left as it was): %w", dir, err)
		}
		if err := os.Rename(staging, dir); err != nil {
			if rerr := os.Rename(old, dir); rerr != nil {
				return nil, fmt.Errorf("update of %s: %w; the old rootfs is in %s", dir, err, old)
			}
			return nil, fmt.Errorf("update of %s (left as it was): %w", dir, err)
		}
		rootfs.RemoveTree(old)
	}
	res.Dir = o.Dir
	res.Resumed = 0
	state, err := rootfs.LoadState(dir)
	if err != nil {
		return nil, err
	}
	if err := writeLauncher(res, im, o, state); err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// recoverSwap finishes an update cut between its two renames (on a
// filesystem without RENAME_EXCHANGE): dir is missing, the old rootfs is
// beside it. A complete new one is moved in; otherwise the old one goes
// back. Either way dir is a whole rootfs again.
func recoverSwap(dir string) error {
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	old, staging := siblingName(dir, "old"), siblingName(dir, "update")
	if ok, err := checkSibling(old); !ok || err != nil {
		return err // no update was under way, or old is not ours
	}
	if _, err := checkSibling(staging); err != nil {
		return err
	}
	if _, err := rootfs.LoadState(old); err != nil {
		return nil // no update was under way
	}
	if st, err := rootfs.LoadState(staging); err == nil && st.Status == rootfs.StatusReady {
		if err := os.Rename(staging, dir); err != nil {
			return fmt.Errorf("finish the interrupted update of %s: %w", dir, err)
		}
		return rootfs.RemoveTree(old)
	}
	if err := os.Rename(old, dir); err != nil {
		return fmt.Errorf("restore %s from %s: %w", dir, old, err)
	}
	return nil
}

// UpdateFailedError: an update stopped before the swap; the rootfs in Dir
// is as it was, and running the same command again resumes the update.
type UpdateFailedError struct {
	Dir string
	Err error
}

func (e *UpdateFailedError) Error() string {
	return fmt.Sprintf("update of %s (left as it was): %v", e.Dir, e.Err)
}

func (e *UpdateFailedError) Unwrap() error { return e.Err }

// siblingName is a hidden directory beside dir for its work.
func siblingName(dir, what string) string {
	return filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".rootfs-pull-"+what)
}

// SiblingError: a name rootfs-pull uses beside a rootfs for an update is
// taken by something it did not make there (a symlink, a file, a foreign
// directory). Following or removing it could reach anywhere.
type SiblingError struct{ Path string }

func (e *SiblingError) Error() string {
	return fmt.Sprintf("%s is in the way: it is not a directory rootfs-pull made (move it away)", e.Path)
}

// checkSibling says whether the work directory p exists; an error if it
// exists and is not a real directory (never a symlink) holding
// rootfs-pull's own state directory.
func checkSibling(p string) (bool, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return true, &SiblingError{Path: p}
	}
	if sd, err := os.Lstat(filepath.Join(p, rootfs.StateDirName)); err != nil || !sd.IsDir() {
		return true, &SiblingError{Path: p}
	}
	return true, nil
}

// WorkSiblings lists the work directories of an unfinished update beside
// dir that rootfs-pull made (see checkSibling), for rm to remove with it;
// anything else under those names is left alone.
func WorkSiblings(dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, what := range []string{"update", "old"} {
		p := siblingName(dir, what)
		if ok, err := checkSibling(p); ok && err == nil {
			out = append(out, p)
		}
	}
	return out
}
