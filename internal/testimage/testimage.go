// Package testimage builds container images from real content in memory
// (tar layers, gzip/zstd/plain, OCI or Docker media types, multi-platform
// indexes) and pushes them to a registry with oras-go, a client
// independent of this project's own registry package.
package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Docker's media types.
const (
	DockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	DockerConfig       = "application/vnd.docker.container.image.v1+json"
	DockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Entry is one tar entry.
type Entry struct {
	Name, Body, Link string
	Type             byte // tar.TypeReg when zero
	Mode             int64
}

// File, Dir and Symlink are Entry shorthands.
func File(name, body string) Entry { return Entry{Name: name, Body: body, Mode: 0644} }
func Dir(name string) Entry        { return Entry{Name: name, Type: tar.TypeDir, Mode: 0755} }
func Symlink(name, to string) Entry {
	return Entry{Name: name, Link: to, Type: tar.TypeSymlink, Mode: 0777}
}
func Exec(name, body string) Entry { return Entry{Name: name, Body: body, Mode: 0755} }
func Hardlink(name, to string) Entry {
	return Entry{Name: name, Link: to, Type: tar.TypeLink, Mode: 0644}
}

// Tar writes entries as an uncompressed tar stream.
func Tar(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.Name, Linkname: e.Link, Typeflag: typ, Mode: e.Mode, ModTime: mtime, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err) // only for malformed test input
		}
		tw.Write([]byte(e.Body))
	}
	tw.Close()
	return buf.Bytes()
}

// Compression of a layer blob.
type Compression string

const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
	// Xz and Bzip2 are made by the xz and bzip2 commands (Debian's
	// xz-utils and bzip2), not by the Go decoders' own writers.
	Xz    Compression = "xz"
	Bzip2 Compression = "bzip2"
)

// Layer is a layer to build: its tar and how to compress it. Blob, when
// set, is used as the blob as is (to build broken layers on purpose).
type Layer struct {
	Tar         []byte
	Compression Compression
	Blob        []byte
	URLs        []string // foreign layer: not pushed, served from these
}

// Spec describes a single-platform image.
type Spec struct {
	Layers   []Layer
	Config   ocispec.ImageConfig
	Platform ocispec.Platform // linux/amd64 when empty
	Docker   bool             // Docker schema 2 media types instead of OCI
}

// Image is a built image: its blobs, config and manifest.
type Image struct {
	Blobs    map[digest.Digest][]byte
	Config   ocispec.Image
	Manifest ocispec.Manifest
	Raw      []byte // the manifest
	Desc     ocispec.Descriptor
	foreign  map[digest.Digest]bool
}

// Compress compresses a tar as c.
func Compress(tarball []byte, c Compression) []byte {
	var buf bytes.Buffer
	switch c {
	case Gzip, "":
		zw := gzip.NewWriter(&buf)
		zw.Write(tarball)
		zw.Close()
	case Zstd:
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(tarball)
		zw.Close()
	case Xz, Bzip2:
		cmd := exec.Command(string(c), "-c")
		cmd.Stdin, cmd.Stdout = bytes.NewReader(tarball), &buf
		if err := cmd.Run(); err != nil {
			panic(fmt.Sprintf("%s -c: %v (install xz-utils and bzip2)", c, err)) // only for tests
		}
	default:
		buf.Write(tarball)
	}
	return buf.Bytes()
}

func layerMediaType(c Compression, docker, foreign bool) string {
	switch {
	case docker && foreign:
		return "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	case docker:
		return DockerLayerGzip
	case c == Zstd:
		return ocispec.MediaTypeImageLayerZstd
	case c == None:
		return ocispec.MediaTypeImageLayer
	}
	return ocispec.MediaTypeImageLayerGzip
}

// Build builds an image from s.
func Build(s Spec) *Image {
	im := &Image{Blobs: map[digest.Digest][]byte{}, foreign: map[digest.Digest]bool{}}
	plat := s.Platform
	if plat.OS == "" {
		plat = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	}
	im.Config = ocispec.Image{
		Created:  ptr(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)),
		Platform: plat,
		Config:   s.Config,
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	for _, l := range s.Layers {
		blob := l.Blob
		if blob == nil {
			blob = Compress(l.Tar, l.Compression)
		}
		d := digest.FromBytes(blob)
		im.Blobs[d] = blob
		im.Config.RootFS.DiffIDs = append(im.Config.RootFS.DiffIDs, digest.FromBytes(l.Tar))
		desc := ocispec.Descriptor{MediaType: layerMediaType(l.Compression, s.Docker, len(l.URLs) > 0), Digest: d, Size: int64(len(blob)), URLs: l.URLs}
		if len(l.URLs) > 0 && !s.Docker {
			desc.MediaType = ocispec.MediaTypeImageLayerNonDistributableGzip //nolint:staticcheck // foreign layers are what this tests
			im.foreign[d] = true
		} else if len(l.URLs) > 0 {
			im.foreign[d] = true
		}
		im.Manifest.Layers = append(im.Manifest.Layers, desc)
	}
	cfg, _ := json.Marshal(im.Config)
	cd := digest.FromBytes(cfg)
	im.Blobs[cd] = cfg
	im.Manifest.Versioned = specs.Versioned{SchemaVersion: 2}
	im.Manifest.MediaType = ocispec.MediaTypeImageManifest
	im.Manifest.Config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))}
	if s.Docker {
		im.Manifest.MediaType = DockerManifest
		im.Manifest.Config.MediaType = DockerConfig
	}
	im.Raw, _ = json.Marshal(im.Manifest)
	im.Desc = ocispec.Descriptor{MediaType: im.Manifest.MediaType, Digest: digest.FromBytes(im.Raw), Size: int64(len(im.Raw)), Platform: &plat}
	return im
}

