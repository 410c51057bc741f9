package pull_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/archive"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// skopeo copies src to dst with Debian's skopeo, a peer that writes
// docker-archive, oci and oci-archive copies this tool must read.
func skopeo(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed (scripts/setup.sh installs it)")
	}
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, "skopeo", append([]string{"--insecure-policy", "copy", "-q", "--src-tls-verify=false"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// openSource opens an archive source the way the command line does.
func openSource(t *testing.T, kind, path, ref string) pull.Source {
	t.Helper()
	var (
		src pull.Source
		err error
	)
	switch kind {
	case "docker-archive":
		src, err = archive.OpenDockerArchive(ctx(t), path, ref)
	case "oci":
		src, err = archive.OpenOCI(path, ref, "")
	case "oci-archive":
		src, err = archive.OpenOCIArchive(ctx(t), path, ref, "")
	}
	if err != nil {
		t.Fatalf("open %s:%s: %v", kind, path, err)
	}
	return src
}

// TestPullFromSkopeoCopies: skopeo writes docker-archive, oci and
// oci-archive copies of images in the registry; a pull from each gives
// the tree a pull from the registry gives, entry by entry, with the
// same config kept for the launcher.
func TestPullFromSkopeoCopies(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	cfg := ocispec.ImageConfig{Cmd: []string{"/bin/echo", "hi"}, Env: []string{"A=b"}, WorkingDir: "/etc"}
	images := map[string]*testimage.Image{
		"oci-gzip":  testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Gzip), Config: cfg}),
		"oci-zstd":  testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Zstd), Config: cfg}),
		"docker":    testimage.Build(testimage.Spec{Layers: baseLayers(testimage.Gzip), Config: cfg, Docker: true}),
		"plain-tar": testimage.Build(testimage.Spec{Layers: baseLayers(testimage.None), Config: cfg}),
	}
	for name, im := range images {
		push(t, reg, "src/"+name, "v1", im)
	}
	for name := range images {
		image := reg.Host + "/src/" + name + ":v1"
		want := filepath.Join(t.TempDir(), "registry")
		if _, err := pull.Pull(ctx(t), newClient(t, registry.Options{}), pull.Options{Image: image, Dir: want, Launcher: "-", Platform: amd64}); err != nil {
			t.Fatalf("registry pull of %s: %v", name, err)
		}
		wantConfig := readFile(t, rootfs.ConfigPath(want))
		for _, kind := range []string{"docker-archive", "oci", "oci-archive"} {
			t.Run(name+"/"+kind, func(t *testing.T) {
				if kind == "docker-archive" && name == "oci-zstd" {
					t.Skip("Debian's skopeo 1.9 cannot write a zstd layer to a docker-archive")
				}
				tmp := t.TempDir()
				path := filepath.Join(tmp, "copy")
				ref := "v1"
				dst := kind + ":" + path + ":" + ref
				if kind == "docker-archive" {
					path += ".tar"
					ref = reg.Host + "/src/" + name + ":v1"
					dst = kind + ":" + path + ":" + ref
				}
				skopeo(t, "docker://"+image, dst)
				dir := filepath.Join(tmp, "rootfs")
				res, err := pull.PullFrom(ctx(t), openSource(t, kind, path, ref), pull.Options{Image: dst, Dir: dir, Launcher: "-", Platform: amd64})
				if err != nil {
					t.Fatalf("pull from %s: %v", dst, err)
				}
				sameTree(t, treeSum(t, dir), treeSum(t, want))
				checkBaseTree(t, dir)
				if kind != "docker-archive" && readFile(t, rootfs.ConfigPath(dir)) != wantConfig {
					t.Errorf("config differs from the registry's")
				}
				if res.Launch.WorkingDir != "/etc" || strings.Join(res.Launch.Cmd, " ") != "/bin/echo hi" {
					t.Errorf("launcher config = %+v, want the image's", res.Launch)
				}
				// The same again: up to date, nothing done.
				res, err = pull.PullFrom(ctx(t), openSource(t, kind, path, ref), pull.Options{Image: dst, Dir: dir, Launcher: "-", Platform: amd64})
				if err != nil || !res.UpToDate {
					t.Errorf("second pull: up to date %v, %v", res != nil && res.UpToDate, err)
				}
			})
		}
	}
}

var amd64 = registry.Platform{OS: "linux", Architecture: "amd64"}

// TestPullOCIIndexPlatform: skopeo copies a multi-platform index whole
// (--all) into a layout and an archive; --platform picks from it as from
// the registry, and a platform it lacks is refused naming those it has.
func TestPullOCIIndexPlatform(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	p := testimage.Pusher{Host: reg.Host}
	if _, err := p.PushIndex(ctx(t), "src/multi", "v1", false,
		platformImage("linux", "amd64", ""), platformImage("linux", "arm64", "v8"), platformImage("linux", "arm", "v7")); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	layout, file := filepath.Join(tmp, "layout"), filepath.Join(tmp, "multi.tar")
	skopeo(t, "--all", "docker://"+reg.Host+"/src/multi:v1", "oci:"+layout+":v1")
	skopeo(t, "--all", "docker://"+reg.Host+"/src/multi:v1", "oci-archive:"+file+":v1")
	for _, kind := range []string{"oci", "oci-archive"} {
		path := map[string]string{"oci": layout, "oci-archive": file}[kind]
		for plat, want := range map[string]string{"linux/arm64": "linux/arm64/v8", "linux/arm/v7": "linux/arm/v7", "linux/amd64": "linux/amd64/", "linux/s390x": ""} {
			t.Run(kind+"/"+plat, func(t *testing.T) {
				pl, _ := registry.ParsePlatform(plat)
				dir := filepath.Join(t.TempDir(), "r")
				res, err := pull.PullFrom(ctx(t), openSource(t, kind, path, "v1"), pull.Options{Image: kind + ":" + path, Dir: dir, Launcher: "-", Platform: pl})
				if want == "" {
					var pe *registry.PlatformError
					if !errors.As(err, &pe) || !strings.Contains(pull.Explain(err, pull.Options{Image: "x"}), "linux/arm/v7") {
						t.Fatalf("err = %v, want a PlatformError listing what the index offers", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, filepath.Join(dir, "platform")); got != want {
					t.Errorf("platform file = %q, want %q", got, want)
				}
				if res.Image.IndexDigest == "" {
					t.Error("no index digest recorded")
				}
			})
		}
	}
}
