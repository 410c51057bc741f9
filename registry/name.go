package registry

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// DockerHubDomain is the domain Docker gives names without one.
const DockerHubDomain = "docker.io"

// dockerHubAPIHost is where Docker Hub's registry API actually lives.
const dockerHubAPIHost = "registry-1.docker.io"

// Reference is a parsed image name: registry domain, repository path and a
// tag and/or digest, normalised the way Docker normalises names.
type Reference struct {
	Domain string        // e.g. "docker.io", "127.0.0.1:5000"
	Path   string        // e.g. "library/ubuntu"
	Tag    string        // "latest" when neither tag nor digest was given
	Digest digest.Digest // empty unless the name pinned one
}

// ParseReference parses an image name as `docker pull` reads it: "ubuntu",
// "ubuntu:24.04", "library/ubuntu", "docker.io/x/y", "host:5000/a/b/c:tag",
// "name@sha256:…" and "name:tag@sha256:…".
func ParseReference(s string) (Reference, error) {
	if strings.TrimSpace(s) == "" {
		return Reference{}, fmt.Errorf("empty image name")
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("invalid image name %q: %w", s, err)
	}
	r := Reference{Domain: reference.Domain(named), Path: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest()
		if err := r.Digest.Validate(); err != nil {
			return Reference{}, fmt.Errorf("invalid digest in %q: %w", s, err)
		}
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// Host is the host[:port] that serves the registry API for this reference
// (Docker Hub's "docker.io" is served by registry-1.docker.io).
func (r Reference) Host() string {
	if r.Domain == DockerHubDomain {
		return dockerHubAPIHost
	}
	return r.Domain
}

// Name is the repository without tag or digest, e.g. "docker.io/library/ubuntu".
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// Identifier is what the manifest is fetched by: the digest when the
// reference has one, otherwise the tag.
func (r Reference) Identifier() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// String is the full normalised name, e.g. "docker.io/library/ubuntu:24.04".
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// Familiar is the short form Docker prints, e.g. "ubuntu:24.04".
func (r Reference) Familiar() string {
	s := r.Name()
	if r.Domain == DockerHubDomain {
		s = strings.TrimPrefix(r.Path, "library/")
	}
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}
