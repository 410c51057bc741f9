package launcher_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
)

// These tests start a pulled busybox image with the launcher's docker run
// and proot-distro options under the real proot (as root and as nobody)
// and chroot, and check from inside the container that each did what it
// says: the file is there, the user is who it should be, uname answers
// what was asked.

// flagsImage is one image for the flag tests: busybox, a group with a
// member, and hostile symlinks a -v CONTAINER might go through.
func flagsImage(t *testing.T) string {
	t.Helper()
	return pullImage(t, "flags", ocispec.ImageConfig{
		Env: []string{"PATH=/bin"},
		Cmd: []string{"/bin/sh"},
	},
		testimage.File("etc/group", "root:x:0:\nstaff:x:50:user\nuser:x:1000:\n"),
		testimage.Symlink("src", "/etc"),          // absolute: on the host, the host's /etc
		testimage.Symlink("up", "../../../../.."), // relative, past the root
		testimage.Symlink("hosttmp", os.TempDir()),
		testimage.Dir("data/"),
		testimage.Symlink("data/link", "../etc"),
	)
}

// hostDir is a directory on the host any user may read, holding one file.
func hostDir(t *testing.T, file, body string) string {
	t.Helper()
	d := filepath.Join(workDir(t), "host dir")
	if err := os.Mkdir(d, 0777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0777)
	if file != "" {
		if err := os.WriteFile(filepath.Join(d, file), []byte(body), 0644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// usageError runs the launcher and wants exit status 2, nothing on
// standard output and one line on standard error holding want.
func usageError(t *testing.T, script string, r run, want string, args ...string) {
	t.Helper()
	out, errOut, code := start(t, script, r, args...)
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		t.Errorf("%s %q: exit %d, stdout %q, stderr %q; want status 2 and one line with %q", name(r), args, code, out, errOut, want)
	}
}

func TestLaunchVolume(t *testing.T) {
	t.Parallel()
	script := flagsImage(t)
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			dir := hostDir(t, "hello", "from the host\n")
			file := filepath.Join(hostDir(t, "one", "a file\n"), "one")
			// A directory and a file, at new paths (made in the rootfs), and
			// a relative HOST.
			tag := strings.ReplaceAll(name(r), "-", "_")
			got := mustStart(t, script, r, "-v", dir+":/vol/"+tag+"/deep", "--volume", file+":/etc/one-"+tag,
				"sh", "-c", "cat /vol/"+tag+"/deep/hello /etc/one-"+tag+"; echo written >/vol/"+tag+"/deep/new")
			if got != "from the host\na file\n" {
				t.Errorf("-v: the container read %q", got)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "new")); err != nil || string(b) != "written\n" {
				t.Errorf("-v: the container's write did not reach the host: %q, %v", b, err)
			}
			// HOST alone: the same path inside.
			if got := mustStart(t, script, r, "-v", dir, "cat", dir+"/hello"); got != "from the host\n" {
				t.Errorf("-v HOST: %q", got)
			}
			// A missing HOST is a usage error.
			usageError(t, script, r, "does not exist on the host", "-v", dir+"/missing:/x", "true")
			if r.runtime == "proot" {
				usageError(t, script, r, "proot cannot bind read-only", "-v", dir+":/ro:ro", "true")
				return
			}
			// chroot: :ro is a read-only bind.
			out, _, code := start(t, script, r, "-v", dir+":/ro:ro", "sh", "-c", "cat /ro/hello; echo x >/ro/nope && echo wrote")
			if code == 0 || out != "from the host\n" {
				t.Errorf("-v :ro: exit %d, stdout %q (want the file read and the write refused)", code, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "nope")); err == nil {
				t.Error("-v :ro: the container wrote into the host directory")
			}
		})
	}
}

// A -v CONTAINER through the image's symlinks is refused: the launcher
// would otherwise make directories (and bind) where the link leads, on the
// host. Nothing appears outside the rootfs.
func TestLaunchVolumeHostileSymlinks(t *testing.T) {
	t.Parallel()
	script := flagsImage(t)
	rootfs := filepath.Join(filepath.Dir(script), "flags")
	dir := hostDir(t, "hello", "x")
	for _, r := range append(runtimes(t), run{runtime: "ruri", env: []string{"ROOTFS_DRY_RUN=1"}}) {
		for _, c := range []string{"/src/rootfs-pull-test-planted", "/up/tmp/rootfs-pull-test-planted", "/hosttmp/rootfs-pull-test-planted",
			"/data/link/planted", "/src", "/data//link/x", "/./src/x"} {
			usageError(t, script, r, "is a symlink in the rootfs", "-v", dir+":"+c, "true")
		}
	}
	for _, p := range []string{"/etc/rootfs-pull-test-planted", "/tmp/rootfs-pull-test-planted", filepath.Join(os.TempDir(), "rootfs-pull-test-planted"),
		filepath.Join(rootfs, "etc/planted")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was made through an image's symlink", p)
			os.Remove(p)
		}
	}
}

