package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// The release binaries, built once with scripts/build.sh (as make release
// does) for the tests below.
var (
	releaseOnce sync.Once
	releaseDir  string
	releaseErr  error
)

const testVersion = "v9.9.9-test"

func releaseBinaries(t *testing.T) string {
	t.Helper()
	releaseOnce.Do(func() {
		releaseDir, releaseErr = os.MkdirTemp("", "rootfs-pull-release-")
		if releaseErr != nil {
			return
		}
		for _, target := range []string{"linux/arm64", "linux/arm/v7", "android/arm64", "linux/" + runtime.GOARCH} {
			if out, err := buildRelease(target, releaseDir, ""); err != nil {
				releaseErr = fmt.Errorf("%s: %v\n%s", target, err, out)
				return
			}
		}
	})
	if releaseErr != nil {
		t.Fatal(releaseErr)
	}
	return releaseDir
}

func buildRelease(target, dir, gocache string) ([]byte, error) {
	cmd := exec.Command("sh", "scripts/build.sh", target, dir)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "VERSION="+testVersion, "COMMIT=0123456789ab")
	if gocache != "" {
		cmd.Env = append(cmd.Env, "GOCACHE="+gocache)
	}
	return cmd.CombinedOutput()
}

// Two builds of the same source, one from an empty build cache, give the
// same bytes; the binary is static, stripped, for the right machine, and
// stamped.
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds from an empty cache")
	}
	dir := releaseBinaries(t)
	fresh := t.TempDir()
	if out, err := buildRelease("linux/arm64", fresh, t.TempDir()); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "rootfs-pull-linux-arm64"))
	b, _ := os.ReadFile(filepath.Join(fresh, "rootfs-pull-linux-arm64"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("two builds differ: %x vs %x", sha256.Sum256(a), sha256.Sum256(b))
	}
	if len(a) > 15<<20 {
		t.Errorf("%d bytes: over 15 MiB", len(a))
	}
	f, err := elf.Open(filepath.Join(dir, "rootfs-pull-linux-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("machine %v", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("dynamically linked (has an interpreter)")
		}
	}
	if s := f.Section(".symtab"); s != nil {
		t.Errorf("not stripped: has .symtab")
	}
	out, err := exec.Command("qemu-aarch64-static", filepath.Join(dir, "rootfs-pull-linux-arm64"), "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) || !strings.Contains(string(out), "0123456789ab") {
		t.Errorf("--version under qemu: %v %s", err, out)
	}
}

// Under Debian's qemu-user-static, the arm64 binary pulls the arm64 image
// of a multi-platform index and the arm/v7 binary the arm/v7 one, with no
// --platform: host detection works on those machines.
func TestReleaseEmulatedPull(t *testing.T) {
	dir := releaseBinaries(t)
	reg := startRegistry(t, testregistry.Options{})
	img := func(arch, variant string) *testimage.Image {
		return testimage.Build(testimage.Spec{
			Platform: ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant},
			Layers:   []testimage.Layer{{Tar: testimage.Tar(testimage.File("platform", arch+variant)), Compression: testimage.Gzip}},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := (testimage.Pusher{Host: reg.Host}).PushIndex(ctx, "demo/multi", "latest", false,
		img("amd64", ""), img("arm64", "v8"), img("arm", "v7"), img("arm", "v6")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ qemu, binary, want string }{
		{"qemu-aarch64-static", "rootfs-pull-linux-arm64", "arm64v8"},
		{"qemu-arm-static", "rootfs-pull-linux-armv7", "armv7"},
	} {
		t.Run(tt.binary, func(t *testing.T) {
			if _, err := exec.LookPath(tt.qemu); err != nil {
				t.Fatalf("%s is missing: run scripts/setup.sh (qemu-user-static)", tt.qemu)
			}
			root := filepath.Join(t.TempDir(), "r")
			cmd := exec.CommandContext(ctx, tt.qemu, filepath.Join(dir, tt.binary), "--no-cache", "--launcher", "-", "--json", reg.Host+"/demo/multi", root)
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got, _ := os.ReadFile(filepath.Join(root, "platform")); string(got) != tt.want {
				t.Errorf("pulled the %q image, want %q\n%s", got, tt.want, out)
			}
		})
	}
}

// scripts/install.sh picks this machine's binary from a release
// directory, checks it against SHA256SUMS, and installs it.
func TestInstallScript(t *testing.T) {
	dir := releaseBinaries(t)
	sums := ""
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "rootfs-pull-") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		sums += fmt.Sprintf("%x  %s\n", sha256.Sum256(b), e.Name())
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums), 0644)
	install := func(env []string, args ...string) (string, error) {
		cmd := exec.Command("sh", append([]string{"../../scripts/install.sh"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	bin := t.TempDir()
	out, err := install(nil, "--from", dir, "--bindir", bin)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	v, err := exec.Command(filepath.Join(bin, "rootfs-pull"), "--version").Output()
	if err != nil || !strings.Contains(string(v), testVersion) {
		t.Errorf("installed binary: %v %s", err, v)
	}

	// Termux: into $PREFIX/bin, and the android build on aarch64.
	prefix := t.TempDir()
	if out, _ := install([]string{"TERMUX_VERSION=0.118", "PREFIX=" + prefix, "ROOTFS_PULL_UNAME_M=aarch64"}, "--print-target"); strings.TrimSpace(out) != "android-arm64" {
		t.Errorf("Termux on aarch64 picks %q", out)
	}
	if out, _ := install([]string{"ROOTFS_PULL_UNAME_M=aarch64", "ROOTFS_PULL_LONG_BIT=32"}, "--print-target"); strings.TrimSpace(out) != "linux-armv7" {
		t.Errorf("a 32-bit userland on an aarch64 kernel picks %q", out)
	}
	if out, err := install([]string{"TERMUX_VERSION=0.118", "PREFIX=" + prefix}, "--from", dir); err != nil {
		t.Errorf("Termux install: %v\n%s", err, out)
	} else if _, err := os.Stat(filepath.Join(prefix, "bin", "rootfs-pull")); err != nil {
		t.Errorf("not installed into $PREFIX/bin: %v", err)
	}

	// A tampered binary is refused, and nothing is installed.
	bad := t.TempDir()
	b, _ := os.ReadFile(filepath.Join(dir, "rootfs-pull-linux-"+runtime.GOARCH))
	os.WriteFile(filepath.Join(bad, "rootfs-pull-linux-"+runtime.GOARCH), append(b, 0), 0755)
	os.WriteFile(filepath.Join(bad, "SHA256SUMS"), []byte(sums), 0644)
	into := t.TempDir()
	out, err = install(nil, "--from", bad, "--bindir", into)
	if err == nil || !strings.Contains(out, "checksum mismatch") {
		t.Errorf("tampered binary: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(into, "rootfs-pull")); err == nil {
		t.Errorf("a tampered binary was installed")
	}
}
