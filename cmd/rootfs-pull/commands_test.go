package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// fakeHub serves Docker Hub's web API shapes (there is no real Hub here):
// search results and tags with per-platform images, two pages each.
func fakeHub(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		self := "http://" + r.Host // "next" links are absolute, as Hub's are
		page := r.URL.Query().Get("page")
		switch {
		case r.URL.Path == "/v2/search/repositories/":
			if r.URL.Query().Get("query") != "alpine" {
				fmt.Fprint(w, `{"count":0,"next":null,"previous":null,"results":[]}`)
				return
			}
			if page == "" {
				fmt.Fprintf(w, `{"count":3,"next":"%s/v2/search/repositories/?query=alpine&page=2","previous":null,"results":[
{"repo_name":"alpine","short_description":"A minimal Docker image based on Alpine Linux with a complete package index and only 5 MB in size!","star_count":11234,"pull_count":9876543210,"repo_owner":"","is_automated":false,"is_official":true},
{"repo_name":"alpine/git","short_description":"A simple git container running in alpine linux","star_count":241,"pull_count":123456789,"repo_owner":"","is_automated":false,"is_official":false}]}`, self)
				return
			}
			fmt.Fprint(w, `{"count":3,"next":null,"previous":null,"results":[
{"repo_name":"someone/alpine-tools","short_description":"","star_count":3,"pull_count":1200,"repo_owner":"","is_automated":false,"is_official":false}]}`)
		case r.URL.Path == "/v2/repositories/library/alpine/tags/":
			img := func(arch, variant string, size int) string {
				return fmt.Sprintf(`{"architecture":%q,"features":"","variant":%q,"digest":"sha256:%064x","os":"linux","os_features":"","os_version":null,"size":%d,"status":"active","last_pulled":"2026-11-20T10:00:00Z","last_pushed":"2026-11-01T10:00:00Z"}`, arch, variant, size, size)
			}
			if page == "" {
				fmt.Fprintf(w, `{"count":3,"next":"%s/v2/repositories/library/alpine/tags/?page=2","previous":null,"results":[
{"creator":1,"id":1,"images":[%s,%s],"last_updated":"2026-10-01T00:00:00Z","last_updater":1,"last_updater_username":"x","name":"3.19","repository":1,"full_size":3400000,"v2":true,"tag_status":"active","tag_last_pulled":"2026-11-20T00:00:00Z","tag_last_pushed":"2026-10-01T00:00:00Z","media_type":"application/vnd.oci.image.index.v1+json","content_type":"image","digest":"sha256:%064x"},
{"creator":1,"id":2,"images":[%s],"last_updated":"2026-11-01T00:00:00Z","last_updater":1,"last_updater_username":"x","name":"s390x-only","repository":1,"full_size":3500000,"v2":true,"tag_status":"active","tag_last_pulled":null,"tag_last_pushed":"2026-11-01T00:00:00Z","media_type":"application/vnd.oci.image.index.v1+json","content_type":"image","digest":"sha256:%064x"}]}`,
					self, img(runtime.GOARCH, "", 3300000), img("s390x", "", 3200000), 1, img("s390x", "", 3500000), 2)
				return
			}
			fmt.Fprintf(w, `{"count":3,"next":null,"previous":"x","results":[
{"creator":1,"id":3,"images":[%s,{"architecture":"unknown","os":"unknown","size":1000,"digest":"sha256:%064x"}],"last_updated":"2026-11-15T00:00:00Z","name":"3.20","full_size":3600000,"digest":"sha256:%064x"}]}`,
				img(runtime.GOARCH, "", 3700000), 9, 3)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSearch(t *testing.T) {
	hub := fakeHub(t)
	r := runCLI(t, "", "search", "--hub-url", hub.URL, "alpine")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	t.Logf("search:\n%s", r.stdout)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "alpine ") || !strings.Contains(lines[0], "[official]") ||
		!strings.Contains(lines[0], "11.2k★") || !strings.Contains(lines[0], "9.9B↓") || !strings.HasPrefix(lines[2], "alpine/git ") ||
		!strings.HasPrefix(lines[4], "someone/alpine-tools") {
		t.Errorf("search output (both pages, aligned):\n%s", r.stdout)
	}
	// Aligned: the counts start in the same column.
	if strings.Index(lines[0], "★")-strings.Index(lines[2], "★") != 0 {
		t.Errorf("columns not aligned:\n%s", r.stdout)
	}
	// A narrow terminal: descriptions are cut to fit.
	r = runCLIEnv(t, []string{"COLUMNS=40"}, "search", "--hub-url", hub.URL, "alpine")
	for _, l := range strings.Split(r.stdout, "\n") {
		if n := len([]rune(l)); strings.HasPrefix(l, "  ") && n > 40 {
			t.Errorf("line of %d runes on a 40-column terminal: %q", n, l)
		}
	}
	r = runCLI(t, "", "search", "--hub-url", hub.URL, "--limit", "2", "--json", "alpine")
	var repos []struct {
		Name     string `json:"repo_name"`
		Official bool   `json:"is_official"`
		Stars    int    `json:"star_count"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &repos); err != nil || len(repos) != 2 || repos[0].Name != "alpine" || !repos[0].Official || repos[0].Stars != 11234 {
		t.Errorf("--json --limit 2: %v %s", err, r.stdout)
	}
	if r := runCLI(t, "", "search", "--hub-url", hub.URL, "nothing"); r.code != 0 || !strings.Contains(r.stdout, "No image matches") {
		t.Errorf("no results: %d %q", r.code, r.stdout)
	}
	oneErrorLine(t, runCLI(t, "", "search", "--hub-url", "http://127.0.0.1:1", "alpine"), 1, "--hub-url")
	oneErrorLine(t, runCLI(t, "", "search"), 2, "TERM")
}

func TestHubTags(t *testing.T) {
	hub := fakeHub(t)
	r := runCLI(t, "", "tags", "--hub-url", hub.URL, "alpine")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	t.Logf("tags:\n%s", r.stdout)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	// Only tags with an image for this machine, newest first, with the
	// size of this machine's image.
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "3.20 ") || !strings.HasPrefix(lines[1], "3.19 ") ||
		!strings.Contains(lines[0], "3.7 MB") || !strings.Contains(lines[1], "3.3 MB") {
		t.Errorf("tags for the host platform:\n%s", r.stdout)
	}
	r = runCLI(t, "", "tags", "--hub-url", hub.URL, "--all-platforms", "--json", "alpine")
	var doc struct {
		Tags []struct {
			Tag       string   `json:"tag"`
			Platforms []string `json:"platforms"`
		} `json:"tags"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Tags) != 3 || doc.Tags[0].Tag != "3.20" || doc.Tags[1].Tag != "s390x-only" {
		t.Errorf("--all-platforms --json: %v\n%s", err, r.stdout)
	}
	r = runCLI(t, "", "tags", "--hub-url", hub.URL, "--platform", "linux/s390x", "alpine")
	if !strings.Contains(r.stdout, "s390x-only") || strings.Contains(r.stdout, "3.20") {
		t.Errorf("--platform linux/s390x:\n%s", r.stdout)
	}
}

// tags/list against the real registry, which pages its answer (two
// pages of 100: the test counts them).
func TestRegistryTags(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	counter := faultproxy.New(reg.Host) // counts the pages
	defer counter.Close()
	im := smallImage()
	push(t, reg.Host, "demo/many", im)
	p := testimage.Pusher{Host: reg.Host, Username: "admin", Password: "adminpw"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 130 {
		if err := p.PushRaw(ctx, "demo/many", fmt.Sprintf("v%03d", i), im.Manifest.MediaType, im.Raw); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "", "tags", "--json", counter.Host+"/demo/many")
	var doc struct{ Tags []string }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Tags) != 131 {
		t.Fatalf("tags: %d tags, %v; stderr %s", len(doc.Tags), err, r.stderr)
	}
	if n := counter.TagLists.Load(); n != 2 {
		t.Errorf("%d tags/list requests, want 2 pages", n)
	}
	if doc.Tags[0] != "latest" || doc.Tags[130] != "v129" {
		t.Errorf("tags %v … %v", doc.Tags[:3], doc.Tags[128:])
	}
	oneErrorLine(t, runCLI(t, "", "tags", reg.Host+"/demo/none"), 1, "demo/none")
}

func TestInspect(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	p := testimage.Pusher{Host: reg.Host}
	mk := func(arch, variant string) *testimage.Image {
		return testimage.Build(testimage.Spec{
			Platform: ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant},
			Config: ocispec.ImageConfig{Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve", "a b"}, Env: []string{"PATH=/bin"},
				WorkingDir: "/srv", User: "app", Labels: map[string]string{"org.opencontainers.image.title": "demo"}},
			Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.File("a", "a")), Compression: testimage.Gzip},
				{Tar: testimage.Tar(testimage.File("b", "b")), Compression: testimage.Zstd}},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.PushIndex(ctx, "demo/multi", "1.0", false, mk("amd64", ""), mk("arm64", "v8")); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "inspect", "--json", "--platform", "linux/arm64", reg.Host+"/demo/multi:1.0")
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v: %s %s", err, r.stdout, r.stderr)
	}
	if doc["platform"] != "linux/arm64/v8" || len(doc["layers"].([]any)) != 2 || doc["working_dir"] != "/srv" || doc["user"] != "app" ||
		fmt.Sprint(doc["platforms"]) != "[linux/amd64 linux/arm64/v8]" || fmt.Sprint(doc["default_command"]) != "[/bin/app --serve a b]" {
		t.Errorf("inspect --json: %s", r.stdout)
	}
	r = runCLI(t, "", "inspect", reg.Host+"/demo/multi:1.0", "--platform", "linux/amd64")
	t.Logf("inspect:\n%s", r.stdout)
	for _, want := range []string{"Platform:   linux/amd64", "Platforms:  linux/amd64, linux/arm64/v8", "2 layers", "gzip", "zstd",
		"Entrypoint: /bin/app", "Cmd:        --serve 'a b'", "org.opencontainers.image.title=demo", "Pull it:    rootfs-pull "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, r.stdout)
		}
	}
	oneErrorLine(t, runCLI(t, "", "inspect", "--platform", "linux/s390x", reg.Host+"/demo/multi:1.0"), 1, "linux/s390x", "linux/arm64/v8")
}

