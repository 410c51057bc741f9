package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// The tests run the real command: the test binary re-executes itself as
// rootfs-pull when this variable is set, so flags, exit statuses, signals
// and output are those a user sees.
const asCLI = "ROOTFS_PULL_TEST_AS_CLI"

func TestMain(m *testing.M) {
	androidsim.RunnerIfChild() // a run in the Android world (phone_world_test.go)
	if os.Getenv(asCLI) == "1" {
		main()
		return
	}
	code := m.Run()
	if releaseDir != "" {
		os.RemoveAll(releaseDir)
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// command prepares rootfs-pull ARGS with an empty docker config.
func command(t *testing.T, ctx context.Context, stdin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCLI+"=1", "DOCKER_CONFIG="+t.TempDir(), "TERM=dumb", "XDG_CACHE_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(t, ctx, stdin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return r
}

// oneErrorLine asserts the failure contract: the exit status, and exactly
// one line on stderr, starting with the program's name and containing each
// of want.
func oneErrorLine(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "rootfs-pull: ") {
		t.Errorf("stderr is not one rootfs-pull: line:\n%s", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stack trace on stderr: %s", r.stderr)
	}
}

func startRegistry(t *testing.T, opts testregistry.Options) *testregistry.Registry {
	t.Helper()
	reg, err := testregistry.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return reg
}

func push(t *testing.T, host, name string, im *testimage.Image) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := testimage.Pusher{Host: host, Username: "admin", Password: "adminpw"}
	if err := p.Push(ctx, name, "latest", im); err != nil {
		t.Fatalf("push %s: %v", name, err)
	}
}

func smallImage() *testimage.Image {
	return testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/hello", "hello\n")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("etc/second", "2\n")), Compression: testimage.Zstd},
	}})
}

func TestPullHuman(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "demo/small", smallImage())
	dir := filepath.Join(t.TempDir(), "small")
	image := reg.Host + "/demo/small"

	r := runCLI(t, "", image, dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, w := range []string{"Pulled " + image, "into " + dir, "2 layers", "Start it with:\n  "} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	// Not a terminal: plain lines, no carriage returns or escapes.
	if strings.Count(r.stderr, ": applied") != 2 || strings.ContainsAny(r.stderr, "\r\033") {
		t.Errorf("progress on a pipe:\n%q", r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/second")); err != nil || string(b) != "2\n" {
		t.Errorf("etc/second = %q, %v", b, err)
	}

	// Again: nothing to do, and it says so. The explicit "pull" form and
	// flags after the arguments are accepted too.
	r = runCLI(t, "", "pull", image, dir, "-q")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("quiet re-run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", image, dir)
	if r.code != 0 || !strings.Contains(r.stdout, "is up to date") {
		t.Errorf("re-run: exit %d, stdout %q", r.code, r.stdout)
	}

	// start-command prints the same start lines again; a custom launcher
	// path is honoured and recorded.
	script := filepath.Join(t.TempDir(), "go.sh")
	if r := runCLI(t, "", image, dir, "--launcher", script, "--runtime", "proot"); r.code != 0 {
		t.Fatalf("--launcher: exit %d: %s", r.code, r.stderr)
	}
	r = runCLI(t, "", "start-command", dir)
	if r.code != 0 || !strings.Contains(r.stdout, script) || !strings.Contains(r.stdout, "Without the launcher (proot):\n  env -i ") {
		t.Errorf("start-command: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	r = runCLI(t, "", "start-command", "--runtime", "chroot", dir)
	if !strings.Contains(r.stdout, "(chroot):\n  env -i -- PATH=") {
		t.Errorf("start-command --runtime chroot:\n%s", r.stdout)
	}
	oneErrorLine(t, runCLI(t, "", "start-command", t.TempDir()), 1, "pull an image into it first")
}

func TestPullJSON(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	im := smallImage()
	push(t, reg.Host, "demo/small", im)
	dir := filepath.Join(t.TempDir(), "small")

	r := runCLI(t, "", reg.Host+"/demo/small", dir, "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("--json wrote to stderr: %q", r.stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	want := map[string]any{
		"image": reg.Host + "/demo/small:latest", "reference": reg.Host + "/demo/small:latest",
		"digest": im.Desc.Digest.String(), "dir": dir, "layers": 2.0, "up_to_date": false,
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	if want := filepath.Join(filepath.Dir(dir), "start-small.sh"); doc["launcher"] != want {
		t.Errorf("launcher = %v, want %s", doc["launcher"], want)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "start-small.sh")); err != nil {
		t.Errorf("no launcher written: %v", err)
	}
	for _, k := range []string{"platform", "size", "seconds", "start_command", "default_command", "runtime", "runtime_command", "stats", "resumed_layers"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("field %s missing: %s", k, r.stdout)
		}
	}

	// A failure with --json: one line on stderr, and {"error": …} on stdout.
	r = runCLI(t, "", "--json", reg.Host+"/demo/absent", filepath.Join(t.TempDir(), "x"))
	oneErrorLine(t, r, 1, "demo/absent", "not found")
	var e struct{ Error string }
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.Error == "" {
		t.Errorf("failure stdout = %q (%v), want {\"error\": …}", r.stdout, err)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"one argument", []string{"alpine"}, []string{"want IMAGE and DIR"}},
		{"three arguments", []string{"alpine", "a", "b"}, []string{"want IMAGE and DIR"}},
		{"unknown flag", []string{"--frobnicate", "alpine", dir}, []string{"frobnicate"}},
		{"bad name", []string{"Alpine:Latest", dir}, []string{"Alpine"}},
		{"bad platform", []string{"--platform", "linux/", "alpine", dir}, []string{"linux/"}},
		{"username without password", []string{"-u", "me", "alpine", dir}, []string{"--password-stdin"}},
		{"password without username", []string{"--password-stdin", "alpine", dir}, []string{"--username"}},
		{"bad runtime", []string{"--runtime", "docker", "alpine", dir}, []string{"docker", "proot"}},
		{"bad dns", []string{"--dns", "one.one", "alpine", dir}, []string{"one.one"}},
		{"bad mirror", []string{"--mirror", "host!", "alpine", dir}, []string{"host!"}},
		{"bad jobs", []string{"--jobs", "0", "alpine", dir}, []string{"--jobs"}},
		{"no blob connections", []string{"--blob-connections", "0", "alpine", dir}, []string{"--blob-connections", "1 to 8"}},
		{"too many blob connections", []string{"--blob-connections", "9", "alpine", dir}, []string{"--blob-connections", "1 to 8"}},
		{"start-command without DIR", []string{"start-command"}, []string{"DIR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oneErrorLine(t, runCLI(t, "", tt.args...), 2, tt.want...)
		})
	}

	r := runCLI(t, "")
	if r.code != 0 || !strings.Contains(r.stdout, "rootfs-pull [options] IMAGE DIR") {
		t.Errorf("no arguments: exit %d, want help on stdout:\n%s", r.code, r.stdout)
	}
}

func TestFailures(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{
		TokenAuth: true, PrivatePrefix: "private/",
		Users: map[string]string{"admin": "adminpw", "alice": "s3cret"},
	})
	push(t, reg.Host, "private/app", smallImage())
	push(t, reg.Host, "public/app", smallImage())
	image := reg.Host + "/private/app"

	t.Run("anonymous on a private repository", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		oneErrorLine(t, runCLI(t, "", image, dir), 1, "private/app", "--username")
		assertNotReady(t, dir)
	})
	t.Run("wrong password", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		oneErrorLine(t, runCLI(t, "wrong\n", "-u", "alice", "--password-stdin", image, dir), 1, "alice")
		assertNotReady(t, dir)
	})
	t.Run("right password", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		r := runCLI(t, "s3cret\n", "-u", "alice", "--password-stdin", image, dir)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
	t.Run("credentials from DOCKER_CONFIG", func(t *testing.T) {
		cfg := t.TempDir()
		auth := fmt.Sprintf(`{"auths":{%q:{"auth":"YWxpY2U6czNjcmV0"}}}`, reg.Host) // alice:s3cret
		if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(auth), 0600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := command(t, ctx, "", image, filepath.Join(t.TempDir(), "r"))
		cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+cfg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	})
	t.Run("missing image", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "r")
		oneErrorLine(t, runCLI(t, "", reg.Host+"/public/nothing:here", dir), 1, "public/nothing")
		if _, err := os.Lstat(dir); err == nil {
			t.Errorf("a failed pull left the directory it would have made")
		}
		// An existing empty directory a failed run used stays usable.
		dir = t.TempDir()
		oneErrorLine(t, runCLI(t, "", reg.Host+"/public/nothing:here", dir), 1, "public/nothing")
		if r := runCLI(t, "", reg.Host+"/public/app", dir); r.code != 0 {
			t.Errorf("pull into the directory after a failed one: exit %d: %s", r.code, r.stderr)
		}
	})
	t.Run("unreachable registry", func(t *testing.T) {
		addr := "127.0.0.1:1" // refused: a closed test server's port may be reused
		// Quiet: the retries it makes first are progress lines otherwise.
		oneErrorLine(t, runCLI(t, "", "-q", addr+"/a/b", filepath.Join(t.TempDir(), "r")), 1, addr, "cannot reach")
	})
	t.Run("non-empty directory", func(t *testing.T) {
		dir := t.TempDir()
		keep := filepath.Join(dir, "precious")
		if err := os.WriteFile(keep, []byte("mine"), 0644); err != nil {
			t.Fatal(err)
		}
		oneErrorLine(t, runCLI(t, "", reg.Host+"/public/app", dir), 1, dir, "--force")
		entries, _ := os.ReadDir(dir)
		if b, _ := os.ReadFile(keep); string(b) != "mine" || len(entries) != 1 {
			t.Errorf("the user's directory was touched: %v", entries)
		}
	})
}

func assertNotReady(t *testing.T, dir string) {
	t.Helper()
	if st, err := rootfs.LoadState(dir); err == nil && st.Status == rootfs.StatusReady {
		t.Errorf("%s claims to be ready after a failed pull", dir)
	}
}

// stallingProxy forwards to a registry; while stall is set, a blob
// download sends its first bytes and then hangs, like a dead mobile link.
type stallingProxy struct {
	*httptest.Server
	stall   atomic.Bool
	stalled chan struct{}
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	p := &stallingProxy{stalled: make(chan struct{}, 8)}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.stall.Load() || !strings.Contains(r.URL.Path, "/blobs/") {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		if len(body) < 1<<20 {
			w.Write(body) // the config: let it through
			return
		}
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		p.stalled <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}))
	t.Cleanup(p.Close)
	return p
}

// Ctrl-C stops promptly with status 130; kill -9 cannot be caught at all.
// Either way the rootfs is not ready, and the same command finishes it.
func TestInterrupt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) { interrupt(t, sig) })
	}
}

func interrupt(t *testing.T, sig syscall.Signal) {
	reg := startRegistry(t, testregistry.Options{})
	big := make([]byte, 4<<20) // random: gzip cannot shrink it below the stall threshold
	rand.Read(big)
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.File("first", "1")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("big", string(big))), Compression: testimage.Gzip},
	}})
	push(t, reg.Host, "demo/big", im)
	proxy := newStallingProxy(t, reg.Host)
	proxy.stall.Store(true)
	image := proxy.Listener.Addr().String() + "/demo/big"
	dir := filepath.Join(t.TempDir(), "big")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := command(t, ctx, "", image, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proxy.stalled:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the pull never reached the big layer: %s", stderr.String())
	}
	// The big layer may be fetched ahead while the first is applied: cut
	// only once the first is recorded as applied.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err := rootfs.LoadState(dir); err == nil && st.Layers[0].Applied {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the first layer was never applied")
		}
	}
	cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v did not stop the pull within 10s", sig)
	}
	if sig == syscall.SIGINT {
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("exit status %d after Ctrl-C, want 130; stderr:\n%s", code, stderr.String())
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "rootfs-pull: ") || !strings.Contains(last, "interrupted") {
			t.Errorf("last stderr line %q, want the interruption explained", last)
		}
	}
	st, err := rootfs.LoadState(dir)
	if err != nil {
		t.Fatalf("no state after the interrupted pull: %v", err)
	}
	if st.Status == rootfs.StatusReady || !st.Layers[0].Applied || st.Layers[1].Applied {
		t.Errorf("state after %v = %+v, want pulling with layer 1 applied only", sig, st)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "start-big.sh")); err == nil {
		t.Errorf("a launcher was written for an unfinished rootfs")
	}

	// The network is back: the same command finishes the job.
	proxy.stall.Store(false)
	r := runCLI(t, "", image, dir, "--json")
	if r.code != 0 {
		t.Fatalf("resume: exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Resumed int `json:"resumed_layers"`
	}
	json.Unmarshal([]byte(r.stdout), &doc)
	if doc.Resumed != 1 {
		t.Errorf("resumed_layers = %d, want 1", doc.Resumed)
	}
	got, err := os.ReadFile(filepath.Join(dir, "big"))
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("big file after resume: %d bytes, %v", len(got), err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "first")); string(b) != "1" {
		t.Errorf("first = %q", b)
	}
}

func TestCacheCommand(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	push(t, reg.Host, "demo/small", smallImage())
	cacheDir := t.TempDir()
	if r := runCLI(t, "", "--cache-dir", cacheDir, reg.Host+"/demo/small", filepath.Join(t.TempDir(), "r")); r.code != 0 {
		t.Fatalf("pull: %s", r.stderr)
	}
	r := runCLI(t, "", "cache", "--json", "--cache-dir", cacheDir)
	var doc struct{ Blobs int }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Blobs != 3 {
		t.Errorf("cache --json = %q (%v), want 3 blobs", r.stdout, err)
	}
	oneErrorLine(t, runCLI(t, "", "cache", "prune", "--cache-dir", cacheDir), 2, "--older-than")
	if r := runCLI(t, "", "cache", "prune", "--cache-dir", cacheDir, "--older-than", "1h"); !strings.Contains(r.stdout, "Removed 0 blobs") {
		t.Errorf("prune --older-than 1h: %q %q", r.stdout, r.stderr)
	}
	if r := runCLI(t, "", "cache", "prune", "--all", "--cache-dir", cacheDir); !strings.Contains(r.stdout, "Removed 3 blobs") {
		t.Errorf("prune --all: %q %q", r.stdout, r.stderr)
	}
	// --no-cache: nothing written.
	other := t.TempDir()
	runCLI(t, "", "--no-cache", "--cache-dir", other, reg.Host+"/demo/small", filepath.Join(t.TempDir(), "r"))
	if r := runCLI(t, "", "cache", "--cache-dir", other); !strings.Contains(r.stdout, "0 blobs") {
		t.Errorf("--no-cache filled the cache: %q", r.stdout)
	}
}
