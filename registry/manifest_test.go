package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestResolveRefusesWhatIsNotAnImage serves documents the real registry
// will not accept on push (schema 1) or that are not images, from a fake.
func TestResolveRefusesWhatIsNotAnImage(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"schema 1", MediaTypeDockerSchema1JWS, `{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}`, "schema 1"},
		{"schema 1 without a content type", "application/json", `{"schemaVersion":1,"fsLayers":[]}`, "schema 1"},
		{"unknown media type", "application/vnd.example.thing+json", `{"mediaType":"application/vnd.example.thing+json"}`, "not a container image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					return
				}
				w.Header().Set("Content-Type", tt.contentType)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := NewClient(Options{NoDockerConfig: true})
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/x:y")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.Resolve(ctx, ref, HostPlatform())
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrUnsupported mentioning %q", err, tt.want)
			}
		})
	}
}

func TestManifestTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		chunk := []byte(strings.Repeat(" ", 1<<20))
		for i := 0; i < 6; i++ {
			w.Write(chunk)
		}
	}))
	defer srv.Close()
	c, _ := NewClient(Options{NoDockerConfig: true})
	ref, _ := ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/x:y")
	_, err := c.Resolve(context.Background(), ref, HostPlatform())
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v, want a size refusal", err)
	}
}