func TestLaunchUserFlag(t *testing.T) {
	t.Parallel()
	script := flagsImage(t)
	show := []string{"sh", "-c", `echo "$(id -u):$(id -g) $HOME"`}
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			for _, tc := range []struct {
				user, want string
			}{
				{"user", "1000:1000 /home/user\n"},
				{"1000", "1000:1000 /home/user\n"},
				{"user:staff", "1000:50 /home/user\n"},
				{"1000:7", "1000:7 /home/user\n"},
				{"4242", "4242:0 /\n"},
				{"root", "0:0 /root\n"},
			} {
				if got := mustStart(t, script, r, append([]string{"-u", tc.user}, show...)...); got != tc.want {
					t.Errorf("-u %s: got %q, want %q", tc.user, got, tc.want)
				}
			}
			if r.runtime == "chroot" {
				if got := mustStart(t, script, r, "-u", "user", "id", "-G"); got != "1000 50\n" {
					t.Errorf("-u user: groups %q, want 1000 50", got)
				}
			}
			// -e HOME still wins over the user's home.
			if got := mustStart(t, script, r, "-u", "user", "-e", "HOME=/x", "sh", "-c", `echo $HOME`); got != "/x\n" {
				t.Errorf("-u with -e HOME: %q", got)
			}
			usageError(t, script, r, "no user nobody", "-u", "nobody", "true")
			usageError(t, script, r, "no group wheel", "-u", "user:wheel", "true")
		})
	}
}

func TestLaunchWorkdirEnvFileHostname(t *testing.T) {
	t.Parallel()
	script := flagsImage(t)
	envFile := filepath.Join(hostDir(t, "", ""), "app.env")
	os.WriteFile(envFile, []byte("# a comment\n\nA=one two\n  B=it's $x \r\nFROM_HOST\nUNSET_ON_HOST\nLD_PRELOAD=/inside.so\n"), 0644)
	hostName, _ := os.Hostname()
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			r.env = append(r.env, "FROM_HOST=host value")
			if got := mustStart(t, script, r, "-w", "/etc", "pwd"); got != "/etc\n" {
				t.Errorf("-w /etc: %q", got)
			}
			if got := mustStart(t, script, r, "--workdir=/home/user", "pwd"); got != "/home/user\n" {
				t.Errorf("--workdir=/home/user: %q", got)
			}
			got := mustStart(t, script, r, "--env-file", envFile, "sh", "-c", `printf '%s|' "$A" "$B" "$FROM_HOST" "${UNSET_ON_HOST-unset}"`)
			if want := "one two|it's $x |host value|unset|"; got != want {
				t.Errorf("--env-file: got %q, want %q", got, want)
			}
			if got := mustStart(t, script, r, "--hostname", "box-1.example", "sh", "-c", "hostname; uname -n"); got != "box-1.example\nbox-1.example\n" {
				t.Errorf("--hostname: %q", got)
			}
			if now, _ := os.Hostname(); now != hostName {
				t.Fatalf("--hostname changed the host's name to %q", now)
			}
			usageError(t, script, r, "absolute", "-w", "etc", "true")
			usageError(t, script, r, "host name", "--hostname", "-x", "true")
		})
	}
}

func TestLaunchKernelRelease(t *testing.T) {
	t.Parallel()
	script := flagsImage(t)
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			if r.runtime != "proot" {
				usageError(t, script, r, "only proot can fake it", "--kernel-release", "6.1.0", "uname", "-r")
				return
			}
			if got := mustStart(t, script, r, "--kernel-release", "6.1.0-test", "uname", "-r"); got != "6.1.0-test\n" {
				t.Errorf("--kernel-release: uname -r says %q", got)
			}
			// With --hostname too: both.
			if got := mustStart(t, script, r, "--kernel-release=9.9.9", "--hostname", "kbox", "uname", "-rn"); got != "kbox 9.9.9\n" {
				t.Errorf("--kernel-release with --hostname: %q", got)
			}
		})
	}
}

