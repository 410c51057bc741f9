package lxc

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// peakHeap runs f and returns the most heap it held above what was in use
// before, sampled every few milliseconds.
func peakHeap(f func()) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > peak.Load() {
				peak.Store(m.HeapAlloc - base)
			}
		}
	}()
	f()
	close(done)
	return peak.Load()
}

// A products file within the 64 MiB allowed, made of millions of tiny
// items (or versions, or products): decoded whole into maps it took about
// 16 times its size in heap (1 GiB for 60 MiB), from a mirror's one answer; a phone kills the
// process first. Only what is used (each product's newest build with a
// rootfs) is kept now.
func TestReviewLXCProductsMemoryIsBounded(t *testing.T) {
	docs := map[string][]byte{}
	var b bytes.Buffer
	b.WriteString(`{"products":{"debian:bookworm:amd64:default":{"arch":"amd64","os":"Debian","release":"bookworm","variant":"default","versions":{"20240101_05:24":{"items":{`)
	for i := 0; b.Len() < 16<<20; i++ {
		fmt.Fprintf(&b, `"%x":{},`, i)
	}
	b.WriteString(`"root.tar.xz":{"ftype":"root.tar.xz","path":"images/x/rootfs.tar.xz","sha256":"` + fmt.Sprintf("%064x", 1) + `","size":1}}}}}}}`)
	docs["items"] = bytes.Clone(b.Bytes())
	b.Reset()
	b.WriteString(`{"products":{"debian:bookworm:amd64:default":{"arch":"amd64","os":"Debian","release":"bookworm","variant":"default","versions":{`)
	for i := 0; b.Len() < 16<<20; i++ {
		fmt.Fprintf(&b, `"v%x":{"items":{}},`, i)
	}
	b.WriteString(`"20240101_05:24":{"items":{"root.tar.xz":{"ftype":"root.tar.xz","path":"images/x/rootfs.tar.xz","sha256":"` + fmt.Sprintf("%064x", 1) + `","size":1}}}}}}}`)
	docs["versions"] = bytes.Clone(b.Bytes())
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/streams/v1/index.json" {
					w.Write([]byte(`{"index":{"images":{"datatype":"image-downloads","path":"streams/v1/images.json"}}}`))
					return
				}
				w.Write(doc)
			}))
			defer srv.Close()
			c := &Client{Server: srv.URL}
			var ps []Product
			var err error
			start := time.Now()
			n := peakHeap(func() { ps, err = c.Products(context.Background()) })
			t.Logf("%d MiB: peak heap %d MiB, %v", len(doc)>>20, n>>20, time.Since(start).Round(time.Millisecond))
			if n > 80<<20 {
				t.Errorf("a %d MiB products file took %d MiB of heap (%v)", len(doc)>>20, n>>20, time.Since(start).Round(time.Millisecond))
			}
			if err != nil || len(ps) != 1 || ps[0].Newest.Version != "20240101_05:24" {
				t.Errorf("products %+v, %v", ps, err)
			}
		})
	}
}

// An item path ".." is clean and does not start with "../": it named the
// directory above the server's path (…/lxc-images/.. is the mirror's
// root), not a file under it.
func TestReviewLXCItemPathDotDot(t *testing.T) {
	if checkPath("..") == nil {
		t.Errorf(`checkPath("..") accepted`)
	}
}

// decodeProducts never panics, whatever the JSON.
func FuzzReviewDecodeProducts(f *testing.F) {
	f.Add([]byte(`{"products":{"a":{"arch":"amd64","os":"Debian","release":"b","variant":"default","versions":{"20240101_05:24":{"items":{"root.tar.xz":{"path":"x/r.tar.xz","sha256":"` + fmt.Sprintf("%064x", 1) + `","size":3}}}}}}}`))
	f.Add([]byte(`{"products":null,"x":[1,{"a":[]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		ps, err := decodeProducts(bytes.NewReader(doc))
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Version != "" && !usable(p.Version, p.Rootfs) {
				t.Errorf("an unusable build kept: %+v", p)
			}
		}
	})
}
