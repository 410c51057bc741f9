package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeRegistry serves fixed documents: manifests by tag or digest, blobs
// by digest. It stands in for a hostile registry (the real one refuses
// malformed documents on push).
type fakeRegistry struct {
	*httptest.Server
	manifests map[string]fakeDoc // tag or digest → document
	blobs     map[string][]byte
	// before, if set, may answer a request itself (a challenge, a
	// redirect) by returning true.
	before func(w http.ResponseWriter, r *http.Request) bool
}

type fakeDoc struct {
	mediaType string
	body      []byte
}

func newFakeRegistry(t *testing.T) *fakeRegistry { return startFake(t, false) }

// startFake starts a fake registry on 127.0.0.1, over TLS (httptest's
// certificate, for example.com) or plain HTTP.
func startFake(t *testing.T, useTLS bool) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{manifests: map[string]fakeDoc{}, blobs: map[string][]byte{}}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.before != nil && f.before(w, r) {
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		if i := strings.Index(r.URL.Path, "/manifests/"); i >= 0 {
			d, ok := f.manifests[r.URL.Path[i+len("/manifests/"):]]
			if !ok {
				http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", d.mediaType)
			w.Write(d.body)
			return
		}
		if i := strings.Index(r.URL.Path, "/blobs/"); i >= 0 {
			b, ok := f.blobs[r.URL.Path[i+len("/blobs/"):]]
			if !ok {
				http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
				return
			}
			w.Write(b)
			return
		}
		http.NotFound(w, r)
	}))
	if useTLS {
		f.StartTLS()
	} else {
		f.Start()
	}
	t.Cleanup(f.Close)
	return f
}

// addBlob stores b and returns its descriptor.
func (f *fakeRegistry) addBlob(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	f.blobs[d.String()] = b
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// addManifest stores doc (marshalled unless it is []byte or string) under
// tag and under its digest, and returns its descriptor.
func (f *fakeRegistry) addManifest(tag, mediaType string, doc any) ocispec.Descriptor {
	var b []byte
	switch v := doc.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	d := digest.FromBytes(b)
	f.manifests[tag] = fakeDoc{mediaType, b}
	f.manifests[d.String()] = fakeDoc{mediaType, b}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func (f *fakeRegistry) ref(t *testing.T, tag string) Reference {
	t.Helper()
	return f.refAt(t, f.Listener.Addr().String(), tag)
}

// refAt names the fake's image at host (e.g. example.com:PORT).
func (f *fakeRegistry) refAt(t *testing.T, host, tag string) Reference {
	t.Helper()
	ref, err := ParseReference(host + "/hostile/app:" + tag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// goodConfig is an amd64 config for n layers.
func goodConfig(n int) []byte {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = digest.FromString(fmt.Sprint(i)).String()
	}
	b, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": ids}})
	return b
}

// Finding 6: a registry's malformed descriptors are refused when the
// document is parsed, with ErrMalformed, instead of panicking (an index
// entry without ':' panicked in digest.Algorithm) or reaching code that
// slices them (a layer digest "sha256:abc" panicked in pull's messages).
func TestResolveRefusesMalformedDescriptors(t *testing.T) {
	f := newFakeRegistry(t)
	cfg := f.addBlob(ocispec.MediaTypeImageConfig, goodConfig(1))
	layer := f.addBlob(ocispec.MediaTypeImageLayerGzip, []byte("layer"))
	manifest := func(config ocispec.Descriptor, layers ...ocispec.Descriptor) map[string]any {
		return map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": config, "layers": layers}
	}
	index := func(entries ...map[string]any) map[string]any {
		return map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageIndex, "manifests": entries}
	}
	amd64 := map[string]any{"os": "linux", "architecture": "amd64"}
	with := func(d ocispec.Descriptor, edit func(*ocispec.Descriptor)) ocispec.Descriptor { edit(&d); return d }

	good := f.addManifest("good", ocispec.MediaTypeImageManifest, manifest(cfg, layer))
	many := make([]ocispec.Descriptor, MaxLayers+1)
	for i := range many {
		many[i] = layer
	}
	entries := make([]map[string]any, MaxIndexEntries+1)
	for i := range entries {
		entries[i] = map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": good.Digest, "size": good.Size, "platform": amd64}
	}
	tests := []struct {
		tag, mediaType string
		doc            any
		want           string
	}{
		{"short-layer", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.Digest = "sha256:abc" })), "layer 1"},
		{"layer-no-colon", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.Digest = "abc" })), "layer 1"},
		{"layer-traversal", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.Digest = "sha256:../../../../etc/passwd" })), "layer 1"},
		{"layer-uppercase", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.Digest = digest.Digest(strings.ToUpper(string(d.Digest))) })), "layer 1"},
		{"layer-negative-size", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.Size = -1 })), "size -1"},
		{"layer-huge-size", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.Size = 1 << 62 })), "size"},
		{"layer-media-type", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.MediaType = "x\x1b[2J" })), "media type"},
		{"layer-file-url", ocispec.MediaTypeImageManifest, manifest(cfg, with(layer, func(d *ocispec.Descriptor) { d.URLs = []string{"file:///etc/shadow"} })), "URL"},
		{"config-wrong-length", ocispec.MediaTypeImageManifest, manifest(with(cfg, func(d *ocispec.Descriptor) { d.Digest = d.Digest[:len(d.Digest)-1] }), layer), "config"},
		{"config-missing", ocispec.MediaTypeImageManifest, map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "layers": []ocispec.Descriptor{layer}}, "config"},
		{"too-many-layers", ocispec.MediaTypeImageManifest, manifest(cfg, many...), "layers, more than"},
		{"index-no-colon", ocispec.MediaTypeImageIndex, index(map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": "abc", "size": 10, "platform": amd64}), "index entry 1"},
		{"index-short", ocispec.MediaTypeImageIndex, index(map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": "sha256:abc", "size": 10, "platform": amd64}), "index entry 1"},
		{"index-unknown-algorithm", ocispec.MediaTypeImageIndex, index(map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": "md5:0123456789abcdef0123456789abcdef", "size": 10, "platform": amd64}), "index entry 1"},
		{"index-platform", ocispec.MediaTypeImageIndex, index(map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": good.Digest, "size": good.Size, "platform": map[string]any{"os": "linux", "architecture": "amd64\x1b]0;x\x07"}}), "platform"},
		{"index-too-many", ocispec.MediaTypeImageIndex, index(entries...), "manifests, more than"},
	}
	c, err := NewClient(Options{NoDockerConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	amd := Platform{OS: "linux", Architecture: "amd64"}
	if _, err := c.Resolve(ctx, f.ref(t, "good"), amd); err != nil {
		t.Fatalf("the well-formed image: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			f.addManifest(tt.tag, tt.mediaType, tt.doc)
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panic: %v", p)
					}
				}()
				_, err = c.Resolve(ctx, f.ref(t, tt.tag), amd)
			}()
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrMalformed mentioning %q", err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\x1b\x07") {
				t.Errorf("error carries control characters: %q", err)
			}
		})
	}
}

func TestShortDigest(t *testing.T) {
	for in, want := range map[digest.Digest]string{
		digest.FromString("x"): digest.FromString("x").Encoded()[:12],
		"sha256:abc":           "sha256:abc",
		"abc":                  "abc",
		"":                     "",
		"sha256:\x1b[2J":       `sha256:\x1b[2J`,
	} {
		if got := ShortDigest(in); got != want {
			t.Errorf("ShortDigest(%q) = %q, want %q", in, got, want)
		}
	}
}