func ptr[T any](v T) *T { return &v }

// Pusher pushes to one registry host with oras-go.
type Pusher struct {
	Host     string
	Username string
	Password string
}

func (p Pusher) repo(name string) (*remote.Repository, error) {
	r, err := remote.NewRepository(p.Host + "/" + name)
	if err != nil {
		return nil, err
	}
	r.PlainHTTP = true
	// The token server is on loopback too: allow it as a realm.
	client := &auth.Client{Cache: auth.NewCache(), BlockedRealmPrefixes: []netip.Prefix{}}
	if p.Username != "" {
		client.Credential = auth.StaticCredential(p.Host, auth.Credential{Username: p.Username, Password: p.Password})
	}
	r.Client = client
	return r, nil
}

// Push pushes im's blobs (foreign layers excepted) and manifest as name:tag.
func (p Pusher) Push(ctx context.Context, name, tag string, im *Image) error {
	r, err := p.repo(name)
	if err != nil {
		return err
	}
	for _, desc := range append([]ocispec.Descriptor{im.Manifest.Config}, im.Manifest.Layers...) {
		if im.foreign[desc.Digest] {
			continue
		}
		if err := r.Blobs().Push(ctx, ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, bytes.NewReader(im.Blobs[desc.Digest])); err != nil && !isExists(err) {
			return fmt.Errorf("push blob %s: %w", desc.Digest, err)
		}
	}
	if tag == "" {
		tag = im.Desc.Digest.String()
	}
	return r.PushReference(ctx, ocispec.Descriptor{MediaType: im.Desc.MediaType, Digest: im.Desc.Digest, Size: im.Desc.Size}, bytes.NewReader(im.Raw), tag)
}

// PushIndex pushes the images and an index (a Docker manifest list when
// docker) naming them by platform, as name:tag; it returns the index's
// descriptor.
func (p Pusher) PushIndex(ctx context.Context, name, tag string, docker bool, images ...*Image) (ocispec.Descriptor, error) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	if docker {
		idx.MediaType = DockerManifestList
	}
	for _, im := range images {
		if err := p.Push(ctx, name, "", im); err != nil {
			return ocispec.Descriptor{}, err
		}
		idx.Manifests = append(idx.Manifests, im.Desc)
	}
	raw, _ := json.Marshal(idx)
	desc := ocispec.Descriptor{MediaType: idx.MediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	r, err := p.repo(name)
	if err != nil {
		return desc, err
	}
	return desc, r.PushReference(ctx, desc, bytes.NewReader(raw), tag)
}

// PushRaw pushes an arbitrary manifest document as name:tag.
func (p Pusher) PushRaw(ctx context.Context, name, tag, mediaType string, raw []byte) error {
	r, err := p.repo(name)
	if err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	return r.PushReference(ctx, desc, bytes.NewReader(raw), tag)
}

func isExists(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("already exists"))
}

// Busybox builds a layer from a static busybox binary (Debian's
// busybox-static installs it as /bin/busybox) with the applets a test or
// demo needs as symlinks, and an /etc/passwd with a non-root user.
func Busybox(path string) ([]byte, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w (install Debian's busybox-static)", err)
	}
	entries := []Entry{Dir("bin/"), Exec("bin/busybox", string(bin)), Dir("etc/"), Dir("tmp/"), Dir("home/"), Dir("home/user/"), Dir("root/"),
		File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"),
		File("etc/group", "root:x:0:\nuser:x:1000:\n"),
		File("etc/os-release", "NAME=\"rootfs-pull demo\"\nID=demo\n")}
	for _, applet := range []string{"sh", "ls", "cat", "echo", "env", "id", "pwd", "printf", "uname", "mount", "hostname", "true", "false", "wc", "sleep", "test", "["} {
		entries = append(entries, Symlink("bin/"+applet, "busybox"))
	}
	return Tar(entries...), nil
}

// BusyboxImage is a runnable image: the host's static busybox at path
// (with a passwd, a group and its applets), then, if given, a second layer
// of extra entries; cfg is its config.
func BusyboxImage(path string, cfg ocispec.ImageConfig, extra ...Entry) (*Image, error) {
	bb, err := Busybox(path)
	if err != nil {
		return nil, err
	}
	layers := []Layer{{Tar: bb, Compression: Gzip}}
	if len(extra) > 0 {
		layers = append(layers, Layer{Tar: Tar(extra...), Compression: Gzip})
	}
	return Build(Spec{Config: cfg, Layers: layers}), nil
}