// save writes a docker load archive that an independent reader (Debian's
// skopeo) accepts, and the rootfs unpacked from it (by umoci, from skopeo's
// OCI copy) equals the one rootfs-pull makes.
func TestSave(t *testing.T) {
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/setup.sh", tool)
		}
	}
	reg := startRegistry(t, testregistry.Options{})
	im := testimage.Build(testimage.Spec{
		Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		Layers: []testimage.Layer{
			{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/a", "a"), testimage.File("etc/gone", "x"), testimage.Symlink("lnk", "etc/a")), Compression: testimage.Gzip},
			{Tar: testimage.Tar(testimage.File("etc/.wh.gone", ""), testimage.Exec("bin", "#!/bin/sh\n")), Compression: testimage.Zstd},
		},
	})
	push(t, reg.Host, "demo/save", im)
	image := reg.Host + "/demo/save"
	dir := t.TempDir()
	for _, name := range []string{"img.tar", "img.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name)
			r := runCLI(t, "", "save", image, file)
			if r.code != 0 || !strings.Contains(r.stdout, "docker load -i") {
				t.Fatalf("save: exit %d: %s %s", r.code, r.stdout, r.stderr)
			}
			archive := file
			if strings.HasSuffix(name, ".gz") { // skopeo reads plain tars: gunzip a copy
				archive = filepath.Join(dir, "unzipped.tar")
				if out, err := exec.Command("sh", "-c", "gzip -dc "+file+" > "+archive).CombinedOutput(); err != nil {
					t.Fatalf("gunzip: %v %s", err, out)
				}
			}
			out, err := exec.Command("skopeo", "inspect", "docker-archive:"+archive).CombinedOutput()
			if err != nil {
				t.Fatalf("skopeo inspect: %v\n%s", err, out)
			}
			var info struct {
				Layers []string
			}
			json.Unmarshal(out, &info)
			if len(info.Layers) != 2 {
				t.Errorf("skopeo sees %d layers: %s", len(info.Layers), out)
			}
			oci := filepath.Join(dir, "oci-"+name)
			if out, err := exec.Command("skopeo", "copy", "docker-archive:"+archive, "oci:"+oci+":x").CombinedOutput(); err != nil {
				t.Fatalf("skopeo copy: %v\n%s", err, out)
			}
			bundle := filepath.Join(dir, "bundle-"+name)
			args := []string{"unpack", "--image", oci + ":x", bundle}
			if os.Geteuid() != 0 {
				args = append([]string{"--rootless"}, args...)
			}
			if out, err := exec.Command("umoci", args...).CombinedOutput(); err != nil {
				t.Fatalf("umoci unpack: %v\n%s", err, out)
			}
			pulled := filepath.Join(dir, "pulled-"+name)
			if r := runCLI(t, "", "--launcher", "-", image, pulled); r.code != 0 {
				t.Fatalf("pull: %s", r.stderr)
			}
			got, want := contentTree(t, filepath.Join(bundle, "rootfs")), contentTree(t, pulled)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("rootfs from the saved archive differs from the pulled one:\n got %v\nwant %v", got, want)
			}
		})
	}
	// An interrupted or failed save leaves no file under the name.
	bad := filepath.Join(dir, "absent.tar")
	oneErrorLine(t, runCLI(t, "", "save", reg.Host+"/demo/absent", bad), 1, "demo/absent")
	if _, err := os.Stat(bad); err == nil {
		t.Errorf("a failed save left %s", bad)
	}
}

