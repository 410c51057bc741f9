package pull

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// Source is where an image's manifest, config and blobs come from: a
// registry, a docker save archive, an OCI layout, a rootfs tarball, an
// LXC image server. Whatever it is, the pull goes through the same
// verified, streaming applier, the same state, resume and update rules and
// the same launcher. It is the smallest part of go-containerregistry's
// v1.Image (Manifest, ConfigFile, Layers) and containerd's
// content.Provider (a reader for a descriptor) this pipeline needs.
type Source interface {
	// Resolve finds the image for want and returns it checked: its
	// manifest (one made up for a source that has none), its config, and
	// the layer descriptors. Each layer has a digest (the blob's, which
	// Blob checks) or a diff_id in the config (the tar stream's, which the
	// pull checks), or both; only an image marked Unverified has neither.
	Resolve(ctx context.Context, want registry.Platform) (*registry.Image, error)
	// Blob opens a blob the resolved manifest names. When desc has a
	// digest, reading to the end verifies every byte: the last Read
	// returns an error wrapping a *registry.VerifyError instead of io.EOF
	// when the size or digest is wrong.
	Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// TarRewriter is a Source whose layer tar streams are rewritten between
// the decompressor and the applier (a rootfs tarball's single top-level
// directory is stripped). The diff_id, if any, is of the stream before.
type TarRewriter interface {
	RewriteTar(layer int, tar io.Reader) io.ReadCloser
}

// Restorer is a Source that restores a whole rootfs (an export archive):
// its tree is prepared for this machine as any pull's is, and once every
// entry is applied, RestoreState puts
// back what of the rootfs's own record it can vouch for (the image's
// name, what its pull skipped) before the state is marked ready. The
// digest and layers stay those of the bytes applied.
type Restorer interface {
	RestoreState(s *rootfs.State)
}

// cachingSource is a Source with a blob cache, which later layers can be
// downloaded into while one is applied (see prefetcher).
type cachingSource interface {
	HasCache() bool
	Cached(desc ocispec.Descriptor) bool
}

// Registry is the Source for ref in a registry, through c (its mirrors,
// credentials, retries, resume and blob cache).
func Registry(c *registry.Client, ref registry.Reference) Source {
	return registrySource{c: c, ref: ref}
}

type registrySource struct {
	c   *registry.Client
	ref registry.Reference
}

func (s registrySource) Resolve(ctx context.Context, want registry.Platform) (*registry.Image, error) {
	return s.c.Resolve(ctx, s.ref, want)
}

func (s registrySource) Blob(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return s.c.Blob(ctx, s.ref, desc)
}

func (s registrySource) HasCache() bool                      { return s.c.HasCache() }
func (s registrySource) Cached(desc ocispec.Descriptor) bool { return s.c.Cached(desc) }
