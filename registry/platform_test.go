package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParsePlatform(t *testing.T) {
	tests := []struct{ in, want string }{
		{"linux/amd64", "linux/amd64"},
		{"amd64", "linux/amd64"},
		{"x86_64", "linux/amd64"},
		{"linux/arm64", "linux/arm64/v8"},
		{"linux/aarch64", "linux/arm64/v8"},
		{"android/arm64", "linux/arm64/v8"},
		{"linux/arm", "linux/arm/v7"},
		{"linux/arm/7", "linux/arm/v7"},
		{"linux/armhf", "linux/arm/v7"},
		{"linux/armel", "linux/arm/v6"},
		{"linux/armv6l", "linux/arm/v6"},
		{"linux/i686", "linux/386"},
		{"Linux/RISCV64", "linux/riscv64"},
	}
	for _, tt := range tests {
		p, err := ParsePlatform(tt.in)
		if err != nil || p.String() != tt.want {
			t.Errorf("ParsePlatform(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
	for _, bad := range []string{"", "linux/", "/amd64", "a/b/c/d"} {
		if p, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) = %v, want an error", bad, p)
		}
	}
}

func desc(os, arch, variant string) ocispec.Descriptor {
	return ocispec.Descriptor{Digest: digest.Digest("sha256:" + os + arch + variant), Platform: &ocispec.Platform{OS: os, Architecture: arch, Variant: variant}}
}

func TestSelectManifest(t *testing.T) {
	full := []ocispec.Descriptor{
		desc("linux", "amd64", ""), desc("linux", "arm64", "v8"), desc("linux", "arm", "v7"), desc("linux", "arm", "v6"),
		desc("linux", "386", ""), desc("unknown", "unknown", ""), desc("windows", "amd64", ""),
	}
	tests := []struct {
		name  string
		index []ocispec.Descriptor
		want  string
		found string // "" when nothing matches
	}{
		{"amd64", full, "linux/amd64", "linux/amd64"},
		{"arm64", full, "linux/arm64", "linux/arm64/v8"},
		{"arm v7 exact", full, "linux/arm/v7", "linux/arm/v7"},
		{"arm v8 (AArch32) takes the best older", full, "linux/arm/v8", "linux/arm/v7"},
		{"arm v6 never gets v7", full, "linux/arm/v6", "linux/arm/v6"},
		{"arm64 entry without variant", []ocispec.Descriptor{desc("linux", "arm64", "")}, "linux/arm64", "linux/arm64/v8"},
		{"arm entry without variant is v7", []ocispec.Descriptor{desc("linux", "arm", "")}, "linux/arm/v7", "linux/arm/v7"},
		{"arm v5 host cannot run v6", []ocispec.Descriptor{desc("linux", "arm", "v6")}, "linux/arm/v5", ""},
		{"android is linux", full, "android/arm64", "linux/arm64/v8"},
		{"missing", full, "linux/s390x", ""},
	}
	for _, tt := range tests {
		want, _ := ParsePlatform(tt.want)
		got, offered, ok := SelectManifest(tt.index, want)
		if tt.found == "" {
			if ok {
				t.Errorf("%s: selected %v, want nothing", tt.name, got.Platform)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: nothing selected from %v", tt.name, offered)
			continue
		}
		if p := (Platform{got.Platform.OS, got.Platform.Architecture, got.Platform.Variant}).Normalize(); p.String() != tt.found {
			t.Errorf("%s: selected %s, want %s", tt.name, p, tt.found)
		}
	}
	_, offered, _ := SelectManifest(full, Platform{OS: "linux", Architecture: "s390x"})
	for _, p := range offered {
		if p.OS == "unknown" {
			t.Errorf("offered list includes an attestation entry: %v", offered)
		}
	}
	if len(offered) != 6 {
		t.Errorf("offered %v, want 6 platforms", offered)
	}
}

func TestArmVariant(t *testing.T) {
	dir := t.TempDir()
	for cpu, want := range map[string]string{"7": "v7", "6TEJ": "v6", "8": "v8", "AArch64": "v8", "5TE": "v6"} {
		p := filepath.Join(dir, "cpuinfo")
		os.WriteFile(p, []byte("processor\t: 0\nCPU architecture: "+cpu+"\nHardware\t: x\n"), 0644)
		if got := armVariant(p); got != want {
			t.Errorf("CPU architecture %q → %s, want %s", cpu, got, want)
		}
	}
	if got := armVariant(filepath.Join(dir, "missing")); got != "v7" {
		t.Errorf("unreadable cpuinfo → %s, want v7", got)
	}
}
