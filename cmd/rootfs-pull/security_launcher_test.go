package main

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// busyboxImage is a runnable image with cfg and extra entries.
func busyboxImage(t *testing.T, cfg ocispec.ImageConfig, extra ...testimage.Entry) *testimage.Image {
	t.Helper()
	im, err := testimage.BusyboxImage("/bin/busybox", cfg, extra...)
	if err != nil {
		t.Fatalf("%v (run scripts/setup.sh)", err)
	}
	return im
}

func randomName(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// runLauncher starts a launcher with runtime, as the user would.
func runLauncher(t *testing.T, script, runtime string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME="+runtime)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Issue 14, finding 1: an image's Env entry without '=' (or one that env
// reads as its option) was run by `env -i` as a program on the host, when
// the container started, outside it (as root under chroot). The real
// binary pulls such images, warns, and nothing runs on the host whether
// the container starts through the launcher (proot; chroot as root) or
// through the printed command.
func TestPullEnvNeverRunsOnHost(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	for _, tc := range []struct {
		name string
		env  func(canary string) []string
	}{
		{"program", func(c string) []string { return []string{"sh", "-c", "touch " + c} }},
		{"split-string", func(c string) []string { return []string{"--split-string=sh -c 'touch " + c + "'", "PATH=/bin"} }},
		{"dash-s", func(c string) []string { return []string{"-S", "touch " + c} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			canary := "/tmp/PWNED-" + randomName(t)
			t.Cleanup(func() { os.Remove(canary) })
			env := tc.env(canary)
			push(t, reg.Host, "evil/"+tc.name, busyboxImage(t, ocispec.ImageConfig{Env: env, Cmd: []string{"/bin/echo", "container ran"}}))
			dir := filepath.Join(t.TempDir(), "evil")
			image := reg.Host + "/evil/" + tc.name

			r := runCLI(t, "", image, dir)
			if r.code != 0 {
				t.Fatalf("pull: exit %d: %s", r.code, r.stderr)
			}
			var warning string
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.HasPrefix(l, "rootfs-pull: warning: ") {
					if warning != "" {
						t.Errorf("more than one warning line:\n%s", r.stderr)
					}
					warning = l
				}
			}
			if warning == "" || !strings.Contains(warning, "Env") || !strings.Contains(warning, "NAME=VALUE") {
				t.Errorf("no warning about the dropped Env entries:\n%s", r.stderr)
			}
			for _, kv := range env {
				if strings.HasPrefix(kv, "PATH=") {
					continue
				}
				want := kv
				if len(want) > 60 {
					want = want[:60]
				}
				if !strings.Contains(warning, want) {
					t.Errorf("warning does not name %q: %s", want, warning)
				}
			}
			if len(warning) > 400 {
				t.Errorf("warning is %d bytes long: %s", len(warning), warning)
			}
			// --quiet: nothing; --json: the list in the document, not on stderr.
			if q := runCLI(t, "", "-q", image, dir); q.code != 0 || q.stderr != "" {
				t.Errorf("--quiet: exit %d, stderr %q", q.code, q.stderr)
			}
			j := runCLI(t, "", "--json", image, dir)
			var doc struct {
				Dropped        []string `json:"dropped_env"`
				RuntimeCommand []string `json:"runtime_command"`
			}
			if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil || j.stderr != "" {
				t.Errorf("--json: %v, stderr %q", err, j.stderr)
			}
			if len(doc.Dropped) == 0 {
				t.Errorf("--json: no dropped_env: %s", j.stdout)
			}

			script := filepath.Join(filepath.Dir(dir), "start-evil.sh")
			runtimes := []string{"proot"}
			if os.Geteuid() == 0 {
				runtimes = append(runtimes, "chroot")
			}
			for _, rt := range runtimes {
				out, err := runLauncher(t, script, rt)
				if err != nil || !strings.Contains(out, "container ran") {
					t.Errorf("%s: %v: %s", rt, err, out)
				}
			}
			// The printed command, pasted.
			sc := runCLI(t, "", "start-command", "--json", "--runtime", "proot", dir)
			if err := json.Unmarshal([]byte(sc.stdout), &doc); err != nil {
				t.Fatalf("start-command --json: %v: %s", err, sc.stdout)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if out, err := exec.CommandContext(ctx, doc.RuntimeCommand[0], doc.RuntimeCommand[1:]...).CombinedOutput(); err != nil || !strings.Contains(string(out), "container ran") {
				t.Errorf("printed command %q: %v: %s", doc.RuntimeCommand, err, out)
			}
			if _, err := os.Lstat(canary); err == nil {
				t.Fatalf("the image's Env ran a command on the host: %s exists", canary)
			}
		})
	}
}

// Hardening: the image's architecture and variant name a qemu binary
// (qemu-ARCH-static) and go to ruri's -a: only known ones are accepted,
// and a pull of anything else fails before it writes anything.
func TestPullHostileArchitecture(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	host := ocispec.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	for i, p := range []ocispec.Platform{
		{OS: "linux", Architecture: "../../tmp/x"},
		{OS: "linux", Architecture: "x86_64; rm -rf ~"},
		{OS: "linux", Architecture: "arm", Variant: "v7/../../x"},
		{OS: "linux", Architecture: "aarch64\nld"},
		{OS: "linux/../x", Architecture: goruntime.GOARCH},
	} {
		bb, err := testimage.Busybox("/bin/busybox")
		if err != nil {
			t.Fatal(err)
		}
		im := testimage.Build(testimage.Spec{Platform: p, Config: ocispec.ImageConfig{Cmd: []string{"/bin/true"}},
			Layers: []testimage.Layer{{Tar: bb, Compression: testimage.Gzip}}})
		im.Desc.Platform = &host // the index offers it as the host's: only the config lies
		name := "evil/arch" + string(rune('a'+i))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := (testimage.Pusher{Host: reg.Host, Username: "admin", Password: "adminpw"}).PushIndex(ctx, name, "latest", false, im); err != nil {
			t.Fatal(err)
		}
		cancel()
		dir := filepath.Join(t.TempDir(), "x")
		r := runCLI(t, "", reg.Host+"/"+name, dir)
		what := "architecture"
		if p.Variant != "" {
			what = "variant"
		} else if strings.Contains(p.OS, "/") {
			what = "os"
		}
		oneErrorLine(t, r, 1, what)
		if strings.ContainsAny(strings.TrimSuffix(r.stderr, "\n"), "\n\r") {
			t.Errorf("control characters from the image on stderr: %q", r.stderr)
		}
		if _, err := os.Lstat(dir); err == nil {
			t.Errorf("%q: the pull wrote %s", p.Architecture, dir)
		}
		if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "start-x.sh")); err == nil {
			t.Errorf("%q: a launcher was written", p.Architecture)
		}
	}
}

