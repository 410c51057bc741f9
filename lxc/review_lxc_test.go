package lxc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/registry"
)

// An LXC server (or mirror) that sends its index's headers and then
// nothing: io.ReadAll waited forever (the client bounded only the wait
// for headers), so search lxc: and pull lxc: hung until killed.
func TestReviewLXCIndexThatStallsIsCut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"index":`))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	hc, err := registry.NewHostClient(registry.Options{StallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Server: srv.URL, HTTP: hc}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Products(ctx)
	if !errors.Is(err, registry.ErrStalled) || time.Since(start) > 10*time.Second {
		t.Errorf("after %v: %v; want ErrStalled within seconds", time.Since(start).Round(time.Second), err)
	}
}
