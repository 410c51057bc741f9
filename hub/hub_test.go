package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hostileHub answers every request with handle.
func hostileHub(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *Client {
	srv := httptest.NewServer(http.HandlerFunc(handle))
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func unsafe(s string) bool { return strings.ContainsAny(s, "\x1b\x07\r\n\u202e") }

// Hub text is printed by search and tags: escape sequences in it are
// escaped, names that are not names drop their result.
func TestHubTextIsSafe(t *testing.T) {
	c := hostileHub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/v2/search/"):
			json.NewEncoder(w).Encode(map[string]any{"results": []map[string]any{
				{"repo_name": "good/repo", "short_description": "\x1b]0;pwned\x07\x1b[2J\r\nfake line \u202egnp.exe"},
				{"repo_name": "evil\x1b[2J/repo", "short_description": "x"},
			}})
		default:
			json.NewEncoder(w).Encode(map[string]any{"results": []map[string]any{
				{"name": "v1", "digest": "sha256:abc", "images": []map[string]any{
					{"os": "linux", "architecture": "amd64", "digest": "\x1b[2J"},
					{"os": "linux", "architecture": "amd64\x1b[31m"},
				}},
				{"name": "v2\x1b[2J"},
			}})
		}
	})
	repos, err := c.Search(ctx(t), "x", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(repos) != 1 || repos[0].Name != "good/repo" || unsafe(repos[0].Description) || !strings.Contains(repos[0].Description, "pwned") {
		t.Errorf("search results: %#v", repos)
	}
	tags, err := c.Tags(ctx(t), "library/x", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0].Name != "v1" || tags[0].Digest != "" || len(tags[0].Images) != 1 || tags[0].Images[0].Digest != "" {
		t.Errorf("tags: %#v", tags)
	}
}

// "next" links and redirects stay on the API's scheme and host; a page
// is bounded; error text is escaped.
func TestHubRefusesHostileAnswers(t *testing.T) {
	big := `{"results":[` + strings.Repeat(`{"repo_name":"a/b","short_description":"`+strings.Repeat("x", 1000)+`"},`, 5000) + `{"repo_name":"a/b"}]}`
	for _, tt := range []struct {
		name   string
		handle func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"next to https", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"next":"https://%s/v2/search/repositories/?page=2","results":[{"repo_name":"a/b"}]}`, r.Host)
		}, "leaves"},
		{"next to another host", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"next":"http://169.254.169.254/latest/meta-data/","results":[{"repo_name":"a/b"}]}`)
		}, "leaves"},
		{"redirect elsewhere", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		}, "leaves"},
		{"page too large", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, big)
		}, "larger than"},
		{"escape in a path", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("page") == "" {
				fmt.Fprintf(w, `{"next":"http://%s/v2/%%1b]0;pwned%%07%%1b[2J/?page=2","results":[{"repo_name":"a/b"}]}`, r.Host)
				return
			}
			http.NotFound(w, r)
		}, "not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := hostileHub(t, tt.handle)
			_, err := c.Search(ctx(t), "x", 100)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if unsafe(err.Error()) {
				t.Errorf("unsafe error: %q", err)
			}
		})
	}
}

// A Hub API on https may not send the client to plain HTTP, by a "next"
// link or by a redirect.
func TestHubRefusesDowngrade(t *testing.T) {
	for _, redirect := range []bool{false, true} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The same host and port, over plain HTTP.
			down := "http://" + r.Host + "/v2/search/repositories/?page=2"
			if redirect {
				http.Redirect(w, r, down, http.StatusFound)
				return
			}
			fmt.Fprintf(w, `{"next":%q,"results":[{"repo_name":"a/b"}]}`, down)
		}))
		c := &Client{BaseURL: srv.URL, HTTP: srv.Client()}
		_, err := c.Search(ctx(t), "x", 100)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "leaves https://") {
			t.Errorf("redirect=%v: err = %v, want a refusal", redirect, err)
		}
	}
}
