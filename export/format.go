// Package export writes a rootfs, with its own state and its launcher's
// defaults file, to one archive (rootfs-pull export DIR FILE.tar[.gz|.xz|.zst]),
// and reads such an archive back as a pull.Source (rootfs-pull FILE DIR2),
// through the same applier, state, resume and launcher rules as any pull.
//
// The archive is a tar stream, compressed by the file name's extension:
//
//	.rootfs-pull-export.json          the marker, always the first entry: format, version, image
//	.rootfs-pull-export/state.json    the rootfs's DIR/.rootfs-pull/state.json, as it was
//	.rootfs-pull-export/config.json   its image config
//	.rootfs-pull-export/defaults      the launcher's start-NAME.defaults, when there is one
//	rootfs/…                          the tree: every entry, owners, modes, times, xattrs, devices, hard links
//	.rootfs-pull-export/end.json      the trailer, always the last entry: how many tree entries and bytes
//
// A restore takes nothing from the archive on trust: the tree goes through
// rootfs.Apply (every name resolved inside the root), the meta entries are
// bounded and parsed, and a stream without its trailer (a truncated file)
// or with anything after it fails, so the rootfs is never marked ready.
package export

import (
	"time"

	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// Entry names of the archive.
const (
	MarkerName  = ".rootfs-pull-export.json"
	metaDir     = ".rootfs-pull-export/"
	stateName   = metaDir + "state.json"
	configName  = metaDir + "config.json"
	defaultName = metaDir + "defaults"
	endName     = metaDir + "end.json"
	treePrefix  = "rootfs/"
)

// FormatName and FormatVersion identify the archive's format in its marker.
const (
	FormatName    = "rootfs-pull-export"
	FormatVersion = 1
)

// Marker is the archive's first entry: what it holds, readable before
// anything else (a restore tells an export from a rootfs tarball by it).
type Marker struct {
	Format    string `json:"format"`  // FormatName
	Version   int    `json:"version"` // FormatVersion
	Image     string `json:"image"`   // as the user named it
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	Platform  string `json:"platform"`
	// Skipped is what the pull recorded it could not apply (without root:
	// ownership, device nodes); OwnersMappedToRoot says the tree's owner
	// (the non-root user who pulled it) was written as 0:0, as proot's
	// fake root shows it, so a restore as root gives root-owned files.
	Skipped            rootfs.Stats `json:"skipped"`
	OwnersMappedToRoot bool         `json:"owners_mapped_to_root,omitempty"`
	Exported           time.Time    `json:"exported"`
	ExportedAsRoot     bool         `json:"exported_as_root"`
}

// Trailer is the archive's last entry: a restore checks the tree it saw
// against it, so a truncated archive is never a whole rootfs.
type Trailer struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// maxMeta bounds each meta entry read back (state, config, marker,
// trailer); the defaults file is at most 64 KiB.
const (
	maxMeta     = 16 << 20
	maxDefaults = 64 << 10
)

// maxName bounds the image name and reference a restore takes from the
// archive's state (printed by the pull, ls and the launcher's comments).
const maxName = 4096
