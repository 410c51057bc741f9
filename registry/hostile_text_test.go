package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tagsServer answers tags/list with page(n) for the n-th request.
func tagsServer(t *testing.T, useTLS bool, page func(w http.ResponseWriter, r *http.Request, n int)) *fakeRegistry {
	f := startFake(t, useTLS)
	n := 0
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/tags/list") {
			return false
		}
		page(w, r, n)
		n++
		return true
	}
	return f
}

// A registry that pages forever, with big pages, is cut off after
// maxTagBytes in all, long before it could fill memory (before: up to
// 1000 pages of 4 MiB each were held).
func TestTagsBounded(t *testing.T) {
	var pageBody strings.Builder
	pageBody.WriteString(`{"tags":[`)
	for i := range 40000 {
		if i > 0 {
			pageBody.WriteByte(',')
		}
		fmt.Fprintf(&pageBody, `"tag-%020d"`, i)
	}
	pageBody.WriteString(`]}`) // about 1 MiB
	f := tagsServer(t, false, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Link", fmt.Sprintf(`</v2/hostile/app/tags/list?n=100&last=%d>; rel="next"`, n))
		w.Write([]byte(pageBody.String()))
	})
	c := newTestClient(t, Options{})
	start := time.Now()
	_, err := c.Tags(testCtx(t), f.ref(t, "v1"))
	if err == nil || !strings.Contains(err.Error(), "MiB") && !strings.Contains(err.Error(), "more than 100000 tags") {
		t.Fatalf("err = %v, want a bound", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

// A Link to another scheme or host, and tag names that are not tags
// (control characters a terminal would obey), are refused.
func TestTagsRefuseHostileAnswers(t *testing.T) {
	for _, tt := range []struct {
		name string
		tls  bool
		page func(w http.ResponseWriter, r *http.Request, n int)
		want string
	}{
		{"link to plain http", true, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Link", fmt.Sprintf(`<http://%s/v2/hostile/app/tags/list?last=a>; rel="next"`, r.Host))
			fmt.Fprint(w, `{"tags":["a"]}`)
		}, "Link header leaves"},
		{"link to another host", false, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Link", `<http://127.0.0.2:1/v2/hostile/app/tags/list?last=a>; rel="next"`)
			fmt.Fprint(w, `{"tags":["a"]}`)
		}, "Link header leaves"},
		{"escape sequence", false, func(w http.ResponseWriter, r *http.Request, n int) {
			fmt.Fprint(w, `{"tags":["ok","\u001b]0;pwned\u0007\u001b[2J"]}`)
		}, "not a tag name"},
		{"newline", false, func(w http.ResponseWriter, r *http.Request, n int) {
			fmt.Fprint(w, `{"tags":["v1\nrootfs-pull: all good"]}`)
		}, "not a tag name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tagsServer(t, tt.tls, tt.page)
			c := newTestClient(t, Options{})
			tags, err := c.Tags(testCtx(t), f.ref(t, "v1"))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("tags %q, err = %v; want ErrMalformed mentioning %q", tags, err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\x1b\x07\n") {
				t.Errorf("error carries control characters: %q", err)
			}
		})
	}
}

// Registry error bodies and an image's platform reach error messages
// escaped and cut: one readable line, nothing a terminal obeys.
func TestErrorTextIsSafe(t *testing.T) {
	hostile := "\x1b]0;pwned\x07\x1b[2J\r\nrootfs-pull: done" + strings.Repeat("A", 20000)
	f := newFakeRegistry(t)
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/missing") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "MANIFEST_UNKNOWN\x1b[31m", "message": hostile}}})
			return true
		}
		return false
	}
	rawCfg, _ := json.Marshal(map[string]any{"architecture": "s390x\x1b[2J" + strings.Repeat("B", 5000), "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	cfg := f.addBlob(ocispec.MediaTypeImageConfig, rawCfg)
	f.addManifest("odd-arch", ocispec.MediaTypeImageManifest, map[string]any{
		"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": cfg, "layers": []ocispec.Descriptor{}})
	c := newTestClient(t, Options{})
	for _, tag := range []string{"missing", "odd-arch"} {
		_, err := c.Resolve(testCtx(t), f.ref(t, tag), amd64)
		if err == nil {
			t.Fatalf("%s: no error", tag)
		}
		msg := err.Error()
		if !strings.Contains(msg, "pwned") && !strings.Contains(msg, "s390x") {
			t.Errorf("%s: the error does not carry the registry's text: %.300q", tag, msg)
		}
		if strings.ContainsAny(msg, "\x1b\x07\r\n") || len(msg) > 1000 {
			t.Errorf("%s: unsafe error (%d bytes): %.300q", tag, len(msg), msg)
		}
	}
}
