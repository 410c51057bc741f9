package archive_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/archive"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

var amd64 = registry.Platform{OS: "linux", Architecture: "amd64"}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func layerTars() [][]byte {
	return [][]byte{
		testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/a", "a"), testimage.File("etc/gone", "x")),
		testimage.Tar(testimage.File("etc/.wh.gone", ""), testimage.File("etc/b", "b")),
	}
}

func image(docker bool) *testimage.Image {
	var ls []testimage.Layer
	for _, t := range layerTars() {
		ls = append(ls, testimage.Layer{Tar: t, Compression: testimage.Gzip})
	}
	return testimage.Build(testimage.Spec{Layers: ls, Docker: docker})
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0644); err != nil {
		t.Fatal(err)
	}
}

// pullFrom pulls src into a fresh directory and returns the error and
// the directory; a failed pull must leave nothing marked ready.
func pullFrom(t *testing.T, src pull.Source, err error) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err != nil {
		return dir, err
	}
	_, err = pull.PullFrom(ctx(t), src, pull.Options{Image: "archive", Dir: dir, Launcher: "-", Platform: amd64})
	if err != nil {
		if st, serr := rootfs.LoadState(dir); serr == nil && st.Status == rootfs.StatusReady {
			t.Errorf("a failed pull left %s ready", dir)
		}
	}
	return dir, err
}