// Issue 14, finding 4: a FIFO as the image's /etc/passwd hung the pull
// forever (Ctrl-C could not stop it); a device node there was opened as
// root. The pull now ends promptly with one clear line.
func TestPullUserDBNotRegular(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only a root pull makes FIFOs and device nodes; CI runs the tests as root")
	}
	reg := startRegistry(t, testregistry.Options{})
	for _, tc := range []struct {
		name  string
		entry testimage.Entry
		want  string
	}{
		{"fifo", testimage.Entry{Name: "etc/passwd", Type: tar.TypeFifo, Mode: 0644}, "FIFO"},
		{"device", testimage.Entry{Name: "etc/group", Type: tar.TypeChar, Mode: 0644}, "device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			push(t, reg.Host, "evil/"+tc.name, busyboxImage(t, ocispec.ImageConfig{Cmd: []string{"/bin/true"}}, tc.entry))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := filepath.Join(t.TempDir(), "x")
			cmd := command(t, ctx, "", "-q", reg.Host+"/evil/"+tc.name, dir)
			var errb strings.Builder
			cmd.Stderr = &errb
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("the pull hangs on a %s as the image's user database", tc.name)
			}
			ee, ok := err.(*exec.ExitError)
			r := result{stderr: errb.String()}
			if ok {
				r.code = ee.ExitCode()
			}
			oneErrorLine(t, r, 1, tc.want, "not a regular file")
			// A container that cannot be started is not a ready rootfs.
			assertNotReady(t, dir)
		})
	}
}

