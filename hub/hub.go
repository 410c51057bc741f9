// Package hub talks to Docker Hub's web API (not the registry API): the
// repository search, and the tag list with each tag's per-platform images,
// which the registry API does not have.
package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is Docker Hub's web API.
const DefaultURL = "https://hub.docker.com"

// Client is a Hub API client.
type Client struct {
	BaseURL string       // DefaultURL if empty
	HTTP    *http.Client // http.DefaultClient if nil
}

// Repository is one search result.
type Repository struct {
	Name        string `json:"repo_name"`
	Description string `json:"short_description"`
	Stars       int    `json:"star_count"`
	Pulls       int64  `json:"pull_count"`
	Official    bool   `json:"is_official"`
}

// Tag is one tag of a repository with the images it has per platform.
type Tag struct {
	Name        string    `json:"name"`
	LastUpdated time.Time `json:"last_updated"`
	FullSize    int64     `json:"full_size"`
	Digest      string    `json:"digest"`
	Images      []Image   `json:"images"`
}

// Image is a tag's image for one platform.
type Image struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
	Size         int64  `json:"size"`
	Digest       string `json:"digest"`
}

// maxPages bounds pagination.
const maxPages = 50

// Search finds repositories matching term, at most limit of them.
func (c *Client) Search(ctx context.Context, term string, limit int) ([]Repository, error) {
	if strings.TrimSpace(term) == "" {
		return nil, fmt.Errorf("search: empty term")
	}
	q := url.Values{"query": {term}, "page_size": {fmt.Sprint(min(max(limit, 1), 100))}}
	out, err := pages[Repository](ctx, c, c.url("/v2/search/repositories/?"+q.Encode()), limit)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", term, err)
	}
	return out, nil
}

// Tags lists a repository's tags ("library/ubuntu"), newest first, at most
// limit of them.
func (c *Client) Tags(ctx context.Context, repo string, limit int) ([]Tag, error) {
	q := url.Values{"page_size": {"100"}, "ordering": {"last_updated"}}
	out, err := pages[Tag](ctx, c, c.url("/v2/repositories/"+repo+"/tags/?"+q.Encode()), limit)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", repo, err)
	}
	return out, nil
}

// pages collects up to limit results, following the API's "next" links
// (at most maxPages of them).
func pages[T any](ctx context.Context, c *Client, next string, limit int) ([]T, error) {
	var out []T
	for page := 0; next != "" && len(out) < limit && page < maxPages; page++ {
		var doc struct {
			Next    string `json:"next"`
			Results []T    `json:"results"`
		}
		if err := c.get(ctx, next, &doc); err != nil {
			return nil, err
		}
		out = append(out, doc.Results...)
		next = doc.Next
		if len(doc.Results) == 0 {
			break
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (c *Client) url(p string) string {
	base := c.BaseURL
	if base == "" {
		base = DefaultURL
	}
	return strings.TrimSuffix(base, "/") + p
}

// get fetches one page; "next" links must stay on the API's host.
func (c *Client) get(ctx context.Context, u string, v any) error {
	base, _ := url.Parse(c.url("/"))
	pu, err := url.Parse(u)
	if err != nil || pu.Host != base.Host {
		return fmt.Errorf("page link %q leaves %s", u, base.Host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: not found", pu.Path)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", pu.Path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(v)
}
