// Command bench measures rootfs-pull against its peers in one run (make
// bench): a debootstrap'd Debian (minbase, ~200 MB, ~7k files) as a gzip
// layer in a real registry on 127.0.0.1, pulled into a fresh directory by
//
//   - rootfs-pull (as root, and as an unprivileged user),
//   - crane export | tar -x,
//   - skopeo copy + umoci unpack,
//   - curl | tar -xz (what the blog scripts do),
//   - tar -xzf of the layer file,
//
// and two decode floors, klauspost gzip and package inflate (rootfs-pull's
// decoder) to io.Discard, interleaved round by round, on tmpfs and on disk (disk runs end with sync). It prints the
// median times, the ratios rootfs-pull/peer, and peak RSS.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/inflate"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

type peer struct {
	name  string
	cmd   func(target string) string         // shell command, "" for in-process
	user  int                                // run as this uid (0: as we run)
	floor func(io.Reader) (io.Reader, error) // in-process decode to io.Discard
}

type sample struct {
	wall time.Duration
	rss  int64 // KiB
}

// measureChild is how a peer runs: the benchmark re-executes itself in
// this mode, which runs the shell command and reports its children's
// peak RSS. (The benchmark process holds the image in memory, and a child
// forked straight from it would report that as its own peak.)
const measureChild = "__measure"

var serveFor time.Duration

