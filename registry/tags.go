package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Bounds on a tag listing: a registry that keeps sending Link headers, or
// pages of any size, cannot make Tags loop forever or hold more than
// maxTagBytes of answers.
const (
	maxTagPages = 1000
	maxTags     = 100_000
	maxTagBytes = 16 << 20 // all pages together
)

// tagPage is how many tags to ask for per page.
const tagPage = 100

// tagRE is the tag grammar of the distribution spec.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Tags lists the repository's tags with the registry API
// (/v2/NAME/tags/list), following Link pagination on the same host and
// scheme, in the registry's order. At most maxTags tags in maxTagPages
// pages of maxTagBytes in all; a name that is not a valid tag is refused
// (ErrMalformed), so every tag returned is safe to print.
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
	budget := int64(maxTagBytes)
	for page := 0; next != ""; page++ {
		if page == maxTagPages {
			return nil, fmt.Errorf("tags of %s: more than %d pages", ref.Familiar(), maxTagPages)
		}
		resp, err := c.do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", ref.Familiar(), err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, budget+1))
		link := resp.Header.Get("Link")
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", ref.Familiar(), err)
		}
		if budget -= int64(len(body)); budget < 0 {
			return nil, fmt.Errorf("tags of %s: the registry sent more than %d MiB of tag lists", ref.Familiar(), maxTagBytes>>20)
		}
		var doc struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("tags of %s: %w", ref.Familiar(), err)
		}
		for _, t := range doc.Tags {
			if !tagRE.MatchString(t) {
				return nil, fmt.Errorf("tags of %s: %q is not a tag name: %w", ref.Familiar(), safetext.Cut(t, 80), ErrMalformed)
			}
		}
		if len(tags)+len(doc.Tags) > maxTags {
			return nil, fmt.Errorf("tags of %s: more than %d tags", ref.Familiar(), maxTags)
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
// against the current URL; it must stay on the same host and scheme.
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
			return "", fmt.Errorf("bad Link header %q: %w", safetext.Cut(header, 80), err)
		}
		if u.Host != base.Host || u.Scheme != base.Scheme || u.User != nil {
			return "", fmt.Errorf("the Link header leaves %s://%s for %q: %w", base.Scheme, base.Host, safetext.Cut(target, 80), ErrMalformed)
		}
		return u.String(), nil
	}
	return "", nil
}
