package registry

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParseDocuments feeds arbitrary bytes to the manifest and index
// parsers and what follows them (platform selection, short digests,
// media-type sniffing): nothing may panic, and a document accepted has
// only valid descriptors.
func FuzzParseDocuments(f *testing.F) {
	d := digest.FromString("x")
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d.String() + `","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + d.String() + `","size":10}]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `","size":10,"platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}`,
		`{"config":{"digest":"sha256:abc","size":1},"layers":[{"digest":"abc","size":-1}]}`,
		`{"manifests":[{"digest":"abc","size":1,"platform":{"os":"linux","architecture":"amd64"}}]}`,
		`{"manifests":[{"digest":"sha256:","size":1}]}`,
		`{"layers":[{"digest":"sha512:` + d.Encoded() + `","urls":["file:///x","http://"]}]}`,
		`{"schemaVersion":1,"fsLayers":[]}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		manifestMediaType("application/json", raw)
		if m, err := ParseManifest(raw); err == nil {
			if len(m.Layers) > MaxLayers {
				t.Fatalf("accepted %d layers", len(m.Layers))
			}
			valid(t, m.Config)
			for _, l := range m.Layers {
				valid(t, l)
			}
			im := Image{Manifest: m}
			if im.Size() < 0 {
				t.Fatalf("total size %d", im.Size())
			}
		}
		if idx, err := ParseIndex(raw); err == nil {
			if len(idx.Manifests) > MaxIndexEntries {
				t.Fatalf("accepted %d entries", len(idx.Manifests))
			}
			for _, m := range idx.Manifests {
				valid(t, m)
			}
			for _, p := range []Platform{{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "amd64"}} {
				if chosen, _, ok := SelectManifest(idx.Manifests, p); ok {
					valid(t, chosen)
				}
			}
		}
	})
}

func valid(t *testing.T, d ocispec.Descriptor) {
	t.Helper()
	if err := d.Digest.Validate(); err != nil {
		t.Fatalf("accepted digest %q: %v", d.Digest, err)
	}
	if d.Size < 0 || d.Size > MaxBlobSize {
		t.Fatalf("accepted size %d", d.Size)
	}
	_ = d.Digest.Algorithm().Hash()
	if len(ShortDigest(d.Digest)) != 12 {
		t.Fatalf("ShortDigest(%q) = %q", d.Digest, ShortDigest(d.Digest))
	}
}
