package launcher_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
)

// Review tests that start real containers: a hostile image, or a
// container of the same rootfs running meanwhile, against the launcher's
// new options.

// -u 1000 runs as uid 1000 even when the image's passwd has a user NAMED
// 1000 whose uid is 0, and a group NAMED 1000 whose gid is 0 (docker run
// -u 1000 is the uid); so does the image's own User 1000 (GNU chroot
// looks a --userspec up by name first, inside the rootfs).
func TestReviewRunNumericUserNotRoot(t *testing.T) {
	t.Parallel()
	script := pullImage(t, "numuser", ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}, User: "1000"},
		testimage.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n1000:x:0:0:alias:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"),
		testimage.File("etc/group", "root:x:0:\n1000:x:0:user\nuser:x:1000:\n"))
	for _, r := range runtimes(t) {
		if got := mustStart(t, script, r, "-u", "1000", "id", "-u"); got != "1000\n" {
			t.Errorf("%s -u 1000: the container runs as uid %q", name(r), got)
		}
		if got := mustStart(t, script, r, "sh", "-c", "id -u; id -g"); got != "1000\n1000\n" {
			t.Errorf("%s, the image's User 1000: the container runs as uid, gid %q", name(r), got)
		}
	}
}

// swapper stands in for a container of the same rootfs, running while
// the launcher starts another (as a user who owns a directory there: the
// image chose its owner). A mount wrapper, first in PATH, asks for the
// swap when the chroot's private namespace runs the mount whose
// arguments hold trigger; the test, outside that namespace as the running
// container is, renames the mount point away and puts a symlink to "to"
// in its place, then lets the mount go on.
type swapper struct {
	bin, req, done string
}

func newSwapper(t *testing.T, trigger string) swapper {
	t.Helper()
	realMount, err := exec.LookPath("mount")
	if err != nil {
		t.Skip("no mount here")
	}
	d := workDir(t)
	s := swapper{bin: filepath.Join(d, "bin"), req: filepath.Join(d, "req"), done: filepath.Join(d, "done")}
	os.Mkdir(s.bin, 0755)
	wrapper := "#!/bin/sh\ncase \" $* \" in *'" + trigger + "'*)\n" +
		"\t[ -e '" + s.req + "' ] || { : >'" + s.req + "'; i=0; while [ ! -e '" + s.done + "' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; } ;;\nesac\n" +
		"exec '" + realMount + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(s.bin, "mount"), []byte(wrapper), 0755); err != nil {
		t.Fatal(err)
	}
	return s
}

// swap renames mountPoint away and puts a symlink to "to" in its place
// when the wrapper asks (or never, after 10 s).
func (s swapper) swap(mountPoint, to string) {
	go func() {
		for i := 0; i < 400; i++ {
			if _, err := os.Stat(s.req); err == nil {
				os.Rename(mountPoint, mountPoint+".real")
				os.Symlink(to, mountPoint)
				os.WriteFile(s.done, nil, 0644)
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	}()
}

func (s swapper) env() string {
	return "PATH=" + s.bin + ":" + os.Getenv("PATH")
}

// Under chroot, a -v mount point the launcher checked is swapped for a
// symlink to a host directory before the mount: the bind must not land
// there. Here that directory holds the env the chroot's namespace runs
// next, and the volume a program the running container wrote into it
// (the volume is its too): root would run it on the host, outside the
// chroot.
func TestReviewChrootVolumeSwappedForSymlink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	t.Parallel()
	script := pullImage(t, "swapvol", ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}}, testimage.Dir("vol/"))
	rootfs := filepath.Join(filepath.Dir(script), "swapvol")
	marker := filepath.Join(workDir(t), "ran-on-the-host")
	vol := hostDir(t, "", "")
	os.WriteFile(filepath.Join(vol, "env"), []byte("#!/bin/sh\necho \"uid $(id -u)\" >'"+marker+"'\n"), 0755)
	s := newSwapper(t, "--make-rprivate")
	envPath, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	os.Symlink(envPath, filepath.Join(s.bin, "env")) // the launcher's env: the first in PATH
	s.swap(filepath.Join(rootfs, "vol"), s.bin)
	out, errOut, code := start(t, script, run{runtime: "chroot", env: []string{s.env()}}, "-v", vol+":/vol", "echo", "started")
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("the volume's program ran on the host (%s): the bind landed outside the rootfs, on the directory of the launcher's env", strings.TrimSpace(string(b)))
	}
	if code == 0 {
		t.Errorf("the launcher started the container after its mount point was swapped: stdout %q, stderr %q", out, errOut)
	}
}

// Under chroot, -v HOST:CONTAINER:ro is read-only even when the mount
// point is swapped for a symlink between the bind and its remount: the
// container must not write into the volume.
func TestReviewChrootReadOnlyVolumeSwapped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	t.Parallel()
	script := pullImage(t, "swapro", ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}}, testimage.Dir("ro/"))
	rootfs := filepath.Join(filepath.Dir(script), "swapro")
	vol := hostDir(t, "keep", "x")
	s := newSwapper(t, "remount")
	s.swap(filepath.Join(rootfs, "ro"), "/proc") // a mount point: the remount lands there
	start(t, script, run{runtime: "chroot", env: []string{s.env()}}, "-v", vol+":/ro:ro", "sh", "-c", "echo written >/ro.real/new")
	if _, err := os.Stat(filepath.Join(vol, "new")); err == nil {
		t.Error("the container wrote into a -v :ro volume")
	}
}

// On a rooted phone su's PATH leads to toybox's mount, which has no
// remount of one bind: "-o remount,bind,ro" remounts the whole filesystem
// read-only, for every process (or fails, busy). A -v :ro volume must not
// do that: the filesystem it comes from stays writable outside.
func TestReviewChrootToyboxReadOnlyVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	toybox, err := exec.LookPath("toybox")
	if err != nil {
		t.Skip("toybox is not installed")
	}
	t.Parallel()
	script := pullImage(t, "toyro", ocispec.ImageConfig{Env: []string{"PATH=/bin"}, Cmd: []string{"/bin/sh"}})
	bin := filepath.Join(workDir(t), "bin")
	os.Mkdir(bin, 0755)
	os.Symlink(toybox, filepath.Join(bin, "mount"))
	fs := filepath.Join(workDir(t), "fs")
	os.Mkdir(fs, 0755)
	// A filesystem of its own (no writer open on it), in a namespace of
	// the test's own.
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs none "$1" && mkdir "$1/vol" && "$2" -v "$1/vol:/ro:ro" true; echo "status $?"; touch "$1/after" && echo writable`,
		"sh", fs, script)
	cmd.Env = append(os.Environ(), "ROOTFS_RUNTIME=chroot", "PATH="+bin+":"+os.Getenv("PATH"))
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "writable\n") {
		t.Errorf("after -v :ro with toybox's mount, the volume's filesystem is read-only for everyone:\n%s", out)
	}
	if strings.Contains(string(out), "status 0") {
		t.Errorf("toybox's mount cannot make a read-only bind, and the launcher started anyway:\n%s", out)
	}
}
