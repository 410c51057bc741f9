package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

type sourceJSON struct {
	Image        string   `json:"image"`
	Reference    string   `json:"reference"`
	Digest       string   `json:"digest"`
	Platform     string   `json:"platform"`
	Source       string   `json:"source"`
	Verified     bool     `json:"verified"`
	UpToDate     bool     `json:"up_to_date"`
	StartCommand []string `json:"start_command"`
	Default      []string `json:"default_command"`
}

func pullJSON(t *testing.T, args ...string) sourceJSON {
	t.Helper()
	r := runCLI(t, "", append([]string{"--json", "--platform", "linux/amd64"}, args...)...)
	if r.code != 0 {
		t.Fatalf("rootfs-pull %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	var doc sourceJSON
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output %q: %v", r.stdout, err)
	}
	return doc
}

// TestPullSourcesCLI: each kind of source, named as a user names it,
// pulls the tree a registry pull gives, with --json saying where it came
// from and whether it was verified, and a launcher.
func TestPullSourcesCLI(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	im := testimage.Build(testimage.Spec{
		Config: ocispec.ImageConfig{Cmd: []string{"/bin/echo", "hi"}},
		Layers: []testimage.Layer{
			{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/a", "a"), testimage.File("etc/gone", "x"), testimage.Symlink("lnk", "etc/a")), Compression: testimage.Gzip},
			{Tar: testimage.Tar(testimage.File("etc/.wh.gone", ""), testimage.Exec("bin", "#!/bin/sh\n")), Compression: testimage.Zstd},
		},
	})
	push(t, reg.Host, "demo/src", im)
	image := reg.Host + "/demo/src"
	tmp := t.TempDir()
	want := filepath.Join(tmp, "registry")
	pullJSON(t, image, want)
	wantTree := contentTree(t, want)

	saved := filepath.Join(tmp, "saved.tar")
	savedGz := filepath.Join(tmp, "saved.tar.gz")
	for _, f := range []string{saved, savedGz} {
		if r := runCLI(t, "", "save", "--platform", "linux/amd64", image, f); r.code != 0 {
			t.Fatalf("save: %s", r.stderr)
		}
	}
	oci := filepath.Join(tmp, "layout")
	if out, err := exec.Command("skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", "docker://"+image, "oci:"+oci+":v1").CombinedOutput(); err != nil {
		t.Fatalf("skopeo: %v %s", err, out)
	}
	for _, tt := range []struct{ arg, kind string }{
		{"docker-archive:" + saved, "docker-archive"},
		{"docker-archive:" + savedGz + ":" + image + ":latest", "docker-archive"},
		{"oci:" + oci + ":v1", "oci"},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rootfs")
			doc := pullJSON(t, tt.arg, dir)
			if doc.Source != tt.kind || !doc.Verified || doc.Image == "" || doc.Digest == "" || doc.Platform != "linux/amd64" {
				t.Errorf("--json = %+v", doc)
			}
			if got := contentTree(t, dir); fmt.Sprint(got) != fmt.Sprint(wantTree) {
				t.Errorf("tree from %s differs from the registry pull:\n got %v\nwant %v", tt.arg, got, wantTree)
			}
			if strings.Join(doc.Default, " ") != "/bin/echo hi" || len(doc.StartCommand) != 1 {
				t.Errorf("start %v, default %v", doc.StartCommand, doc.Default)
			}
			if _, err := os.Stat(doc.StartCommand[0]); err != nil {
				t.Errorf("launcher: %v", err)
			}
			if again := pullJSON(t, tt.arg, dir); !again.UpToDate {
				t.Errorf("the same pull again is not up to date")
			}
		})
	}

	t.Run("tarball", func(t *testing.T) {
		blob := testimage.Compress(testimage.Tar(testimage.Dir("mini/"), testimage.Dir("mini/bin/"), testimage.File("mini/bin/sh", "#!"),
			testimage.Dir("mini/etc/"), testimage.File("mini/etc/passwd", "root:x:0:0::/root:/bin/sh\n")), testimage.Xz)
		file := filepath.Join(t.TempDir(), "mini.tar.xz")
		os.WriteFile(file, blob, 0644)
		sum := sha256.Sum256(blob)
		dir := filepath.Join(t.TempDir(), "mini")
		doc := pullJSON(t, "--sha256", hex.EncodeToString(sum[:]), file, dir)
		if doc.Source != "file" || !doc.Verified || strings.Join(doc.Default, " ") != "/bin/sh -l" {
			t.Errorf("--json = %+v", doc)
		}
		if _, err := os.Stat(filepath.Join(dir, "bin/sh")); err != nil {
			t.Errorf("wrapper directory not stripped: %v", err)
		}
		r := runCLI(t, "", "--platform", "linux/amd64", file, filepath.Join(t.TempDir(), "unverified"))
		if r.code != 0 || !strings.Contains(r.stderr, "was not verified: no --sha256") || !strings.Contains(r.stderr, hex.EncodeToString(sum[:])) {
			t.Errorf("without --sha256: exit %d, stderr %q; want a note with its sha256", r.code, r.stderr)
		}
		oneErrorLine(t, runCLI(t, "", "-q", "--sha256", strings.Repeat("0", 64), file, filepath.Join(t.TempDir(), "bad")), 1, "digest mismatch", "tampered")
	})

	t.Run("lxc", func(t *testing.T) {
		rootfsXz := testimage.Compress(testimage.Tar(testimage.Dir("./"), testimage.Dir("./bin/"), testimage.File("./bin/sh", "#!"),
			testimage.Dir("./etc/"), testimage.File("./etc/passwd", "root:x:0:0::/root:/bin/sh\n")), testimage.Xz)
		srv := lxcTestServer(t, rootfsXz)
		dir := filepath.Join(t.TempDir(), "debian")
		doc := pullJSON(t, "--lxc-server", srv.URL, "lxc:debian/bookworm", dir)
		if doc.Source != "lxc" || !doc.Verified || !strings.Contains(doc.Image, "lxc:debian/bookworm") {
			t.Errorf("--json = %+v", doc)
		}
		absent := filepath.Join(t.TempDir(), "absent")
		oneErrorLine(t, runCLI(t, "", "-q", srv.URL+"/absent.tar.xz", absent), 1, "404")
		assertNotReady(t, absent)
		oneErrorLine(t, runCLI(t, "", "-q", "--lxc-server", srv.URL, "lxc:debian/sid", absent), 1, "no such LXC image", "search lxc:")
		r := runCLI(t, "", "search", "--lxc-server", srv.URL, "lxc:")
		if r.code != 0 || !strings.Contains(r.stdout, "debian/bookworm") {
			t.Errorf("search lxc: exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, "", "tags", "--lxc-server", srv.URL, "--platform", "linux/amd64", "lxc:debian")
		if r.code != 0 || !strings.Contains(r.stdout, "bookworm") || !strings.Contains(r.stdout, "20240102_05:24") {
			t.Errorf("tags lxc:debian: exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("errors", func(t *testing.T) {
		wd := t.TempDir()
		notes := filepath.Join(wd, "notes.txt")
		os.WriteFile(notes, []byte("text\n"), 0644)
		oneErrorLine(t, runCLI(t, "", notes, filepath.Join(wd, "r")), 1, "is not a rootfs tarball")
		oneErrorLine(t, runCLI(t, "", saved, filepath.Join(wd, "r")), 1, "docker-archive:"+saved)
		oneErrorLine(t, runCLI(t, "", oci, filepath.Join(wd, "r")), 1, "oci:"+oci)
		oneErrorLine(t, runCLI(t, "", "--sha256", "abc", image, filepath.Join(wd, "r")), 2, "--sha256")
		oneErrorLine(t, runCLI(t, "", "lxc:debian", filepath.Join(wd, "r")), 2, "lxc:DISTRO/RELEASE")
		oneErrorLine(t, runCLI(t, "", "docker-archive:"+filepath.Join(wd, "absent.tar"), filepath.Join(wd, "r")), 1, "absent.tar")
		oneErrorLine(t, runCLI(t, "", "oci:"+oci+":nope", filepath.Join(wd, "r")), 1, "nope", "v1")
		cmd := command(t, t.Context(), "", "notes.txt", "r")
		cmd.Dir = wd
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "./notes.txt") {
			t.Errorf("a bare file name: exit %d, %q; want 2 and a hint to write ./notes.txt", code, out)
		}
	})
}

// lxcTestServer serves one build of debian/bookworm (amd64 and arm64)
// as an LXC image server does.
func lxcTestServer(t *testing.T, rootfsXz []byte) *httptest.Server {
	sum := sha256.Sum256(rootfsXz)
	products := map[string]any{}
	for _, arch := range []string{"amd64", "arm64"} {
		products["debian:bookworm:"+arch+":default"] = map[string]any{"arch": arch, "os": "Debian", "release": "bookworm", "variant": "default",
			"versions": map[string]any{"20240102_05:24": map[string]any{"items": map[string]any{"root.tar.xz": map[string]any{
				"ftype": "root.tar.xz", "path": "images/debian/bookworm/" + arch + "/default/20240102_05:24/rootfs.tar.xz",
				"sha256": hex.EncodeToString(sum[:]), "size": len(rootfsXz)}}}}}
	}
	files := map[string][]byte{}
	files["/streams/v1/index.json"], _ = json.Marshal(map[string]any{"index": map[string]any{"images": map[string]any{"datatype": "image-downloads", "path": "streams/v1/images.json"}}})
	files["/streams/v1/images.json"], _ = json.Marshal(map[string]any{"products": products})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := files[r.URL.Path]; ok {
			w.Write(b)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/rootfs.tar.xz") {
			w.Write(rootfsXz)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
