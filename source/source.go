// Package source tells which kind of source an IMAGE argument names,
// without ambiguity and before anything is read:
//
//   - docker-archive:FILE[:REPO:TAG]  a docker save archive (skopeo's syntax)
//   - oci:DIR[:TAG|@DIGEST]           an OCI image layout directory
//   - oci-archive:FILE[:TAG|@DIGEST]  an OCI image layout in a tar
//   - lxc:DISTRO/RELEASE[/VARIANT]    an image from an LXC image server
//   - https://… (http:// on loopback) a rootfs tarball to download
//   - /…, ./…, ../… (or . and ..)     a rootfs tarball on disk, or an export
//     archive to restore when its first entry is .rootfs-pull-export.json
//     (package export; told apart when the file is opened)
//   - anything else                   an image name in a registry
//
// As in skopeo, the path after a prefix ends at its first ':'. A bare
// name is always an image name, even when a file of that name exists
// (the command line says to write ./NAME then).
package source

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Kind is what an argument names.
type Kind string

// Kinds of sources.
const (
	Registry      Kind = "registry"
	DockerArchive Kind = "docker-archive"
	OCI           Kind = "oci"
	OCIArchive    Kind = "oci-archive"
	LXC           Kind = "lxc"
	File          Kind = "file" // a rootfs tarball on disk
	URL           Kind = "url"  // a rootfs tarball to download
)

// Spec is a parsed argument.
type Spec struct {
	Kind   Kind
	Path   string        // file, directory or URL; the image name for Registry; DISTRO/RELEASE[/VARIANT] for LXC
	Ref    string        // docker-archive's REPO:TAG, oci's TAG
	Digest digest.Digest // oci's @DIGEST
}

// Parse tells what arg names.
func Parse(arg string) (Spec, error) {
	kind, rest, ok := strings.Cut(arg, ":")
	if ok {
		switch Kind(kind) {
		case DockerArchive:
			path, ref, _ := strings.Cut(rest, ":")
			if path == "" {
				return Spec{}, fmt.Errorf("%q: want docker-archive:FILE[:REPO:TAG]", safetext.Cut(arg, 120))
			}
			return Spec{Kind: DockerArchive, Path: path, Ref: ref}, nil
		case OCI, OCIArchive:
			s := Spec{Kind: Kind(kind)}
			if i := strings.LastIndex(rest, "@"); i >= 0 && digest.Digest(rest[i+1:]).Validate() == nil {
				s.Path, s.Digest = rest[:i], digest.Digest(rest[i+1:])
			} else {
				s.Path, s.Ref, _ = strings.Cut(rest, ":")
			}
			if s.Path == "" {
				return Spec{}, fmt.Errorf("%q: want %s:PATH[:TAG|@DIGEST]", safetext.Cut(arg, 120), kind)
			}
			return s, nil
		case LXC:
			parts := strings.Split(rest, "/")
			if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
				return Spec{}, fmt.Errorf("%q: want lxc:DISTRO/RELEASE[/VARIANT], e.g. lxc:debian/bookworm (rootfs-pull search lxc: lists them)", safetext.Cut(arg, 120))
			}
			return Spec{Kind: LXC, Path: rest}, nil
		case "http", "https":
			// Only a URL with a host is one: "https:x.tar" is neither a
			// URL nor (without ./) a file.
			if u, err := url.Parse(arg); err != nil || !strings.HasPrefix(rest, "//") || u.Host == "" {
				return Spec{}, fmt.Errorf("%q: want https://HOST/PATH (or ./FILE for a file)", safetext.Cut(arg, 120))
			}
			return Spec{Kind: URL, Path: arg}, nil
		}
	}
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../") || arg == "." || arg == ".." {
		return Spec{Kind: File, Path: arg}, nil
	}
	return Spec{Kind: Registry, Path: arg}, nil
}
