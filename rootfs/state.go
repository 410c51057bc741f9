package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
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

// LoadState reads dir's state; ErrNoState when it has none.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(StatePath(dir))
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

// WriteStateFile atomically writes name into dir's state directory.
func WriteStateFile(dir, name string, data []byte) error {
	sd := filepath.Join(dir, StateDirName)
	if err := os.MkdirAll(sd, 0755); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	tmp, err := os.CreateTemp(sd, "."+name+".*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(sd, name)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	// The rename itself must be on disk before anything the state speaks
	// of is written (a layer's first entry after "applying").
	d, err := os.Open(sd)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// Lock takes dir's lock so two pulls never work on one rootfs at once.
// Release it with the returned func.
func Lock(dir string) (func(), error) {
	sd := filepath.Join(dir, StateDirName)
	if err := os.MkdirAll(sd, 0755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(sd, "lock"), os.O_CREATE|os.O_RDWR, 0644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
