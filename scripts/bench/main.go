// Command bench measures rootfs-pull against its peers in one run (make
// bench): a debootstrap'd Debian (minbase, ~200 MB, ~7k files) as one gzip
// layer, and the same content as a 7-layer image split by Debian package
// (each layer lists its files' parent dirs, as Docker's do; one layer has
// whiteouts), in a real registry on 127.0.0.1, pulled into a fresh
// directory by
//
//   - rootfs-pull (as root, and as an unprivileged user),
//   - crane export | tar -x,
//   - skopeo copy + umoci unpack,
//   - curl | tar -xz (what the blog scripts do, layer after layer),
//   - tar -xzf of the layer files,
//
// and two decode floors, klauspost gzip and package inflate (rootfs-pull's
// decoder) to io.Discard. Each network profile (see faultproxy.Shape:
// "lan", the registry as it is, and "phone", 80 ms before every answer,
// 3 MB/s per connection and 12 MB/s in all) meets each target (tmpfs, and
// a fresh ext4 on a loop device for every run; disk runs end with sync).
// Rounds are interleaved (every scenario and tool once per round); it
// prints median wall times, CPU seconds (user+sys of the tool's
// processes), the ratios rootfs-pull/peer, peak RSS, and for a shaped
// profile the link floor (the image's bytes / the link's cap).
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/inflate"
	"github.com/rootfs-pull/rootfs-pull/internal/faultproxy"
	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

type peer struct {
	name  string
	cmd   func(e env, target string) string  // shell command, "" for in-process
	user  int                                // run as this uid (0: as we run)
	floor func(io.Reader) (io.Reader, error) // in-process decode to io.Discard
	where func(sc scenario) bool             // the scenarios it runs in (nil: all)
}

// env is what a peer's command needs: where the image is and what it is.
type env struct {
	host string // the registry's host:port, or the shaping proxy's
	im   *benchImage
}

func (e env) ref() string { return e.host + "/" + e.im.repo + ":latest" }

func (e env) blobURL(i int) string {
	return fmt.Sprintf("http://%s/v2/%s/blobs/%s", e.host, e.im.repo, e.im.digest[i])
}

// scenario is one image over one network profile onto one target.
type scenario struct {
	im      *benchImage
	profile faultproxy.Shape
	target  string // "tmpfs" or "ext4"
}

func (sc scenario) String() string {
	return fmt.Sprintf("%s image, %s network, %s target", sc.im.name, sc.profile.Name, sc.target)
}

type sample struct {
	wall time.Duration
	cpu  time.Duration // user+sys of the tool's processes
	rss  int64         // KiB
}

