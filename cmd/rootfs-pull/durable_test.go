package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
)

// A layer is on disk before the state says it is applied, and the rootfs
// before it says ready. The real binary runs under strace, which records
// every syncfs (when it returns), every state file written (its JSON),
// every image file created and every writeback started, across threads:
//   - no state written claims more layers applied than syncfs calls have
//     returned, one per layer, and the last state (ready, nothing being
//     applied) comes after the last syncfs returned;
//   - before a layer's first file is created, a state naming that layer
//     as being applied was written;
//   - a large file's writeback starts as soon as it is written; small
//     files' wait for the layer's syncfs.
//
// A layer's syncfs may run while the next layer is applied: that is what
// the first rule allows and bounds.
func TestPullIsDurable(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatal("strace is not installed (scripts/setup.sh installs it)")
	}
	reg := startRegistry(t, testregistry.Options{})
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB: its writeback starts at once
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.Dir("etc/"), testimage.File("etc/hello", "hello\n")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("etc/second", "2\n"), testimage.File("etc/big", big)), Compression: testimage.Zstd},
	}})
	push(t, reg.Host, "public/app", im)
	layerOf := map[string]int{"hello": 1, "second": 2, "big": 2}
	digests := []string{im.Manifest.Layers[0].Digest.String(), im.Manifest.Layers[1].Digest.String()}

	log := filepath.Join(t.TempDir(), "strace.log")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(t, ctx, "", "-q", reg.Host+"/public/app", filepath.Join(t.TempDir(), "r"))
	cmd.Args = append([]string{strace, "-f", "-qq", "-s", "65536", "-o", log,
		"-e", "trace=syncfs,sync_file_range,openat,write"}, cmd.Args...)
	cmd.Path = strace
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pull under strace: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var (
		syncsStarted, syncsDone, ranges int
		applied                         int // layers the last state written claims applied
		applyingNamed                   = map[int]bool{}
		lastState                       string // the last state's JSON, as strace quotes it
		lastStateAfterSync              bool
		firstFile                       = map[int]bool{}
		imageFd                         = map[string]bool{} // what each fd number was last opened as
		openingImage                    = map[string]bool{} // by pid: an openat not yet returned
	)
	imageFile := regexp.MustCompile(`openat\(\d+, "(hello|second|big)", [^)]*O_CREAT`)
	syncfsDone := regexp.MustCompile(`^\d+ +(syncfs\(\d+\)|<\.\.\. syncfs resumed>\)) += 0`)
	opened := regexp.MustCompile(`^(\d+) .*openat.* = (\d+)$`)
	rangeFd := regexp.MustCompile(`sync_file_range\((\d+),`)
	for _, line := range strings.Split(string(b), "\n") {
		isState := strings.Contains(line, ` write(`) && strings.Contains(line, `\"layers\": [`)
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "openat(") {
			openingImage[f[0]] = imageFile.MatchString(line)
		}
		if m := opened.FindStringSubmatch(line); m != nil {
			imageFd[m[2]] = openingImage[m[1]]
		}
		switch {
		case strings.Contains(line, "syncfs("):
			syncsStarted++
			if syncfsDone.MatchString(line) {
				syncsDone++
			}
		case strings.Contains(line, "syncfs resumed"):
			if syncfsDone.MatchString(line) {
				syncsDone++
			}
		case strings.Contains(line, "sync_file_range"):
			ranges++
			if m := rangeFd.FindStringSubmatch(line); m == nil || !imageFd[m[1]] {
				t.Errorf("a writeback started on something else than an image file: %s", line)
			}
		case imageFile.MatchString(line):
			l := layerOf[imageFile.FindStringSubmatch(line)[1]]
			if !firstFile[l] {
				firstFile[l] = true
				if !applyingNamed[l] {
					t.Errorf("layer %d's first file is created before a state names it as being applied", l)
				}
			}
		case isState:
			lastState = line
			applied = strings.Count(line, `\"applied\": true`)
			if applied > syncsDone {
				t.Errorf("a state claims %d layers applied after %d syncfs returned", applied, syncsDone)
			}
			for i, d := range digests {
				if strings.Contains(line, `\"applying\": \"`+d+`\"`) {
					applyingNamed[i+1] = true
				}
			}
			lastStateAfterSync = syncsDone == len(digests)
		}
	}
	if syncsStarted != 2 || syncsDone != 2 {
		t.Errorf("%d syncfs calls (%d returned), want one per layer (2)", syncsStarted, syncsDone)
	}
	if applied != 2 || strings.Contains(lastState, `\"applying\"`) || !strings.Contains(lastState, `\"status\": \"ready\"`) {
		t.Errorf("the last state written is not ready with both layers applied: %.300s", lastState)
	}
	if !lastStateAfterSync {
		t.Error("the last state was written before every syncfs returned")
	}
	if len(firstFile) != 2 || ranges != 1 {
		t.Errorf("files of %d layers made and %d writebacks started, want 2 and 1 (the 1 MiB file's)", len(firstFile), ranges)
	}
}
