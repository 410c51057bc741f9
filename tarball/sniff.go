package tarball

import (
	"archive/tar"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/rootfs-pull/rootfs-pull/decompress"
	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// NotTarballError: a file is not a tarball of a kind this tool reads.
type NotTarballError struct {
	Path string
	Err  error // what reading it as a tar said
}

func (e *NotTarballError) Error() string {
	return fmt.Sprintf("%s is not a rootfs tarball (tar, gzip, xz, zstd or bzip2), a docker save archive or an OCI layout: %v", safetext.Cut(e.Path, 120), e.Err)
}

func (e *NotTarballError) Unwrap() error { return e.Err }

// ImageArchiveError: a file given as a rootfs tarball is an image
// archive, which must be named by its kind.
type ImageArchiveError struct {
	Path string
	Kind string // "docker-archive" or "oci-archive"
}

func (e *ImageArchiveError) Error() string {
	return fmt.Sprintf("%s is an image archive, not a rootfs tarball: pull it as %s:%s", safetext.Cut(e.Path, 120), e.Kind, safetext.Cut(e.Path, 120))
}

// hexNameRE is a name docker save and skopeo give their files and
// directories: a 64-digit hex id, maybe with .tar or .json.
var hexNameRE = regexp.MustCompile(`^[a-f0-9]{64}(\.tar|\.json)?(/|$)`)

// sniffFile checks that p is a regular file holding a tar stream (maybe
// compressed), and not an image archive, from its first entries, and
// returns its size.
func sniffFile(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, &NotTarballError{Path: p, Err: fmt.Errorf("not a regular file")}
	}
	dr, _, err := decompress.NewReader("application/vnd.oci.image.layer.v1.tar", f)
	if err != nil {
		return 0, &NotTarballError{Path: p, Err: err}
	}
	defer dr.Close()
	tr := tar.NewReader(dr)
	for i := range 16 {
		h, err := tr.Next()
		if err != nil {
			if i > 0 {
				break // a short tarball, or one damaged later: the pull says
			}
			return 0, &NotTarballError{Path: p, Err: err}
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "oci-layout" || name == "index.json" || strings.HasPrefix(name, "blobs/sha256/"):
			if name == "index.json" || name == "oci-layout" {
				return 0, &ImageArchiveError{Path: p, Kind: "oci-archive"}
			}
		case name == "manifest.json" || name == "repositories" || hexNameRE.MatchString(name):
			return 0, &ImageArchiveError{Path: p, Kind: "docker-archive"}
		}
	}
	return fi.Size(), nil
}
