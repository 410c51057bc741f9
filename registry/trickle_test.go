package registry

import (
	"net/http"
	"testing"
	"time"
)

// Found by the second hostile review, fixed since: the stall timer on manifest, token, config and tag
// bodies restarts at every byte. A registry that sends one byte just
// inside the stall timeout, again and again, is never cut: a 4 MiB
// manifest at one byte per 59 s (StallTimeout's default is 60 s) holds
// the pull for about 7.8 years, and the token endpoint the same. Such a
// small body needs a total deadline too (or a minimum rate), not only a
// gap timer.
func TestManifestTrickleIsBounded(t *testing.T) {
	done := make(chan struct{})
	defer close(done)
	f := newFakeRegistry(t)
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v2/hostile/app/manifests/trickle" {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Content-Length", "4000000")
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return true
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return true
			case <-done:
				return true
			case <-time.After(300 * time.Millisecond): // inside the 1 s stall timeout
			}
		}
	}
	resolveBounded(t, f, "trickle", "a manifest sent one byte per 300 ms (4 MB would take 14 days)")
}