// contentTree maps the image's own files to type, mode and content hash
// (what the runtime adds — resolv.conf, hosts, mount points — left out).
func contentTree(t *testing.T, root string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		switch rel {
		case ".", ".rootfs-pull", "proc", "sys", "dev", "tmp", "etc/resolv.conf", "etc/hosts":
			if d.IsDir() && rel != "." && rel != "etc" {
				return filepath.SkipDir
			}
			return nil
		}
		fi, _ := d.Info()
		desc := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %x", sha256.Sum256(b))
		} else if fi.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			desc += " -> " + l
		}
		out[rel] = desc
		return nil
	})
	return out
}

func runCLIEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := command(t, ctx, "", args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	}
	return r
}

// rm removes a rootfs, read-only directories and all, with its launcher;
// it refuses what rootfs-pull did not make and a rootfs with mounts.
func TestRm(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	ro := testimage.Dir("ro/")
	ro.Mode = 0555
	push(t, reg.Host, "demo/rm", testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(ro, testimage.File("ro/file", "x")), Compression: testimage.Gzip},
	}}))
	parent := t.TempDir()
	dir := filepath.Join(parent, "rm")
	if r := runCLI(t, "", reg.Host+"/demo/rm", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	script := filepath.Join(parent, "start-rm.sh")
	if _, err := os.Stat(script); err != nil {
		t.Fatal(err)
	}

	if os.Geteuid() == 0 {
		// A bind mount inside (as a chroot container has): refused, and
		// the host's directory behind it untouched.
		host := t.TempDir()
		os.WriteFile(filepath.Join(host, "precious"), []byte("host"), 0644)
		if out, err := exec.Command("mount", "--bind", host, filepath.Join(dir, "ro")).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		oneErrorLine(t, runCLI(t, "", "rm", dir), 1, "mount", "ruri -U")
		// The same rootfs reached through a symlink: the mount is still seen.
		link := filepath.Join(t.TempDir(), "link")
		os.Symlink(parent, link)
		oneErrorLine(t, runCLI(t, "", "rm", filepath.Join(link, "rm")), 1, "mount")
		exec.Command("umount", filepath.Join(dir, "ro")).Run()
		if b, _ := os.ReadFile(filepath.Join(host, "precious")); string(b) != "host" {
			t.Fatal("rm reached through a mount")
		}
	}

	r := runCLI(t, "", "rm", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "Removed") {
		t.Fatalf("rm: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{dir, script} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s survived rm", p)
		}
	}
	mine := t.TempDir()
	os.WriteFile(filepath.Join(mine, "f"), nil, 0644)
	oneErrorLine(t, runCLI(t, "", "rm", mine), 1, "not removing it")
	if _, err := os.Stat(filepath.Join(mine, "f")); err != nil {
		t.Error("rm touched a directory rootfs-pull did not make")
	}
}

