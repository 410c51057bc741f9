package registry

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// stallAfterHeaders answers with headers and a first few bytes of a body
// that never comes (until the test ends): a hostile or broken registry.
func stallAfterHeaders(w http.ResponseWriter, r *http.Request, contentType string, done <-chan struct{}) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", "4096")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"schemaVersion":`))
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-done:
	}
}

// Review (hangs): a blob that stops sending is cut after StallTimeout and
// resumed, but a manifest (and a token, and a tag page) whose body stops
// after the headers is read with no timer at all: the pull waits forever
// (only Ctrl-C ends it), whatever StallTimeout says. A registry that
// sends headers and a few bytes of a manifest, then nothing, must not
// hold the tool for more than about the stall timeout (and its retries).
func TestReviewManifestBodyStallIsBounded(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	f := newFakeRegistry(t)
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/hostile/app/manifests/stall" {
			stallAfterHeaders(w, r, "application/vnd.oci.image.manifest.v1+json", done)
			return true
		}
		return false
	}
	c, err := NewClient(Options{NoDockerConfig: true, StallTimeout: time.Second,
		Retry: RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, MaxWait: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Resolve(ctx, f.ref(t, "stall"), Platform{OS: "linux", Architecture: "amd64"})
	if ctx.Err() != nil {
		t.Fatalf("Resolve still waiting for a stalled manifest body after %v (StallTimeout 1s): err = %v", time.Since(start).Round(time.Second), err)
	}
	if err == nil {
		t.Fatal("Resolve of a stalled manifest succeeded")
	}
}

// Review (hangs): the same for the token endpoint (a slowloris realm):
// oras reads the token body with no timer either.
func TestReviewTokenBodyStallIsBounded(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	f := newFakeRegistry(t)
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == "/token":
			stallAfterHeaders(w, r, "application/json", done)
			return true
		case r.Header.Get("Authorization") == "":
			w.Header().Set("Www-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="fake",scope="repository:hostile/app:pull"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	}
	c, err := NewClient(Options{NoDockerConfig: true, StallTimeout: time.Second,
		Retry: RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, MaxWait: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Resolve(ctx, f.ref(t, "latest"), Platform{OS: "linux", Architecture: "amd64"})
	if ctx.Err() != nil {
		t.Fatalf("Resolve still waiting for a stalled token body after %v (StallTimeout 1s): err = %v", time.Since(start).Round(time.Second), err)
	}
	if err == nil {
		t.Fatal("Resolve with a stalled token endpoint succeeded")
	}
}
