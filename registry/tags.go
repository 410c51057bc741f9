package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxTagPages bounds pagination: a registry that keeps sending Link
// headers cannot make Tags loop forever.
const maxTagPages = 1000

// tagPage is how many tags to ask for per page.
const tagPage = 100

// Tags lists the repository's tags with the registry API
// (/v2/NAME/tags/list), following Link pagination, in the registry's order.
func (c *Client) Tags(ctx context.Context, ref Reference) ([]string, error) {
	var errs []error
	for _, src := range c.sources(ref) {
		tags, err := c.tagsFrom(ctx, src)
		if err == nil {
			return tags, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	return nil, sourceError(errs)
}

func (c *Client) tagsFrom(ctx context.Context, ref Reference) ([]string, error) {
	base, err := c.baseURL(ctx, ref.Host())
	if err != nil {
		return nil, err
	}
	// Pages of 100, as Docker Hub serves them; registries that list all
	// tags at once without n page with it too.
	next := fmt.Sprintf("%s/v2/%s/tags/list?n=%d", base, ref.Path, tagPage)
	var tags []string
	for page := 0; next != ""; page++ {
		if page == maxTagPages {
			return nil, fmt.Errorf("tags of %s: more than %d pages", ref.Familiar(), maxTagPages)
		}
		resp, err := c.do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", ref.Familiar(), err)
		}
		var doc struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize)).Decode(&doc)
		link := resp.Header.Get("Link")
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", ref.Familiar(), err)
		}
		tags = append(tags, doc.Tags...)
		next, err = nextLink(next, link)
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", ref.Familiar(), err)
		}
	}
	return tags, nil
}

// nextLink reads `Link: </v2/…?last=x&n=100>; rel="next"`, resolved
// against the current URL; it must stay on the same host.
func nextLink(current, header string) (string, error) {
	if header == "" {
		return "", nil
	}
	for _, part := range strings.Split(header, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		target = strings.Trim(strings.TrimSpace(target), "<>")
		base, err := url.Parse(current)
		if err != nil {
			return "", err
		}
		u, err := base.Parse(target)
		if err != nil {
			return "", fmt.Errorf("bad Link header %q: %w", header, err)
		}
		if u.Host != base.Host {
			return "", fmt.Errorf("Link header points to another host: %s", u.Host)
		}
		return u.String(), nil
	}
	return "", nil
}
