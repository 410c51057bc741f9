// Package hub talks to Docker Hub's web API (not the registry API): the
// repository search, and the tag list with each tag's per-platform images,
// which the registry API does not have.
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
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

// Bounds on what the Hub API may make this client hold or do.
const (
	maxPages     = 50       // pages per listing
	maxPageBytes = 4 << 20  // one page's body
	maxBytes     = 16 << 20 // all pages of one listing
	maxResults   = 10000    // results per listing, whatever limit asks
)

// Every text field a result carries is made safe to print: names that are
// not repository or tag names drop the result, other text is escaped and
// cut (see safetext).
var (
	repoRE  = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	fieldRE = regexp.MustCompile(`^[A-Za-z0-9._-]{0,64}$`)
)

// Search finds repositories matching term, at most limit of them.
func (c *Client) Search(ctx context.Context, term string, limit int) ([]Repository, error) {
	if strings.TrimSpace(term) == "" {
		return nil, fmt.Errorf("search: empty term")
	}
	q := url.Values{"query": {term}, "page_size": {fmt.Sprint(min(max(limit, 1), 100))}}
	out, err := pages[Repository](ctx, c, c.url("/v2/search/repositories/?"+q.Encode()), limit)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", safetext.Cut(term, 80), err)
	}
	clean := out[:0]
	for _, r := range out {
		if len(r.Name) > 255 || !repoRE.MatchString(r.Name) {
			continue
		}
		r.Description = safetext.Cut(r.Description, 300)
		clean = append(clean, r)
	}
	return clean, nil
}

// Tags lists a repository's tags ("library/ubuntu"), newest first, at most
// limit of them.
func (c *Client) Tags(ctx context.Context, repo string, limit int) ([]Tag, error) {
	q := url.Values{"page_size": {"100"}, "ordering": {"last_updated"}}
	out, err := pages[Tag](ctx, c, c.url("/v2/repositories/"+repo+"/tags/?"+q.Encode()), limit)
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", safetext.Cut(repo, 80), err)
	}
	clean := out[:0]
	for _, t := range out {
		if !tagRE.MatchString(t.Name) {
			continue
		}
		t.Digest = cleanDigest(t.Digest)
		images := t.Images[:0]
		for _, im := range t.Images {
			if fieldRE.MatchString(im.OS) && fieldRE.MatchString(im.Architecture) && fieldRE.MatchString(im.Variant) {
				im.Digest = cleanDigest(im.Digest)
				images = append(images, im)
			}
		}
		t.Images = images
		clean = append(clean, t)
	}
	return clean, nil
}

// cleanDigest keeps a valid digest and drops anything else.
func cleanDigest(d string) string {
	if digest.Digest(d).Validate() != nil {
		return ""
	}
	return d
}

// pages collects up to limit results, following the API's "next" links
// (at most maxPages of them, maxBytes in all).
func pages[T any](ctx context.Context, c *Client, next string, limit int) ([]T, error) {
	limit = min(limit, maxResults)
	var out []T
	budget := int64(maxBytes)
	for page := 0; next != "" && len(out) < limit && page < maxPages; page++ {
		var doc struct {
			Next    string `json:"next"`
			Results []T    `json:"results"`
		}
		if err := c.get(ctx, next, &doc, &budget); err != nil {
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

// get fetches one page of at most maxPageBytes, and of what is left of
// budget; "next" links, and redirects, must stay on the API's scheme and
// host.
func (c *Client) get(ctx context.Context, u string, v any, budget *int64) error {
	base, _ := url.Parse(c.url("/"))
	pu, err := url.Parse(u)
	if err != nil || pu.Host != base.Host || pu.Scheme != base.Scheme || pu.User != nil {
		return fmt.Errorf("page link %q leaves %s://%s", safetext.Cut(u, 80), base.Scheme, safetext.Cut(base.Host, 80))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 || req.URL.Host != base.Host || req.URL.Scheme != base.Scheme {
			return fmt.Errorf("redirect to %q leaves %s://%s", safetext.Cut(req.URL.Redacted(), 80), base.Scheme, safetext.Cut(base.Host, 80))
		}
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = safetext.Cut(ue.URL, 200)
		}
		return err
	}
	defer resp.Body.Close()
	path := safetext.Cut(pu.Path, 80)
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: not found", path)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, safetext.Cut(resp.Status, 80))
	}
	n := min(int64(maxPageBytes), *budget)
	body, err := io.ReadAll(io.LimitReader(resp.Body, n+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > n {
		return fmt.Errorf("%s: the answer is larger than the %d bytes this tool reads", path, n)
	}
	*budget -= int64(len(body))
	return json.Unmarshal(body, v)
}