// -p: Termux's proot moves a port below 1024 up by 2000. Debian's proot
// has no -p: without root, the launcher says so in one line; with root,
// every port binds anyway. chroot refuses it.
func TestLaunchFixLowPorts(t *testing.T) {
	t.Parallel()
	script := flagsImage(t)
	port := 600 + os.Getpid()%300
	bind := []string{"sh", "-c", fmt.Sprintf("/bin/busybox timeout 1 /bin/busybox httpd -f -p 127.0.0.1:%d; echo status $?", port)}
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			switch {
			case r.runtime == "chroot":
				usageError(t, script, r, "only proot moves ports", "-p", "true")
			case r.user != 0:
				if out := mustStart(t, script, r, bind...); strings.Contains(out, "status 143") {
					t.Skipf("an unprivileged user binds port %d here: nothing to fix", port)
				}
				_, errOut, code := start(t, script, r, append([]string{"--fix-low-ports"}, bind...)...)
				if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "cannot move ports") {
					t.Errorf("-p with a proot without -p, as nobody: exit %d, stderr %q", code, errOut)
				}
			default:
				if out := mustStart(t, script, r, append([]string{"-p"}, bind...)...); !strings.Contains(out, "status 143") {
					t.Errorf("-p as root: port %d did not bind: %q", port, out)
				}
			}
		})
	}
}

func TestLaunchShared(t *testing.T) {
	t.Parallel()
	script := flagsImage(t)
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			prefix := hostDir(t, "", "")
			os.MkdirAll(filepath.Join(prefix, "tmp/.X11-unix"), 0777)
			os.WriteFile(filepath.Join(prefix, "tmp/.X11-unix/X0"), []byte("x11"), 0644)
			os.WriteFile(filepath.Join(prefix, "tmp/pulse"), []byte("pulse"), 0644)
			home := hostDir(t, "mine", "my file")
			r.env = append(r.env, "PREFIX="+prefix, "HOME="+home)
			if got := mustStart(t, script, r, "--shared-tmp", "cat", "/tmp/pulse", "/tmp/.X11-unix/X0"); got != "pulsex11" {
				t.Errorf("--shared-tmp: %q", got)
			}
			if got := mustStart(t, script, r, "--shared-x11", "sh", "-c", "cat /tmp/.X11-unix/X0; ls /tmp/pulse 2>/dev/null; true"); got != "x11" {
				t.Errorf("--shared-x11: %q", got)
			}
			if got := mustStart(t, script, r, "--shared-home", "-u", "user", "sh", "-c", `cat "$HOME/mine"`); got != "my file" {
				t.Errorf("--shared-home -u user: %q", got)
			}
			if got := mustStart(t, script, r, "--shared-home", "sh", "-c", `cat "$HOME/mine"`); got != "my file" {
				t.Errorf("--shared-home: %q", got)
			}
		})
	}
}

// The defaults file beside the launcher is read before the arguments, and
// the arguments win.
func TestLaunchDefaultsFile(t *testing.T) {
	t.Parallel()
	script := pullImage(t, "defaults", ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}})
	defaults := strings.TrimSuffix(script, ".sh") + ".defaults"
	home := hostDir(t, "f", "from ~\n")
	os.WriteFile(defaults, []byte("# my defaults\n--hostname from-defaults\n  -e A=a b  \n-v ~/:/h\n\n--env=B=2\n"), 0644)
	for _, r := range runtimes(t) {
		t.Run(name(r), func(t *testing.T) {
			r.env = append(r.env, "HOME="+home)
			got := mustStart(t, script, r, "sh", "-c", `hostname; printf '%s|%s\n' "$A" "$B"; cat /h/f`)
			if want := "from-defaults\na b  |2\nfrom ~\n"; got != want {
				t.Errorf("with the defaults: got %q, want %q", got, want)
			}
			if got := mustStart(t, script, r, "--hostname", "mine", "-e", "B=3", "sh", "-c", `hostname; echo $B`); got != "mine\n3\n" {
				t.Errorf("arguments over defaults: %q", got)
			}
			if got := mustStart(t, script, r, "--no-defaults", "sh", "-c", `echo "${A-none}"`); got != "none\n" {
				t.Errorf("--no-defaults: %q", got)
			}
		})
	}
	for _, bad := range []struct{ body, want string }{
		{"ls -l\n", "want an option"},
		{"--help\n", "cannot be a default"},
		{"-u nobody\n", "no user nobody"},
	} {
		os.WriteFile(defaults, []byte(bad.body), 0644)
		usageError(t, script, run{runtime: "proot"}, bad.want, "true")
	}
}
