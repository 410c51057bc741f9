package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/asnobody"
)

// The pool must give exactly the tree (and the same success or failure)
// an in-order application gives, now that it writes into lower layers'
// directories too. Random lower layers (dirs of every owner-writable or
// not mode, owners, symlinks to dirs, files) are overlaid with a random
// top layer (small files into them, the same name twice, whiteouts, opaque
// dirs, hard links, symlinks and dirs replacing names, dirs re-listed with
// another mode), once with the pool (GOMAXPROCS 4) and once without
// (GOMAXPROCS 1); as root, and as uid 65534 in a child.
func TestReview18PoolMatchesInOrder(t *testing.T) {
	if isRoot() && !asnobody.Child() {
		t.Run("unprivileged", func(t *testing.T) {
			asnobody.Rerun(t, []string{"TestReview18PoolMatchesInOrder"})
		})
	}
	dirs := []string{"d", "d/e", "o", "ro", "wo"}
	names := []string{"a", "b", "c"}
	pickDir := func(r *rand.Rand) string {
		if r.Intn(5) == 0 {
			return "s" // a symlink to d
		}
		return dirs[r.Intn(len(dirs))]
	}
	lowerOf := func(r *rand.Rand) []ent {
		l := []ent{dir("d"), dir("d/e"), symlink("s", "d")}
		modes := []int64{0755, 0700, 0555, 0300, 0500, 0000}
		l = append(l, withOwner(dir("o"), 1000, 1000),
			withMode(dir("ro"), modes[r.Intn(len(modes))]),
			withMode(dir("wo"), modes[r.Intn(len(modes))]))
		for range 6 {
			d := dirs[r.Intn(len(dirs))]
			n := names[r.Intn(len(names))]
			switch r.Intn(4) {
			case 0:
				l = append(l, symlink(d+"/"+n, "../../outside"))
			default:
				l = append([]ent{file(d+"/"+n, "lower-"+n)}, l...) // before the dir's mode is set
			}
		}
		// Files first (their dirs made implicitly, writable), then the
		// dirs' entries with their modes.
		return l
	}
	topOf := func(r *rand.Rand) []ent {
		var l []ent
		for range 3 + r.Intn(10) {
			d := pickDir(r)
			n := names[r.Intn(len(names))]
			p := d + "/" + n
			switch r.Intn(12) {
			case 0:
				l = append(l, whiteoutOf(d, names[r.Intn(len(names))]))
			case 1:
				l = append(l, opaqueIn(d))
			case 2:
				l = append(l, hardlink(p, pickDir(r)+"/"+names[r.Intn(len(names))]))
			case 3:
				l = append(l, symlink(p, "/outside"))
			case 4:
				l = append(l, dir(p))
			case 5:
				l = append(l, withMode(dir(d), []int64{0755, 0555, 0700}[r.Intn(3)]))
			case 6:
				l = append(l, withMode(file(p, strings.Repeat("z", r.Intn(3))), 0600))
			default:
				l = append(l, file(p, fmt.Sprintf("top-%d", r.Intn(100))))
			}
		}
		return l
	}
	apply := func(t *testing.T, procs int, lower, top []byte) (map[string]string, string) {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		root, check := sandbox(t)
		if _, err := Apply(context.Background(), root, bytes.NewReader(lower)); err != nil {
			t.Fatalf("lower: %v", err)
		}
		_, err := Apply(context.Background(), root, bytes.NewReader(top))
		check()
		res := "ok"
		if err != nil {
			res = err.Error()
		}
		return tree(t, root), res
	}
	pooledAny := 0
	for seed := range int64(150) {
		r := rand.New(rand.NewSource(seed))
		lowerEnts, topEnts := lowerOf(r), topOf(r)
		lower, top := layerTar(t, lowerEnts...), layerTar(t, topEnts...)
		inOrder, errInOrder := apply(t, 1, lower, top)
		testPoolAdd = func(string) { pooledAny++ }
		pooled, errPooled := apply(t, 4, lower, top)
		testPoolAdd = nil
		if errInOrder != errPooled || !equalTrees(pooled, inOrder) {
			var desc []string
			for _, e := range topEnts {
				desc = append(desc, fmt.Sprintf("%c %s %s %o", e.typ, e.name, e.link, e.mode))
			}
			t.Fatalf("seed %d: the pool differs from in order\nlower %v\ntop:\n  %s\nerrors: in order %q, pooled %q\n%s",
				seed, lowerEnts, strings.Join(desc, "\n  "), errInOrder, errPooled, diffTrees(pooled, inOrder))
		}
	}
	if pooledAny == 0 {
		t.Fatal("nothing went to the pool: the test proves nothing")
	}
	t.Logf("%d files pooled", pooledAny)
}