// measureChild is how a peer runs: the benchmark re-executes itself in
// this mode, which runs the shell command and reports its children's
// peak RSS and CPU time. (The benchmark process holds the image in
// memory, and a child forked straight from it would report that as its
// own peak.)
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
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		os.WriteFile(os.Args[2], []byte(fmt.Sprint(ru.Maxrss, " ", int64(cpu))), 0644)
		if err != nil {
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.bin, "bin", "bin/rootfs-pull", "rootfs-pull binary")
	flag.StringVar(&o.work, "work", "/var/tmp/rootfs-pull-bench", "work directory (on disk)")
	flag.StringVar(&o.tmpfs, "tmpfs", "/dev/shm/rootfs-pull-bench", "target directory on tmpfs")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds (-quick: 2 unless given)")
	flag.StringVar(&o.crane, "crane", "", "crane binary (default: WORK/tools/crane, installed with go install)")
	flag.StringVar(&o.mirror, "mirror", "http://deb.debian.org/debian", "Debian mirror for debootstrap")
	flag.StringVar(&o.only, "only", "", "comma-separated peer names to run besides rootfs-pull (default: all)")
	flag.StringVar(&o.targets, "targets", "tmpfs,ext4", "where to extract: tmpfs, ext4 (a fresh one on a loop device per run; needs root)")
	flag.StringVar(&o.profiles, "profiles", "lan,phone", "network profiles: lan (the registry as it is), phone (80 ms latency, 3 MB/s per connection, 12 MB/s in all)")
	flag.StringVar(&o.images, "images", "one,many", "images: one (one layer), many (the same content in 7 layers split by Debian package, one with whiteouts)")
	flag.BoolVar(&o.quick, "quick", false, "a 40 MB cut of the image and 2 rounds: to iterate, not to publish")
	flag.DurationVar(&serveFor, "serve", 0, "only serve the images for this long (for profiling by hand)")
	flag.Parse()
	if o.quick {
		given := false
		flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rounds" })
		if !given {
			o.rounds = 2
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin, work, tmpfs, crane, mirror, only string
	targets, profiles, images             string
	rounds                                int
	quick                                 bool
}

func listed(list, name string) bool { return strings.Contains(","+list+",", ","+name+",") }

func run(o options) error {
	bin, _ := filepath.Abs(o.bin)
	work := o.work
	if err := os.MkdirAll(work, 0755); err != nil {
		return err
	}
	crane := o.crane
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
	tarball, gz, err := layer(work, o.mirror)
	if err != nil {
		return err
	}
	full := tarball // its dpkg lists say how the many-layer image splits
	if o.quick {
		tarball = prefix(tarball, 40<<20)
		gz = gzipBytes(tarball)
	}
	var images []*benchImage
	if listed(o.images, "one") {
		images = append(images, &benchImage{name: "one-layer", repo: "bench/debian", tars: [][]byte{tarball}, gzs: [][]byte{gz}})
	}
	if listed(o.images, "many") {
		many := &benchImage{name: "many-layer", repo: "bench/debian-layers", tars: split(tarball, full)}
		for _, t := range many.tars {
			many.gzs = append(many.gzs, gzipBytes(t))
		}
		images = append(images, many)
	}
	if len(images) == 0 {
		return fmt.Errorf("-images %q: want one, many or both", o.images)
	}

	reg, err := testregistry.Start(testregistry.Options{Dir: filepath.Join(work, "registry")})
	if err != nil {
		return err
	}
	defer reg.Close()
	proxy := faultproxy.New(reg.Host)
	defer proxy.Close()
	proxy.SetShape(faultproxy.Phone)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	layerDir := filepath.Join(work, "layers")
	os.MkdirAll(layerDir, 0755)
	for _, im := range images {
		var layers []testimage.Layer
		for i := range im.tars {
			layers = append(layers, testimage.Layer{Tar: im.tars[i], Blob: im.gzs[i], Compression: testimage.Gzip})
			f := filepath.Join(layerDir, fmt.Sprintf("%s-%d.tar.gz", im.name, i))
			if err := os.WriteFile(f, im.gzs[i], 0644); err != nil {
				return err
			}
			im.files = append(im.files, f)
		}
		built := testimage.Build(testimage.Spec{
			Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
			Config:   ocispec.ImageConfig{Cmd: []string{"/bin/bash"}},
			Layers:   layers,
		})
		for _, l := range built.Manifest.Layers {
			im.digest = append(im.digest, l.Digest.String())
		}
		if err := (testimage.Pusher{Host: reg.Host}).Push(ctx, im.repo, "latest", built); err != nil {
			return err
		}
		var entries int
		for _, t := range im.tars {
			entries += countEntries(t)
		}
		say("%s image %s: %d layers, %d MB tar, %.1f MB gzip, %d entries", im.name, reg.Host+"/"+im.repo+":latest",
			len(im.tars), totalLen(im.tars)>>20, float64(im.bytes())/1e6, entries)
	}
	if serveFor > 0 {
		for _, im := range images {
			fmt.Println("lan:  ", env{reg.Host, im}.ref())
			fmt.Println("phone:", env{proxy.Host, im}.ref())
		}
		time.Sleep(serveFor)
		return nil
	}

	scratch := filepath.Join(work, "scratch")
	lanOnly := func(sc scenario) bool { return sc.profile.Name == "lan" }
	peers := []peer{
		{name: "rootfs-pull", cmd: func(e env, t string) string {
			return fmt.Sprintf("%s --no-cache -q --launcher - %s %s", q(bin), e.ref(), q(t))
		}},
		{name: "rootfs-pull (non-root)", user: 65534, where: lanOnly, cmd: func(e env, t string) string {
			return fmt.Sprintf("HOME=%s %s --no-cache -q --launcher - %s %s", q(scratch), q(bin), e.ref(), q(t))
		}},
		{name: "crane export | tar -x", cmd: func(e env, t string) string {
			return fmt.Sprintf("%s export --insecure %s - | tar -x -C %s", q(crane), e.ref(), q(t))
		}},
		{name: "skopeo + umoci", cmd: func(e env, t string) string {
			// The OCI layout goes on the target's filesystem: its writes
			// are part of the tool's cost.
			oci := filepath.Join(filepath.Dir(t), "oci")
			return fmt.Sprintf("rm -rf %[1]s && skopeo copy -q --src-tls-verify=false docker://%[2]s oci:%[1]s:latest && umoci unpack --image %[1]s:latest %[3]s/bundle >/dev/null",
				q(oci), e.ref(), q(t))
		}},
		{name: "curl | tar -xz", cmd: func(e env, t string) string {
			var cmds []string
			for i := range e.im.digest {
				cmds = append(cmds, fmt.Sprintf("curl -sf %s | tar -xz -C %s", e.blobURL(i), q(t)))
			}
			return strings.Join(cmds, " && ")
		}},
		{name: "tar -xzf", where: lanOnly, cmd: func(e env, t string) string {
			var cmds []string
			for _, f := range e.im.files {
				cmds = append(cmds, fmt.Sprintf("tar -xzf %s -C %s", q(f), q(t)))
			}
			return strings.Join(cmds, " && ")
		}},
		{name: "gzip decode floor", where: floorOnly, floor: func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
		{name: "inflate decode floor", where: floorOnly, floor: func(r io.Reader) (io.Reader, error) { return inflate.NewReader(r, 8), nil }},
	}
	if o.only != "" {
		var keep []peer
		for _, p := range peers {
			if listed(o.only, p.name) || p.name == "rootfs-pull" {
				keep = append(keep, p)
			}
		}
		peers = keep
	}
	if err := os.MkdirAll(scratch, 0777); err != nil {
		return err
	}
	os.Chmod(scratch, 0777)
	var scenarios []scenario
	for _, im := range images {
		for _, pname := range []string{"lan", "phone"} {
			prof, _ := faultproxy.Profile(pname)
			if !listed(o.profiles, pname) {
				continue
			}
			for _, tg := range []string{"tmpfs", "ext4"} {
				if listed(o.targets, tg) {
					scenarios = append(scenarios, scenario{im: im, profile: prof, target: tg})
				}
			}
		}
	}
	if len(scenarios) == 0 {
		return fmt.Errorf("no scenario: check -images, -profiles and -targets")
	}
	hosts := map[string]string{"lan": reg.Host, "phone": proxy.Host}
	load := loadavg()
	began := time.Now()
	results := map[string]map[string][]sample{}
	for r := 0; r < o.rounds; r++ {
		for _, sc := range scenarios {
			if results[sc.String()] == nil {
				results[sc.String()] = map[string][]sample{}
			}
			e := env{host: hosts[sc.profile.Name], im: sc.im}
			for _, p := range peers {
				if p.where != nil && !p.where(sc) {
					continue
				}
				s, err := measure(p, sc, e, work, o.tmpfs)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", p.name, sc, err)
				}
				results[sc.String()][p.name] = append(results[sc.String()][p.name], s)
			}
		}
		fmt.Fprintf(os.Stderr, "bench: round %d/%d done (%v)\n", r+1, o.rounds, time.Since(began).Round(time.Second))
	}
	os.RemoveAll(o.tmpfs)
	report(results, scenarios, peers, o, load)
	return nil
}

// floorOnly: the decode floors need no network and no target; they run
// once per image and round, with the lan/tmpfs scenario.
func floorOnly(sc scenario) bool { return sc.profile.Name == "lan" && sc.target == "tmpfs" }

// measure runs one peer into a fresh target and times it.
func measure(p peer, sc scenario, e env, work, tmpfs string) (sample, error) {
	if p.floor != nil {
		// Decoding from a file, as from a network stream (not from a
		// bytes.Reader, for which flate has a faster path no pull can use).
		var before, after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		start := time.Now()
		for _, name := range e.im.files {
			f, err := os.Open(name)
			if err != nil {
				return sample{}, err
			}
			zr, err := p.floor(f)
			if err == nil {
				_, err = io.Copy(io.Discard, zr)
			}
			f.Close()
			if err != nil {
				return sample{}, err
			}
		}
		wall := time.Since(start)
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		return sample{wall: wall, cpu: cpu}, nil
	}
	base := tmpfs
	disk := sc.target == "ext4"
	if disk {
		fs, err := newExt4(work)
		if err != nil {
			return sample{}, err
		}
		defer fs.close()
		base = fs.mnt
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
	script := p.cmd(e, target)
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
		return sample{}, fmt.Errorf("%v: %s", err, lastLines(stderr.Bytes(), 5))
	}
	s := sample{wall: wall}
	if b, err := os.ReadFile(rssFile); err == nil {
		var cpu int64
		fmt.Sscan(string(b), &s.rss, &cpu)
		s.cpu = time.Duration(cpu)
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

// median returns the median wall time and CPU time, and the peak RSS.
func median(s []sample) (time.Duration, time.Duration, int64) {
	w := make([]time.Duration, len(s))
	c := make([]time.Duration, len(s))
	var rss int64
	for i, x := range s {
		w[i], c[i] = x.wall, x.cpu
		rss = max(rss, x.rss)
	}
	slices.Sort(w)
	slices.Sort(c)
	return w[len(w)/2], c[len(c)/2], rss
}

func report(results map[string]map[string][]sample, scenarios []scenario, peers []peer, o options, load string) {
	host, _ := os.Hostname()
	fmt.Printf("\nrootfs-pull benchmark, %s: %d rounds, medians; %d CPUs (%s/%s), host %s, %s\n",
		time.Now().Format("2006-01-02"), o.rounds, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, host, cpuModel())
	fmt.Printf("load average before: %s, after: %s (a shared machine: other work ran beside the benchmark)\n", load, loadavg())
	if o.quick {
		fmt.Println("QUICK MODE: a 40 MB cut of the image; not for publishing")
	}
	var goals []string
	for _, sc := range scenarios {
		res := results[sc.String()]
		ours, oursCPU, oursRSS := median(res["rootfs-pull"])
		fmt.Printf("\n%s\n", sc)
		fmt.Printf("| %-34s | %8s | %8s | %8s | %8s | %9s |\n", "tool", "wall", "ours/it", "CPU", "ours/it", "peak RSS")
		fmt.Printf("|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 36), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 10), strings.Repeat("-", 11))
		for _, p := range peers {
			if res[p.name] == nil {
				continue
			}
			m, cpu, rss := median(res[p.name])
			r := "-"
			if rss > 0 {
				r = fmt.Sprintf("%d MiB", rss>>10)
			}
			fmt.Printf("| %-34s | %7.2fs | %7.2fx | %7.2fs | %7.2fx | %9s |\n", p.name, m.Seconds(), ours.Seconds()/m.Seconds(),
				cpu.Seconds(), oursCPU.Seconds()/cpu.Seconds(), r)
		}
		var floor time.Duration
		if sc.profile.TotalRate > 0 {
			floor = time.Duration(float64(sc.im.bytes()) / float64(sc.profile.TotalRate) * float64(time.Second))
			fmt.Printf("| %-34s | %7.2fs | %7.2fx | %8s | %8s | %9s |\n",
				fmt.Sprintf("link floor (%.1f MB / %.0f MB/s)", float64(sc.im.bytes())/1e6, float64(sc.profile.TotalRate)/1e6),
				floor.Seconds(), ours.Seconds()/floor.Seconds(), "-", "-", "-")
		}
		crane, craneCPU, _ := median(res["crane export | tar -x"])
		verdict := func(ok bool) string {
			if ok {
				return "holds"
			}
			return "DOES NOT hold"
		}
		if floor > 0 {
			goals = append(goals, fmt.Sprintf("%s: within 1.2x of the link floor (%.2fx): %s", sc, ours.Seconds()/floor.Seconds(), verdict(ours.Seconds() <= 1.2*floor.Seconds())))
			if crane > 0 {
				goals = append(goals, fmt.Sprintf("%s: >= 3x faster than crane | tar (%.2fx): %s", sc, crane.Seconds()/ours.Seconds(), verdict(crane.Seconds() >= 3*ours.Seconds())))
			}
		}
		if sc.target == "ext4" && crane > 0 {
			goals = append(goals, fmt.Sprintf("%s: wall <= 0.5x crane | tar (%.2fx): %s", sc, ours.Seconds()/crane.Seconds(), verdict(ours.Seconds() <= 0.5*crane.Seconds())))
			goals = append(goals, fmt.Sprintf("%s: CPU <= 0.5x crane | tar (%.2fx): %s", sc, oursCPU.Seconds()/craneCPU.Seconds(), verdict(oursCPU.Seconds() <= 0.5*craneCPU.Seconds())))
		}
		goals = append(goals, fmt.Sprintf("%s: peak RSS <= 64 MiB (%d MiB): %s", sc, oursRSS>>10, verdict(oursRSS <= 64<<10)))
	}
	fmt.Println("\nissue #18's goals in this run:")
	for _, g := range goals {
		fmt.Println("  " + g)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
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

func totalLen(bs [][]byte) int {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
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

func countEntries(tarball []byte) int {
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
