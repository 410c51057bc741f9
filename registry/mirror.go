package registry

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// ParseMirror reads a mirror as "host[:port][/path/prefix]" (a mirror of
// Docker Hub) or "REGISTRY=host[:port][/path/prefix]" (a mirror of
// REGISTRY). It returns the registry it mirrors and the mirror.
func ParseMirror(s string) (registry, mirror string, err error) {
	registry = DockerHubDomain
	if r, m, ok := strings.Cut(s, "="); ok {
		registry, s = r, m
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s = strings.TrimSuffix(s, "/")
	host, prefix, _ := strings.Cut(s, "/")
	if host == "" || registry == "" {
		return "", "", fmt.Errorf("mirror %q: want host[:port][/prefix] or REGISTRY=host[:port][/prefix]", s)
	}
	probe := host + "/x"
	if prefix != "" {
		probe = host + "/" + prefix + "/x"
	}
	if _, err := reference.ParseNormalizedNamed(probe); err != nil {
		return "", "", fmt.Errorf("mirror %q: %w", s, err)
	}
	return registry, s, nil
}

// sources lists where ref may be fetched from, in order: the source that
// served its manifest first, then its mirrors, then its own registry.
func (c *Client) sources(ref Reference) []Reference {
	var out []Reference
	for _, m := range c.opts.Mirrors[ref.Domain] {
		host, prefix, _ := strings.Cut(m, "/")
		mr := ref
		mr.Domain = host
		if prefix != "" {
			mr.Path = prefix + "/" + ref.Path
		}
		out = append(out, mr)
	}
	out = append(out, ref)
	for _, r := range out {
		c.guard.addRegistry(r.Host())
	}
	if s, ok := c.served.Load(ref.String()); ok {
		first := s.(Reference)
		rest := []Reference{first}
		for _, r := range out {
			if r != first {
				rest = append(rest, r)
			}
		}
		out = rest
	}
	return out
}

// sourceError is the error when every source failed: the origin's (the
// last tried), noting how many mirrors failed before it.
func sourceError(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("%w (and %d mirror(s) before it: %v)", errs[len(errs)-1], len(errs)-1, errors.Join(errs[:len(errs)-1]...))
}