// state.json lives inside the rootfs, where a container process (proot
// runs it as the user) can rewrite it. rm handed its "launcher" field to
// launcher.IsFor, which read whatever it named with os.ReadFile: a FIFO
// hung rm forever, /dev/zero grew its memory without bound, and as root a
// device node named was opened and read. rm now finishes, removes the
// rootfs, and reads nothing there but a small regular file outside it.
func TestRmLauncherFieldFIFO(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "evil/rmfifo", busyboxImage(t, ocispec.ImageConfig{Cmd: []string{"/bin/true"}}))
	dir := filepath.Join(t.TempDir(), "x")
	if r := runCLI(t, "", "-q", reg.Host+"/evil/rmfifo", dir); r.code != 0 {
		t.Fatalf("pull: exit %d: %s", r.code, r.stderr)
	}
	// What a process in the container does: mkfifo /f, and point the
	// state's launcher field at it.
	fifo := filepath.Join(dir, "f")
	if err := syscall.Mkfifo(fifo, 0644); err != nil {
		t.Fatal(err)
	}
	setStateLauncher(t, dir, fifo)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := command(t, ctx, "", "rm", dir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("rootfs-pull rm hangs on a FIFO named by the state's launcher field (container-writable): %q", out)
	}
	if err != nil {
		t.Fatalf("rm: %v: %s", err, out)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("rm left %s", dir)
	}
}