func main() {
	if len(os.Args) == 5 && os.Args[1] == measureChild {
		cmd := exec.Command("sh", "-c", os.Args[4])
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if uid, _ := strconv.Atoi(os.Args[3]); uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		}
		err := cmd.Run()
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
		os.WriteFile(os.Args[2], []byte(fmt.Sprint(ru.Maxrss)), 0644)
		if err != nil {
			os.Exit(1)
		}
		return
	}
	bin := flag.String("bin", "bin/rootfs-pull", "rootfs-pull binary")
	work := flag.String("work", "/var/tmp/rootfs-pull-bench", "work directory (on disk)")
	tmpfs := flag.String("tmpfs", "/dev/shm/rootfs-pull-bench", "target directory on tmpfs")
	rounds := flag.Int("rounds", 5, "rounds")
	crane := flag.String("crane", "", "crane binary (default: WORK/tools/crane, installed with go install)")
	mirror := flag.String("mirror", "http://deb.debian.org/debian", "Debian mirror for debootstrap")
	only := flag.String("only", "", "comma-separated peer names to run besides rootfs-pull (default: all)")
	targets := flag.String("targets", "tmpfs,disk", "where to extract: tmpfs, disk or both")
	flag.DurationVar(&serveFor, "serve", 0, "only serve the image for this long (for profiling by hand)")
	flag.Parse()
	if err := run(*bin, *work, *tmpfs, *crane, *mirror, *only, *targets, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin, work, tmpfs, crane, mirror, only, targetList string, rounds int) error {
	bin, _ = filepath.Abs(bin)
	if err := os.MkdirAll(work, 0755); err != nil {
		return err
	}
	if crane == "" {
		crane = filepath.Join(work, "tools", "crane")
		if _, err := os.Stat(crane); err != nil {
			say("installing crane (go install)")
			c := exec.Command("go", "install", "github.com/google/go-containerregistry/cmd/crane@v0.22.1")
			c.Env = append(os.Environ(), "GOBIN="+filepath.Dir(crane))
			if out, err := c.CombinedOutput(); err != nil {
				return fmt.Errorf("install crane: %v\n%s", err, out)
			}
		}
	}
	tarball, gz, err := layer(work, mirror)
	if err != nil {
		return err
	}
	layerFile := filepath.Join(work, "layer.tar.gz")

	reg, err := testregistry.Start(testregistry.Options{Dir: filepath.Join(work, "registry")})
	if err != nil {
		return err
	}
	defer reg.Close()
	im := testimage.Build(testimage.Spec{
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/bash"}},
		Layers:   []testimage.Layer{{Tar: tarball, Blob: gz, Compression: testimage.Gzip}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := (testimage.Pusher{Host: reg.Host}).Push(ctx, "bench/debian", "latest", im); err != nil {
		return err
	}
	image := reg.Host + "/bench/debian:latest"
	if serveFor > 0 {
		fmt.Println(image)
		time.Sleep(serveFor)
		return nil
	}
	blobURL := fmt.Sprintf("http://%s/v2/bench/debian/blobs/%s", reg.Host, im.Manifest.Layers[0].Digest)
	say("image %s: %d MB tar, %d MB gzip, %d entries", image, len(tarball)>>20, len(gz)>>20, entries(tarball))

	scratch := filepath.Join(work, "scratch")
	peers := []peer{
		{name: "rootfs-pull", cmd: func(t string) string {
			return fmt.Sprintf("%s --no-cache -q --launcher - %s %s", q(bin), image, q(t))
		}},
		{name: "rootfs-pull (non-root)", user: 65534, cmd: func(t string) string {
			return fmt.Sprintf("HOME=%s %s --no-cache -q --launcher - %s %s", q(scratch), q(bin), image, q(t))
		}},
		{name: "crane export | tar -x", cmd: func(t string) string {
			return fmt.Sprintf("%s export --insecure %s - | tar -x -C %s", q(crane), image, q(t))
		}},
		{name: "skopeo + umoci", cmd: func(t string) string {
			oci := filepath.Join(scratch, "oci")
			return fmt.Sprintf("rm -rf %[1]s && skopeo copy -q --src-tls-verify=false docker://%[2]s oci:%[1]s:latest && umoci unpack --image %[1]s:latest %[3]s/bundle >/dev/null",
				q(oci), image, q(t))
		}},
		{name: "curl | tar -xz", cmd: func(t string) string {
			return fmt.Sprintf("curl -sf %s | tar -xz -C %s", blobURL, q(t))
		}},
		{name: "tar -xzf", cmd: func(t string) string {
			return fmt.Sprintf("tar -xzf %s -C %s", q(layerFile), q(t))
		}},
		{name: "gzip decode floor", floor: func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{name: "inflate decode floor", floor: func(r io.Reader) (io.Reader, error) { return inflate.NewReader(r, 8), nil }},
	}
	if only != "" {
		var keep []peer
		for _, p := range peers {
			if strings.Contains(","+only+",", ","+p.name+",") || p.name == "rootfs-pull" {
				keep = append(keep, p)
			}
		}
		peers = keep
	}
	if err := os.MkdirAll(scratch, 0777); err != nil {
		return err
	}
	os.Chmod(scratch, 0777)
	var targets []struct{ name, dir string }
	for _, tg := range []struct{ name, dir string }{{"tmpfs", tmpfs}, {"disk", filepath.Join(work, "target")}} {
		if strings.Contains(","+targetList+",", ","+tg.name+",") {
			targets = append(targets, tg)
		}
	}
	results := map[string]map[string][]sample{}
	for _, tg := range targets {
		results[tg.name] = map[string][]sample{}
		for r := 0; r < rounds; r++ {
			for _, p := range peers {
				s, err := measure(p, tg.dir, tg.name == "disk", layerFile)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", p.name, tg.name, err)
				}
				results[tg.name][p.name] = append(results[tg.name][p.name], s)
			}
			fmt.Fprintf(os.Stderr, "%s: round %d/%d done\n", tg.name, r+1, rounds)
		}
		os.RemoveAll(tg.dir)
	}
	report(results, peers, rounds)
	return nil
}

// measure runs one peer into a fresh target and times it.
func measure(p peer, base string, disk bool, layerFile string) (sample, error) {
	if p.floor != nil {
		// Decoding from a file, as from a network stream (not from a
		// bytes.Reader, for which flate has a faster path no pull can use).
		start := time.Now()
		f, err := os.Open(layerFile)
		if err != nil {
			return sample{}, err
		}
		defer f.Close()
		zr, err := p.floor(f)
		if err != nil {
			return sample{}, err
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return sample{}, err
		}
		return sample{wall: time.Since(start)}, nil
	}
	clean(base)
	target := filepath.Join(base, "rootfs")
	if err := os.MkdirAll(target, 0755); err != nil {
		return sample{}, err
	}
	os.Chmod(base, 0777)
	if p.user != 0 {
		os.Chown(target, p.user, p.user)
	}
	script := p.cmd(target)
	if disk {
		script += " && sync -f " + q(target)
	}
	rssFile := filepath.Join(os.TempDir(), fmt.Sprintf("rootfs-pull-bench-rss-%d", os.Getpid()))
	self, _ := os.Executable()
	cmd := exec.Command(self, measureChild, rssFile, strconv.Itoa(p.user), "set -e; "+script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, stderr.String())
	}
	s := sample{wall: wall}
	if b, err := os.ReadFile(rssFile); err == nil {
		fmt.Sscan(string(b), &s.rss)
	}
	os.Remove(rssFile)
	clean(base)
	return s, nil
}

// clean removes a target, read-only directories and all.
func clean(dir string) {
	exec.Command("chmod", "-R", "u+rwx", dir).Run()
	os.RemoveAll(dir)
}

func median(s []sample) (time.Duration, int64) {
	w := make([]time.Duration, len(s))
	var rss int64
	for i, x := range s {
		w[i] = x.wall
		rss = max(rss, x.rss)
	}
	sort.Slice(w, func(i, j int) bool { return w[i] < w[j] })
	return w[len(w)/2], rss
}

func report(results map[string]map[string][]sample, peers []peer, rounds int) {
	host, _ := os.Hostname()
	fmt.Printf("\nrootfs-pull benchmark: %d rounds, medians; %d CPUs (%s/%s), host %s, %s\n",
		rounds, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, host, cpuModel())
	for _, tg := range []string{"tmpfs", "disk"} {
		if results[tg] == nil {
			continue
		}
		ours, _ := median(results[tg]["rootfs-pull"])
		fmt.Printf("\n%s target\n", tg)
		fmt.Printf("| %-24s | %9s | %16s | %12s |\n", "tool", "median", "rootfs-pull/tool", "peak RSS")
		fmt.Printf("|%s|%s|%s|%s|\n", strings.Repeat("-", 26), strings.Repeat("-", 11), strings.Repeat("-", 18), strings.Repeat("-", 14))
		for _, p := range peers {
			m, rss := median(results[tg][p.name])
			r := "-"
			if rss > 0 {
				r = fmt.Sprintf("%d MiB", rss>>10)
			}
			fmt.Printf("| %-24s | %8.2fs | %15.2fx | %12s |\n", p.name, m.Seconds(), ours.Seconds()/m.Seconds(), r)
		}
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// layer returns the benchmark layer (tar and gzip), made once with
// debootstrap and kept in work.
func layer(work, mirror string) ([]byte, []byte, error) {
	tarPath, gzPath := filepath.Join(work, "layer.tar"), filepath.Join(work, "layer.tar.gz")
	if _, err := os.Stat(gzPath); err != nil {
		deb := filepath.Join(work, "debian")
		os.RemoveAll(deb)
		say("debootstrap --variant=minbase bookworm (once; kept in %s)", work)
		c := exec.Command("debootstrap", "--variant=minbase", "bookworm", deb, mirror)
		if out, err := c.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("debootstrap: %v\n%s", err, lastLines(out, 10))
		}
		if out, err := exec.Command("tar", "-C", deb, "--numeric-owner", "--xattrs", "-cf", tarPath, ".").CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("tar: %v\n%s", err, out)
		}
		os.RemoveAll(deb)
		raw, err := os.ReadFile(tarPath)
		if err != nil {
			return nil, nil, err
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		zw.Write(raw)
		zw.Close()
		if err := os.WriteFile(gzPath, buf.Bytes(), 0644); err != nil {
			return nil, nil, err
		}
	}
	raw, err := os.ReadFile(tarPath)
	if err != nil {
		return nil, nil, err
	}
	gz, err := os.ReadFile(gzPath)
	return raw, gz, err
}

func entries(tarball []byte) int {
	n := 0
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		if _, err := tr.Next(); err != nil {
			return n
		}
		n++
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func say(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }
