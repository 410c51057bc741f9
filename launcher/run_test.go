package launcher_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/pull"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// These tests pull busybox images from the real registry and start them
// with the launcher under the real proot and chroot, asserting on what
// the container prints.

var (
	regOnce sync.Once
	reg     *testregistry.Registry
	regErr  error
)

func registryHost(t *testing.T) string {
	t.Helper()
	regOnce.Do(func() { reg, regErr = testregistry.Start(testregistry.Options{}) })
	if regErr != nil {
		t.Fatal(regErr)
	}
	return reg.Host
}

// workDir is a directory an unprivileged user can enter too.
func workDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "launcher-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0755)
	t.Cleanup(func() { exec.Command("rm", "-rf", d).Run() })
	return d
}

// pullImage pushes a busybox image with cfg and pulls it into a new rootfs;
// it returns the launcher's path.
func pullImage(t *testing.T, name string, cfg ocispec.ImageConfig, extra ...testimage.Entry) string {
	t.Helper()
	bb, err := testimage.Busybox("/bin/busybox")
	if err != nil {
		t.Fatalf("%v (run scripts/setup.sh)", err)
	}
	layers := []testimage.Layer{{Tar: bb, Compression: testimage.Gzip}}
	if len(extra) > 0 {
		layers = append(layers, testimage.Layer{Tar: testimage.Tar(extra...), Compression: testimage.Gzip})
	}
	return pushAndPull(t, name, testimage.Spec{Config: cfg, Layers: layers})
}

func pushAndPull(t *testing.T, name string, spec testimage.Spec) string {
	t.Helper()
	host := registryHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := (testimage.Pusher{Host: host}).Push(ctx, "launcher/"+name, "latest", testimage.Build(spec)); err != nil {
		t.Fatal(err)
	}
	client, err := registry.NewClient(registry.Options{NoDockerConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(workDir(t), name)
	plat := registry.Platform{}
	if spec.Platform.Architecture != "" {
		plat = registry.Platform{OS: spec.Platform.OS, Architecture: spec.Platform.Architecture, Variant: spec.Platform.Variant}
	}
	res, err := pull.Pull(ctx, client, pull.Options{Image: host + "/launcher/" + name, Dir: dir, Platform: plat})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if res.Launcher != launcher.DefaultName(dir) {
		t.Fatalf("launcher at %q, want %q", res.Launcher, launcher.DefaultName(dir))
	}
	return res.Launcher
}

type run struct {
	runtime string
	user    int // run the launcher as this uid (0: as the test runs)
	env     []string
	stdin   string
}

// start runs the launcher and returns stdout, stderr and the exit status.
func start(t *testing.T, script string, r run, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME="+r.runtime, "LEAK_CHECK=host-only", "TERM=xterm-test")
	if r.user != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(r.user), Gid: uint32(r.user)}}
		cmd.Env = append(cmd.Env, "HOME=/tmp", "TMPDIR=/tmp")
	}
	cmd.Env = append(cmd.Env, r.env...) // last: the test's own values win
	cmd.Stdin = strings.NewReader(r.stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	return out.String(), errb.String(), code
}

func mustStart(t *testing.T, script string, r run, args ...string) string {
	t.Helper()
	out, errOut, code := start(t, script, r, args...)
	if code != 0 {
		t.Fatalf("%s %q under %s exited %d\nstdout: %s\nstderr: %s", script, args, r.runtime, code, out, errOut)
	}
	return out
}

// runtimes lists the ways the tests start containers: proot as this user,
// and as root also proot as an unprivileged user (Termux) and chroot.
func runtimes(t *testing.T) []run {
	rs := []run{{runtime: "proot"}}
	if os.Geteuid() == 0 {
		rs = append(rs, run{runtime: "proot", user: 65534}, run{runtime: "chroot"})
	} else {
		t.Log("not root: chroot is tested when the tests run as root")
	}
	return rs
}

func name(r run) string {
	if r.user != 0 {
		return r.runtime + "-as-nobody"
	}
	return r.runtime
}

func TestLaunchDockerSemantics(t *testing.T) {
	script := pullImage(t, "cmd", ocispec.ImageConfig{
		Env:        []string{"PATH=/bin", "FOO=bar baz", "TRICKY=it's $HOME"},
		WorkingDir: "/home/user",
		Cmd:        []string{"/bin/sh", "-c", `echo default; env; echo "pwd=$(pwd) uid=$(id -u)"`},
	})
	if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("sh -n %s: %v\n%s", script, err, out)
	}
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			out := mustStart(t, script, r)
			for _, want := range []string{"default\n", "FOO=bar baz\n", "TRICKY=it's $HOME\n", "PATH=/bin\n", "HOME=/root\n", "TERM=xterm-test\n", "pwd=/home/user uid=0\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("default command: output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "LEAK_CHECK") {
				t.Errorf("the host's environment leaked in:\n%s", out)
			}

			// Arguments replace Cmd and survive intact.
			args := []string{"printf", "<%s>\n", "a b", `c'd"e`, "$f", "g\nh", ""}
			want := "<a b>\n<c'd\"e>\n<$f>\n<g\nh>\n<>\n"
			if got := mustStart(t, script, r, args...); got != want {
				t.Errorf("args: got %q, want %q", got, want)
			}
			// -e adds and overrides; -- lets a command start with a dash.
			got := mustStart(t, script, r, "-e", "FOO=over", "-e", "NEW=x y", "--", "sh", "-c", `echo "$FOO|$NEW"`)
			if got != "over|x y\n" {
				t.Errorf("-e: got %q", got)
			}
			if got := mustStart(t, script, r, "cat", "/etc/resolv.conf"); !strings.Contains(got, "nameserver ") {
				t.Errorf("no DNS in the container: %q", got)
			}
			if got := mustStart(t, script, r, "cat", "/etc/hosts"); !strings.Contains(got, "localhost") {
				t.Errorf("no localhost in /etc/hosts: %q", got)
			}
		})
	}
}

func TestLaunchEntrypoint(t *testing.T) {
	script := pullImage(t, "entry", ocispec.ImageConfig{
		Entrypoint: []string{"/bin/echo", "entry:"},
		Cmd:        []string{"default arg"},
	})
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			if got := mustStart(t, script, r); got != "entry: default arg\n" {
				t.Errorf("Entrypoint + Cmd: %q", got)
			}
			if got := mustStart(t, script, r, "x", "y z"); got != "entry: x y z\n" {
				t.Errorf("Entrypoint + args: %q", got)
			}
			// --entrypoint replaces the Entrypoint and drops the Cmd.
			if got := mustStart(t, script, r, "--entrypoint", "/bin/echo"); got != "\n" {
				t.Errorf("--entrypoint alone (the image's Cmd must be dropped): %q", got)
			}
			if got := mustStart(t, script, r, "--entrypoint", "/bin/printf", "%s-", "a", "b"); got != "a-b-" {
				t.Errorf("--entrypoint with args: %q", got)
			}
		})
	}
}

func TestLaunchUser(t *testing.T) {
	script := pullImage(t, "user", ocispec.ImageConfig{
		User:       "user",
		WorkingDir: "/home/user",
		Cmd:        []string{"/bin/sh", "-c", `echo "$(id -u):$(id -g) $HOME $(pwd)"`},
	})
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			if got := mustStart(t, script, r); got != "1000:1000 /home/user /home/user\n" {
				t.Errorf("User: got %q", got)
			}
		})
	}
}

func TestLaunchNoCommand(t *testing.T) {
	script := pullImage(t, "none", ocispec.ImageConfig{Env: []string{"PATH=/bin"}})
	out, errOut, code := start(t, script, run{runtime: "proot", stdin: "echo from stdin\n"})
	if code != 0 || out != "from stdin\n" || !strings.Contains(errOut, "/bin/sh") {
		t.Errorf("no Entrypoint or Cmd: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// The launcher finds the rootfs beside itself: the pair can be moved.
func TestLaunchMoved(t *testing.T) {
	script := pullImage(t, "moved", ocispec.ImageConfig{Cmd: []string{"/bin/echo", "moved ok"}})
	dir := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(script), "start-"), ".sh")
	to := filepath.Join(workDir(t), "new place")
	if err := os.MkdirAll(to, 0755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{script, filepath.Join(filepath.Dir(script), dir)} {
		if err := os.Rename(p, filepath.Join(to, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustStart(t, filepath.Join(to, filepath.Base(script)), run{runtime: "proot"}); got != "moved ok\n" {
		t.Errorf("after the move: %q", got)
	}
}

// chroot's mounts live in a private mount namespace: none is left on the
// host after the container ends, even when two run at once or one is
// killed.
func TestLaunchChrootMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root; CI runs the tests as root")
	}
	script := pullImage(t, "mounts", ocispec.ImageConfig{Cmd: []string{"/bin/sh"}})
	rootfs := filepath.Join(filepath.Dir(script), "mounts")
	inside := mustStart(t, script, run{runtime: "chroot"}, "sh", "-c", "cat /proc/self/mountinfo; ls /dev/null /dev/pts/ptmx")
	for _, want := range []string{" /proc ", " /sys ", " /dev ", " /dev/shm ", "/dev/null"} {
		if !strings.Contains(inside, want) {
			t.Errorf("inside the chroot, %q is missing:\n%s", want, inside)
		}
	}

	// One long and one short container at once, and one killed midway.
	long := exec.Command(script, "sleep", "30")
	long.Env = append(os.Environ(), "ROOTFS_RUNTIME=chroot")
	long.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	mustStart(t, script, run{runtime: "chroot"}, "true")
	time.Sleep(200 * time.Millisecond)
	syscall.Kill(-long.Process.Pid, syscall.SIGKILL)
	long.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		mi, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(mi), rootfs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mounts under %s remain on the host:\n%s", rootfs, mi)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An arm64 image on another host runs through qemu-user under proot.
func TestLaunchForeignArch(t *testing.T) {
	arch := "arm64"
	if goarch := runtimeGOARCH(); goarch == "arm64" {
		arch = "amd64"
	}
	if _, ok := launcher.FindQemu(launcher.QemuArch(arch)); !ok {
		t.Fatalf("qemu-%s-static is missing: run scripts/setup.sh (Debian's qemu-user-static)", launcher.QemuArch(arch))
	}
	bin := filepath.Join(t.TempDir(), "hello")
	build := exec.Command("go", "build", "-o", bin, "./testdata/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the %s test program: %v\n%s", arch, err, out)
	}
	hello, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	script := pushAndPull(t, "foreign", testimage.Spec{
		Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		Config:   ocispec.ImageConfig{Entrypoint: []string{"/hello"}, Cmd: []string{"default"}},
		Layers: []testimage.Layer{{Tar: testimage.Tar(testimage.Exec("hello", string(hello)), testimage.Dir("tmp/")),
			Compression: testimage.Gzip}},
	})
	got := mustStart(t, script, run{runtime: "proot"}, "a b")
	if want := "hello from linux/" + arch + ": [a b]\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func runtimeGOARCH() string { return goruntime.GOARCH }
