package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Status of a rootfs: only StatusReady means every layer was applied and
// verified.
const (
	StatusPulling = "pulling"
	StatusReady   = "ready"
)

// ErrNoState is returned by LoadState for a directory this tool did not make.
var ErrNoState = errors.New("not a rootfs made by rootfs-pull")

// ErrLocked is returned by Lock when another process holds the rootfs.
var ErrLocked = errors.New("another rootfs-pull is working on this directory")

// State is what a rootfs holds, kept in DIR/.rootfs-pull/state.json.
type State struct {
	Version      int         `json:"version"`
	Status       string      `json:"status"`
	Image        string      `json:"image"`                  // as the user named it
	Reference    string      `json:"reference"`              // normalised
	Digest       string      `json:"digest"`                 // image manifest
	IndexDigest  string      `json:"index_digest,omitempty"` // index it was chosen from
	Platform     string      `json:"platform"`
	ConfigDigest string      `json:"config_digest"`
	Layers       []LayerInfo `json:"layers"`
	Skipped      Stats       `json:"stats"`
	// Tainted: a layer's stream failed verification after some of it was
	// applied. Its entries (and whiteouts) cannot be undone one by one, so
	// the next run empties the tree and applies every layer again.
	Tainted bool `json:"tainted,omitempty"`
	// Applying is the digest of the layer whose entries are being applied:
	// it is made durable before the layer's first entry and cleared only
	// once the layer is applied, verified and synced. A run that finds it
	// set stopped in the middle of a layer (a cut, a stall, Ctrl-C, kill,
	// a power cut) with bytes applied that no digest ever confirmed, so the
	// tree is treated as tainted.
	Applying string    `json:"applying,omitempty"`
	Launcher string    `json:"launcher,omitempty"` // the start script, absolute
	Runtime  string    `json:"runtime,omitempty"`  // its default runtime
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// NeedsRebuild says the tree holds bytes that were never verified (a
// layer that failed verification, or one cut in the middle): it must be
// emptied and every layer applied again before it can be ready.
func (s *State) NeedsRebuild() bool { return s.Tainted || s.Applying != "" }

// LayerInfo records one layer and whether it is fully applied.
type LayerInfo struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diff_id"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	Applied   bool   `json:"applied"`
}

const stateVersion = 1

// StatePath is where dir's state file lives.
func StatePath(dir string) string { return filepath.Join(dir, StateDirName, "state.json") }

// ConfigPath is where dir keeps its image config.
func ConfigPath(dir string) string { return filepath.Join(dir, StateDirName, "config.json") }

// ErrStateDir: DIR/.rootfs-pull is not a real directory (a symlink, a
// file): this tool's state is never read or written through it.
var ErrStateDir = errors.New("is not a real directory (a symlink?): refusing to use it as rootfs-pull's state directory")

// maxStateFile bounds a state file read back (state.json, an image
// config): a planted huge file is refused, not read into memory.
const maxStateFile = 16 << 20

// openStateDir opens dir's state directory, which must be a real
// directory: dir itself is the user's path, but StateDirName in it is
// opened without following a symlink (a process running in the rootfs
// could plant one between runs). With create, a missing one is made.
func openStateDir(dir string, create bool) (int, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dfd, StateDirName, flags, 0)
	if err == unix.ENOENT && create {
		if err = unix.Mkdirat(dfd, StateDirName, 0755); err == nil || err == unix.EEXIST {
			fd, err = unix.Openat(dfd, StateDirName, flags, 0)
		}
	}
	switch err {
	case nil:
		return fd, nil
	case unix.ELOOP, unix.ENOTDIR:
		return -1, fmt.Errorf("%s: %w", shortName(filepath.Join(dir, StateDirName)), ErrStateDir)
	default:
		return -1, &os.PathError{Op: "open", Path: filepath.Join(dir, StateDirName), Err: err}
	}
}

// ReadStateFile reads name from dir's state directory: a regular file,
// opened without following a symlink or blocking on a FIFO, at most
// 16 MiB.
func ReadStateFile(dir, name string) ([]byte, error) {
	sfd, err := openStateDir(dir, false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(sfd)
	p := filepath.Join(dir, StateDirName, name)
	fd, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return nil, fmt.Errorf("%s is a symlink: refusing to read it", shortName(p))
		}
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: refusing to read it", shortName(p))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateFile {
		return nil, fmt.Errorf("%s is larger than %d MiB: refusing to read it", shortName(p), maxStateFile>>20)
	}
	return b, nil
}

// LoadState reads dir's state; ErrNoState when it has none.
func LoadState(dir string) (*State, error) {
	b, err := ReadStateFile(dir, "state.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state %s is damaged: %w", StatePath(dir), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("state %s has version %d; this rootfs-pull reads version %d", StatePath(dir), s.Version, stateVersion)
	}
	return &s, nil
}

// Save writes s to dir atomically (temp file, fsync, rename).
func (s *State) Save(dir string) error {
	s.Version = stateVersion
	s.Updated = time.Now().UTC()
	if s.Created.IsZero() {
		s.Created = s.Updated
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteStateFile(dir, "state.json", b)
}

// WriteStateFile atomically writes name into dir's state directory (a
// temp file made O_EXCL|O_NOFOLLOW in it, fsync, renameat), never through
// a symlink.
func WriteStateFile(dir, name string, data []byte) error {
	if err := writeStateFile(dir, name, data); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func writeStateFile(dir, name string, data []byte) error {
	sfd, err := openStateDir(dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	var fd int
	var tmp string
	for i := 0; ; i++ {
		tmp = fmt.Sprintf(".%s.%d.%d", name, os.Getpid(), i)
		fd, err = unix.Openat(sfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0644)
		if err != unix.EEXIST || i == 100 {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: filepath.Join(dir, StateDirName, tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	done := false
	defer func() {
		f.Close()
		if !done {
			unix.Unlinkat(sfd, tmp, 0)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, 0644); err != nil { // whatever the umask
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := unix.Renameat(sfd, tmp, sfd, name); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: filepath.Join(dir, StateDirName, name), Err: err}
	}
	done = true
	// The rename itself must be on disk before anything the state speaks
	// of is written (a layer's first entry after "applying").
	return unix.Fsync(sfd)
}

// Lock takes dir's lock so two pulls never work on one rootfs at once.
// Release it with the returned func. The lock file is a regular file in
// the real state directory, opened without following a symlink.
func Lock(dir string) (func(), error) {
	sfd, err := openStateDir(dir, true)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unix.Close(sfd)
	fd, err := unix.Openat(sfd, "lock", unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), "lock")
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock %s: %s is not a regular file", dir, filepath.Join(StateDirName, "lock"))
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
