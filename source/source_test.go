package source

import "testing"

func TestParse(t *testing.T) {
	d := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		arg  string
		want Spec
		err  bool
	}{
		{"ubuntu", Spec{Kind: Registry, Path: "ubuntu"}, false},
		{"ubuntu:24.04", Spec{Kind: Registry, Path: "ubuntu:24.04"}, false},
		{"127.0.0.1:5000/a/b:1", Spec{Kind: Registry, Path: "127.0.0.1:5000/a/b:1"}, false},
		{"alpine.tar.gz", Spec{Kind: Registry, Path: "alpine.tar.gz"}, false}, // a bare name is a name
		{"./alpine.tar.gz", Spec{Kind: File, Path: "./alpine.tar.gz"}, false},
		{"../x.tar", Spec{Kind: File, Path: "../x.tar"}, false},
		{"/tmp/x.tar.xz", Spec{Kind: File, Path: "/tmp/x.tar.xz"}, false},
		{"https://h/x.tar.gz", Spec{Kind: URL, Path: "https://h/x.tar.gz"}, false},
		{"http://127.0.0.1:8/x", Spec{Kind: URL, Path: "http://127.0.0.1:8/x"}, false},
		{"docker-archive:a.tar", Spec{Kind: DockerArchive, Path: "a.tar"}, false},
		{"docker-archive:a.tar:alpine:3.20", Spec{Kind: DockerArchive, Path: "a.tar", Ref: "alpine:3.20"}, false},
		{"docker-archive:a.tar:127.0.0.1:5000/x:1", Spec{Kind: DockerArchive, Path: "a.tar", Ref: "127.0.0.1:5000/x:1"}, false},
		{"docker-archive:", Spec{}, true},
		{"oci:dir", Spec{Kind: OCI, Path: "dir"}, false},
		{"oci:dir:v1", Spec{Kind: OCI, Path: "dir", Ref: "v1"}, false},
		{"oci:dir@" + d, Spec{Kind: OCI, Path: "dir", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, false},
		{"oci-archive:x.tar:v1", Spec{Kind: OCIArchive, Path: "x.tar", Ref: "v1"}, false},
		{"oci:", Spec{}, true},
		{"lxc:debian/bookworm", Spec{Kind: LXC, Path: "debian/bookworm"}, false},
		{"lxc:alpine/3.20/cloud", Spec{Kind: LXC, Path: "alpine/3.20/cloud"}, false},
		{"lxc:debian", Spec{}, true},
		{"lxc:a/b/c/d", Spec{}, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.arg)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v (error %v)", tt.arg, got, err, tt.want, tt.err)
		}
	}
}