// setStateLauncher does what a container process can: rewrite the
// state's launcher field.
func setStateLauncher(t *testing.T, dir, launcher string) {
	t.Helper()
	sp := filepath.Join(dir, ".rootfs-pull", "state.json")
	raw, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	st["launcher"] = launcher
	raw, _ = json.Marshal(st)
	if err := os.WriteFile(sp, raw, 0644); err != nil {
		t.Fatal(err)
	}
}

// start-command printed, as the way to start the rootfs, whatever file
// the state's "launcher" field named, if it existed. state.json is inside
// the rootfs, writable by a container process (proot runs it as the
// user): it names a script it wrote in the rootfs, and the user who runs
// the printed start command runs it on the host. The script is now named
// only when launcher.IsFor says it is this rootfs's, outside it; else the
// runtime command line is the start command.
func TestStartCommandUntrustedLauncher(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "evil/stlauncher", busyboxImage(t, ocispec.ImageConfig{Cmd: []string{"/bin/true"}}))
	parent := t.TempDir()
	dir := filepath.Join(parent, "x")
	if r := runCLI(t, "", "-q", reg.Host+"/evil/stlauncher", dir); r.code != 0 {
		t.Fatalf("pull: exit %d: %s", r.code, r.stderr)
	}
	startCommand := func() []string {
		t.Helper()
		r := runCLI(t, "", "start-command", "--json", dir)
		var doc struct {
			StartCommand   []string `json:"start_command"`
			RuntimeCommand []string `json:"runtime_command"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.StartCommand) == 0 {
			t.Fatalf("start-command --json: %v: %s %s", err, r.stdout, r.stderr)
		}
		return doc.StartCommand
	}
	real := filepath.Join(parent, "start-x.sh")
	if got := startCommand(); !slices.Equal(got, []string{real}) {
		t.Fatalf("start-command names %q, not the launcher %s", got, real)
	}
	// A container process: writes /tmp/start.sh, a copy of the launcher
	// (naming this rootfs by its absolute path) with its own command
	// first, and points the state at it.
	b, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	evil := filepath.Join(dir, "tmp", "start.sh")
	forged := strings.Replace(string(b), `rootfs="$here"/x`, "rootfs="+dir+"\necho host code", 1)
	if forged == string(b) {
		t.Fatal("the launcher's rootfs line changed: fix the test")
	}
	if err := os.WriteFile(evil, []byte(forged), 0755); err != nil {
		t.Fatal(err)
	}
	for _, named := range []string{evil, "/bin/sh", filepath.Join(parent, "start-x.sh.missing")} {
		setStateLauncher(t, dir, named)
		if got := startCommand(); got[0] == named || filepath.Base(got[0]) == "start.sh" {
			t.Errorf("start-command tells the user to run %s, named by state.json's launcher field (container-writable): %q", named, got)
		}
		r := runCLI(t, "", "start-command", dir)
		if r.code != 0 || strings.Contains(r.stdout, named) || !strings.Contains(r.stdout, "proot") && !strings.Contains(r.stdout, "chroot") {
			t.Errorf("start-command with the state naming %s: exit %d\n%s%s", named, r.code, r.stdout, r.stderr)
		}
	}
}