// The container's command followed proot's options with nothing to end
// them (proot has no --): an image whose Entrypoint (or Cmd) started with
// a dash handed proot options of its choice. "-r /" made the host's / the
// container's root, so the "container's" /bin/sh was the host's, writing
// the host's files; "-q PROG" ran a host program. The launcher and the
// printed command line both did it. Now the pull refuses such an image
// with one line; a rootfs pulled before (its config holding one) gets no
// printed command; and the launcher refuses a command of the user's that
// starts with - (a usage error), running nothing, as root and as nobody.
func TestPullRefusesDashProgram(t *testing.T) {
	reg := startRegistry(t, testregistry.Options{})
	canary := "/tmp/PWNED-dash-" + randomName(t)
	t.Cleanup(func() { os.Remove(canary) })
	evil := "touch " + canary + "; echo container ran"
	check := func(how string) {
		t.Helper()
		if _, err := os.Lstat(canary); err == nil {
			os.Remove(canary)
			t.Errorf("%s: a command starting with - became proot's options and ran the host's /bin/sh on the host's files: %s was written", how, canary)
		}
	}
	base, err := os.MkdirTemp("", "dash-") // enterable by nobody
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0755)
	t.Cleanup(func() { exec.Command("rm", "-rf", base).Run() })

	// At pull time: refused, nothing left behind.
	for _, tc := range []struct {
		name string
		cfg  ocispec.ImageConfig
	}{
		{"entrypoint", ocispec.ImageConfig{Entrypoint: []string{"-r", "/", "/bin/sh", "-c", evil}}},
		{"cmd", ocispec.ImageConfig{Cmd: []string{"-q", "/bin/sh", "-c", evil}}},
	} {
		push(t, reg.Host, "evil/dash-"+tc.name, busyboxImage(t, tc.cfg))
		dir := filepath.Join(base, tc.name)
		oneErrorLine(t, runCLI(t, "", reg.Host+"/evil/dash-"+tc.name, dir), 1, "starts with -")
		for _, p := range []string{dir, filepath.Join(base, "start-"+tc.name+".sh")} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s: a refused pull left %s", tc.name, p)
			}
		}
	}

	// A rootfs whose stored config starts with - (as an older version
	// pulled it): start-command refuses to print a command for it.
	push(t, reg.Host, "evil/dash-old", busyboxImage(t, ocispec.ImageConfig{Cmd: []string{"/bin/sh"}}))
	dir := filepath.Join(base, "old")
	if r := runCLI(t, "", "-q", reg.Host+"/evil/dash-old", dir); r.code != 0 {
		t.Fatalf("pull: exit %d: %s", r.code, r.stderr)
	}
	cfgPath := filepath.Join(dir, ".rootfs-pull", "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var img map[string]any
	if err := json.Unmarshal(raw, &img); err != nil {
		t.Fatal(err)
	}
	img["config"].(map[string]any)["Entrypoint"] = []string{"-r", "/", "/bin/sh", "-c", evil}
	raw, _ = json.Marshal(img)
	if err := os.WriteFile(cfgPath, raw, 0644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"start-command", "--runtime", "proot", dir}, {"start-command", "--json", "--runtime", "proot", dir}} {
		r := runCLI(t, "", args...)
		oneErrorLine(t, r, 1, "starts with -")
		if strings.Contains(r.stdout, "proot") {
			t.Errorf("%q printed a command line: %s", args, r.stdout)
		}
	}

	// The launcher, with the user's own command starting with -: a usage
	// error, as this user (root: proot -0) and as an unprivileged one.
	script := filepath.Join(base, "start-old.sh")
	for _, args := range [][]string{
		{"--entrypoint", "-r", "--", "/", "/bin/sh", "-c", evil},
		{"--", "-r", "/", "/bin/sh", "-c", evil},
		{"--", "-q", "/bin/sh", "-c", evil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, nobody := range []bool{false, true} {
			if nobody && os.Geteuid() != 0 {
				continue
			}
			cmd := exec.CommandContext(ctx, script, args...)
			cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME=proot")
			if nobody {
				cmd.Env = append(cmd.Env, "HOME=/tmp", "TMPDIR=/tmp")
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			out, err := cmd.CombinedOutput()
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			how := fmt.Sprintf("./start-old.sh %q (proot, nobody %v)", args, nobody)
			if code != 2 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), "cannot start with -") {
				t.Errorf("%s: exit %d: %q; want status 2 and one line", how, code, out)
			}
			check(how)
		}
	}
}
