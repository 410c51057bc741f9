package registry

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Platform names an operating system, CPU architecture and variant as
// image indexes list them, e.g. linux/arm/v7.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// String formats p as os/arch[/variant].
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads "os/arch[/variant]" (or just "arch", meaning linux)
// and normalises it: aarch64 → arm64/v8, x86_64 → amd64, armhf → arm/v7 …
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	var p Platform
	switch len(parts) {
	case 1:
		p = Platform{OS: "linux", Architecture: parts[0]}
	case 2:
		p = Platform{OS: parts[0], Architecture: parts[1]}
	case 3:
		p = Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	default:
		return Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	for _, part := range parts {
		if part == "" {
			return Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64", s)
		}
	}
	return p.Normalize(), nil
}

// Normalize maps the names people and kernels use onto the ones image
// indexes use, and fills in the default variant (arm64 → v8, arm → v7), as
// containerd's platforms package does. Android is Linux to an image.
func (p Platform) Normalize() Platform {
	p.OS = strings.ToLower(p.OS)
	if p.OS == "android" {
		p.OS = "linux"
	}
	arch, variant := strings.ToLower(p.Architecture), strings.ToLower(p.Variant)
	switch arch {
	case "x86_64", "x86-64", "amd64":
		arch = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "i386", "i486", "i586", "i686", "x86", "386":
		arch, variant = "386", ""
	case "aarch64", "arm64":
		arch = "arm64"
		if variant == "8" || variant == "" {
			variant = "v8"
		}
	case "armhf":
		arch, variant = "arm", "v7"
	case "armel":
		arch, variant = "arm", "v6"
	case "arm", "armv5l", "armv6l", "armv7l", "armv8l":
		if strings.HasPrefix(arch, "armv") {
			variant = arch[3:5]
		}
		arch = "arm"
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
	}
	p.Architecture, p.Variant = arch, variant
	return p
}

// HostPlatform is the platform this binary runs on: linux (Android too),
// GOARCH, and for arm the CPU's variant read as Docker reads it.
func HostPlatform() Platform {
	p := Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = armVariant("/proc/cpuinfo")
	}
	return p.Normalize()
}

// armVariant reads "CPU architecture" from cpuinfo the way Docker's
// platforms package does: 7 → v7, 6 → v6, 8 (AArch32 on an ARMv8 core) → v8.
func armVariant(cpuinfo string) string {
	f, err := os.Open(cpuinfo)
	if err != nil {
		return builtARM()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "CPU architecture" {
			continue
		}
		switch v = strings.TrimSpace(v); {
		case strings.HasPrefix(v, "8"), strings.HasPrefix(strings.ToLower(v), "aarch64"):
			return "v8"
		case strings.HasPrefix(v, "7"):
			return "v7"
		case strings.HasPrefix(v, "6"), strings.HasPrefix(v, "5TE"):
			return "v6"
		case strings.HasPrefix(v, "5"):
			return "v5"
		}
	}
	return builtARM()
}

// builtARM is the variant this binary was built for (GOARM), the best
// guess when /proc/cpuinfo does not say (as under some emulators): a
// binary that runs here at least runs that.
func builtARM() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				return "v" + strings.SplitN(s.Value, ",", 2)[0]
			}
		}
	}
	return "v7"
}

// compatibleVariants lists, best first, the variants a host of platform p
// can run: an arm/v8 host runs v8, v7, v6 and v5 code; arm64 accepts entries
// with no variant as v8.
func compatibleVariants(p Platform) []string {
	switch p.Architecture {
	case "arm":
		all := []string{"v8", "v7", "v6", "v5"}
		for i, v := range all {
			if v == p.Variant {
				return all[i:]
			}
		}
		return []string{p.Variant}
	default:
		return []string{p.Variant}
	}
}

// matchRank reports whether an index entry's platform suits want, and how
// well (lower is better), so the best of several can be chosen.
func matchRank(want Platform, have Platform) (int, bool) {
	want, have = want.Normalize(), have.Normalize()
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return 0, false
	}
	for i, v := range compatibleVariants(want) {
		if v == have.Variant {
			return i, true
		}
	}
	return 0, false
}

// SelectManifest picks from an index's manifests the one for want, and
// returns it with every platform the index offers (for error messages).
func SelectManifest(manifests []ocispec.Descriptor, want Platform) (ocispec.Descriptor, []Platform, bool) {
	var offered []Platform
	best, bestRank, found := ocispec.Descriptor{}, 0, false
	for _, m := range manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" || m.Platform.Architecture == "unknown" {
			continue // attestations and other non-images
		}
		have := Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
		offered = append(offered, have.Normalize())
		if rank, ok := matchRank(want, have); ok && (!found || rank < bestRank) {
			best, bestRank, found = m, rank, true
		}
	}
	sort.Slice(offered, func(i, j int) bool { return offered[i].String() < offered[j].String() })
	return best, offered, found
}

// Matches reports whether an image for have runs where want is asked for,
// by the rules SelectManifest uses.
func Matches(want, have Platform) bool {
	_, ok := matchRank(want.Normalize(), have.Normalize())
	return ok
}
