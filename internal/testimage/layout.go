package testimage

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// WriteOCILayout writes im as an OCI image layout in dir (oci-layout,
// index.json naming it as tag, blobs/sha256/…), as skopeo or umoci
// would, for tests that then break it on purpose.
func WriteOCILayout(dir string, im *Image, tag string) error {
	files := OCILayoutFiles(im, tag)
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0644); err != nil {
			return err
		}
	}
	return nil
}

// OCILayoutFiles are the files of im's OCI layout, by name.
func OCILayoutFiles(im *Image, tag string) map[string][]byte {
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	for d, b := range im.Blobs {
		files["blobs/sha256/"+d.Encoded()] = b
	}
	files["blobs/sha256/"+im.Desc.Digest.Encoded()] = im.Raw
	desc := im.Desc
	desc.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}})
	files["index.json"] = idx
	return files
}

// DockerArchiveFiles are the files of a docker save archive of im (its
// layers' tars are given, uncompressed, as layer.tar of one directory
// each), named repoTag.
func DockerArchiveFiles(im *Image, tars [][]byte, repoTag string) map[string][]byte {
	files := map[string][]byte{}
	cfg := im.Blobs[im.Manifest.Config.Digest]
	files[im.Manifest.Config.Digest.Encoded()+".json"] = cfg
	var layers []string
	for i, t := range tars {
		p := fmt.Sprintf("%064x/layer.tar", i+1)
		files[p] = t
		layers = append(layers, p)
	}
	m, _ := json.Marshal([]map[string]any{{"Config": im.Manifest.Config.Digest.Encoded() + ".json", "RepoTags": []string{repoTag}, "Layers": layers}})
	files["manifest.json"] = m
	return files
}

// TarFiles packs files (sorted by name, as given order is lost in a map)
// into a tar; extra entries (symlinks, duplicates) are appended.
func TarFiles(files map[string][]byte, extra ...Entry) []byte {
	var es []Entry
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		es = append(es, Entry{Name: n, Body: string(files[n]), Mode: 0644})
	}
	return Tar(append(es, extra...)...)
}

// Digest is the sha256 of b.
func Digest(b []byte) digest.Digest { return digest.FromBytes(b) }
