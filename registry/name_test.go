package registry

import "testing"

func TestParseReference(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in                            string
		domain, path, tag, dgst, host string
		familiar                      string
	}{
		{"ubuntu", "docker.io", "library/ubuntu", "latest", "", "registry-1.docker.io", "ubuntu:latest"},
		{"ubuntu:24.04", "docker.io", "library/ubuntu", "24.04", "", "registry-1.docker.io", "ubuntu:24.04"},
		{"library/ubuntu", "docker.io", "library/ubuntu", "latest", "", "registry-1.docker.io", "ubuntu:latest"},
		{"docker.io/x/y", "docker.io", "x/y", "latest", "", "registry-1.docker.io", "x/y:latest"},
		{"index.docker.io/x/y:1", "docker.io", "x/y", "1", "", "registry-1.docker.io", "x/y:1"},
		{"host:5000/a/b/c:tag", "host:5000", "a/b/c", "tag", "", "host:5000", "host:5000/a/b/c:tag"},
		{"localhost/app", "localhost", "app", "latest", "", "localhost", "localhost/app:latest"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", "", "127.0.0.1:5000", "127.0.0.1:5000/app:latest"},
		{"[::1]:5000/app", "[::1]:5000", "app", "latest", "", "[::1]:5000", "[::1]:5000/app:latest"},
		{"ghcr.io/org/img", "ghcr.io", "org/img", "latest", "", "ghcr.io", "ghcr.io/org/img:latest"},
		{"busybox@" + d, "docker.io", "library/busybox", "", d, "registry-1.docker.io", "busybox@" + d},
		{"busybox:1.36@" + d, "docker.io", "library/busybox", "1.36", d, "registry-1.docker.io", "busybox:1.36@" + d},
	}
	for _, tt := range tests {
		r, err := ParseReference(tt.in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", tt.in, err)
			continue
		}
		if r.Domain != tt.domain || r.Path != tt.path || r.Tag != tt.tag || string(r.Digest) != tt.dgst || r.Host() != tt.host {
			t.Errorf("ParseReference(%q) = %+v (host %s)", tt.in, r, r.Host())
		}
		if got := r.Familiar(); got != tt.familiar {
			t.Errorf("Familiar(%q) = %q, want %q", tt.in, got, tt.familiar)
		}
		want := tt.dgst
		if want == "" {
			want = tt.tag
		}
		if r.Identifier() != want {
			t.Errorf("Identifier(%q) = %q, want %q", tt.in, r.Identifier(), want)
		}
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	for _, in := range []string{"", "  ", "UPPER", "a b", "x@sha256:short", "-bad", "host:port/x", "a:b:c"} {
		if r, err := ParseReference(in); err == nil {
			t.Errorf("ParseReference(%q) = %+v, want an error", in, r)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.1.2.3": true, "localhost:5000": true, "[::1]:5000": true, "::1": true,
		"registry.localhost": true, "10.0.0.1:5000": false, "docker.io": false, "localhost.example.com": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