func TestDockerArchiveHostile(t *testing.T) {
	im := image(false)
	base := func() map[string][]byte { return testimage.DockerArchiveFiles(im, layerTars(), "demo/app:1") }
	setLayers := func(files map[string][]byte, layers ...string) {
		var m []map[string]any
		json.Unmarshal(files["manifest.json"], &m)
		m[0]["Layers"] = layers
		files["manifest.json"], _ = json.Marshal(m)
	}
	cfgName := im.Manifest.Config.Digest.Encoded() + ".json"
	l1 := strings.Repeat("0", 63) + "1/layer.tar"
	tests := []struct {
		name  string
		build func() []byte
		ref   string
		want  string // in the error; "" for success
	}{
		{"honest", func() []byte { return testimage.TarFiles(base()) }, "", ""},
		{"honest, named", func() []byte { return testimage.TarFiles(base()) }, "docker.io/demo/app:1", ""},
		{"layer path climbs out", func() []byte {
			f := base()
			setLayers(f, "../../outside/layer.tar", l1)
			return testimage.TarFiles(f)
		}, "", "outside the archive"},
		{"layer path absolute", func() []byte {
			f := base()
			setLayers(f, "/etc/passwd", l1)
			return testimage.TarFiles(f)
		}, "", "outside the archive"},
		{"layer is a symlink out", func() []byte {
			f := base()
			delete(f, l1)
			return testimage.TarFiles(f, testimage.Symlink(l1, "../../../etc/passwd"))
		}, "", "outside the archive"},
		{"layer is an absolute symlink", func() []byte {
			f := base()
			delete(f, l1)
			return testimage.TarFiles(f, testimage.Symlink(l1, "/etc/passwd"))
		}, "", "outside the archive"},
		{"symlink loop", func() []byte {
			f := base()
			delete(f, l1)
			return testimage.TarFiles(f, testimage.Symlink(l1, "layer.tar"))
		}, "", "too many symlinks"},
		{"manifest.json twice", func() []byte {
			f := base()
			return testimage.TarFiles(f, testimage.File("manifest.json", "[]"))
		}, "", "2 times"},
		{"config not named by its digest", func() []byte {
			f := base()
			var m []map[string]any
			json.Unmarshal(f["manifest.json"], &m)
			m[0]["Config"] = "config.json"
			f["manifest.json"], _ = json.Marshal(m)
			f["config.json"] = f[cfgName]
			return testimage.TarFiles(f)
		}, "", "not named by its digest"},
		{"config tampered", func() []byte {
			f := base()
			f[cfgName] = []byte(strings.Replace(string(f[cfgName]), "amd64", "arm64", 1))
			return testimage.TarFiles(f)
		}, "", "digest mismatch"},
		{"layer tampered (diff_id)", func() []byte {
			f := base()
			f[l1] = testimage.Tar(testimage.File("etc/evil", "x"))
			return testimage.TarFiles(f)
		}, "", "diff_id"},
		{"huge manifest.json", func() []byte {
			f := base()
			f["manifest.json"] = []byte("[" + strings.Repeat(" ", 5<<20) + "]")
			return testimage.TarFiles(f)
		}, "", "more than"},
		{"two images, none named", func() []byte {
			f := base()
			var m []map[string]any
			json.Unmarshal(f["manifest.json"], &m)
			m = append(m, map[string]any{"Config": cfgName, "RepoTags": []string{"other:2"}, "Layers": m[0]["Layers"]})
			f["manifest.json"], _ = json.Marshal(m)
			return testimage.TarFiles(f)
		}, "", "other:2"},
		{"absent tag", func() []byte { return testimage.TarFiles(base()) }, "demo/app:2", "demo/app:1"},
		{"not an archive", func() []byte { return testimage.Tar(testimage.File("etc/passwd", "x")) }, "", "not a docker save archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "x.tar")
			writeFile(t, file, tt.build())
			src, err := archive.OpenDockerArchive(ctx(t), file, tt.ref)
			dir, err := pullFrom(t, src, err)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b, err := os.ReadFile(filepath.Join(dir, "etc/b")); err != nil || string(b) != "b" {
					t.Errorf("etc/b = %q, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestOCILayoutHostile(t *testing.T) {
	im := image(false)
	layer := im.Manifest.Layers[0].Digest
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{"honest", func(*testing.T, string) {}, ""},
		{"no oci-layout", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "oci-layout")) }, "not an OCI image layout"},
		{"huge index.json", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "index.json"), []byte("{"+strings.Repeat(" ", 5<<20)+"}"))
		}, "more than"},
		{"index names a bad digest", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../etc/passwd","size":1}]}`))
		}, "malformed"},
		{"manifest tampered", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "blobs/sha256", im.Desc.Digest.Encoded())
			b, _ := os.ReadFile(p)
			writeFile(t, p, []byte(strings.Replace(string(b), "gzip", "zstd", 1)))
		}, "digest mismatch"},
		{"layer tampered", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "blobs/sha256", layer.Encoded()), testimage.Compress(testimage.Tar(testimage.File("etc/evil", "x")), testimage.Gzip))
		}, "mismatch"},
		{"layer blob is a symlink out of the layout", func(t *testing.T, dir string) {
			outside := filepath.Join(filepath.Dir(dir), "outside")
			writeFile(t, outside, im.Blobs[layer])
			p := filepath.Join(dir, "blobs/sha256", layer.Encoded())
			os.Remove(p)
			os.Symlink(outside, p)
		}, "escapes"},
		{"unknown layer media type", func(t *testing.T, dir string) {
			m := im.Manifest
			m.Layers = append([]ocispec.Descriptor{}, m.Layers...)
			m.Layers[0].MediaType = "application/vnd.example.not-a-layer"
			raw, _ := json.Marshal(m)
			d := digest.FromBytes(raw)
			writeFile(t, filepath.Join(dir, "blobs/sha256", d.Encoded()), raw)
			idx, _ := json.Marshal(ocispec.Index{Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(raw)),
				Annotations: map[string]string{ocispec.AnnotationRefName: "v1"}}}})
			writeFile(t, filepath.Join(dir, "index.json"), idx)
		}, "unsupported layer media type"},
	}
	for _, tt := range tests {
		for _, packed := range []bool{false, true} {
			name := tt.name + map[bool]string{false: "/oci", true: "/oci-archive"}[packed]
			t.Run(name, func(t *testing.T) {
				if packed && strings.Contains(tt.name, "symlink") {
					t.Skip("a tar holds no symlink to a host file; see TestDockerArchiveHostile")
				}
				dir := filepath.Join(t.TempDir(), "layout")
				if err := testimage.WriteOCILayout(dir, im, "v1"); err != nil {
					t.Fatal(err)
				}
				tt.break_(t, dir)
				var src pull.Source
				var err error
				if packed {
					files := map[string][]byte{}
					filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
						if err == nil && d.Type().IsRegular() {
							rel, _ := filepath.Rel(dir, p)
							files[rel], _ = os.ReadFile(p)
						}
						return nil
					})
					file := dir + ".tar"
					writeFile(t, file, testimage.TarFiles(files, testimage.File("../escape", "x"), testimage.File("/abs", "x")))
					src, err = archive.OpenOCIArchive(ctx(t), file, "v1", "")
				} else {
					src, err = archive.OpenOCI(dir, "v1", "")
				}
				rdir, err := pullFrom(t, src, err)
				if tt.want == "" {
					if err != nil {
						t.Fatal(err)
					}
					if b, err := os.ReadFile(filepath.Join(rdir, "etc/b")); err != nil || string(b) != "b" {
						t.Errorf("etc/b = %q, %v", b, err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want one mentioning %q", err, tt.want)
				}
				if errors.Is(err, context.DeadlineExceeded) {
					t.Error("timed out")
				}
			})
		}
	}
}
