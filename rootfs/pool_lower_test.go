package rootfs

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"testing"
)

// Small files whose names are free in a lower layer's directory go to the
// pool too (parallel.go), and the tree is the one an in-order application
// gives: a name a lower layer holds (file, symlink, dir), a directory the
// process cannot write without lending itself a mode, or one another user
// owns stays on the applier's own path. The cases record which paths the
// last layer handed to the pool, so a case cannot pass with the pool off.
func TestPoolLowerDirs(t *testing.T) {
	withPool(t)
	otherOwner := []string{} // root: the dir is uid 1000's, written in order
	if !isRoot() {
		otherOwner = []string{"o/b"} // the chown was skipped: it is ours
	}
	for _, tc := range []struct {
		name       string
		lower      [][]ent
		top        []ent
		want       map[string]string
		wantPooled []string
	}{
		{
			name:       "new names in a lower dir",
			lower:      [][]ent{{dir("d"), file("d/a", "a")}},
			top:        []ent{dir("d"), file("d/b", "b"), file("d/c", "c")},
			want:       map[string]string{"d": "d 755", "d/a": "f 644 a", "d/b": "f 644 b", "d/c": "f 644 c"},
			wantPooled: []string{"d/b", "d/c"},
		},
		{
			name:       "a lower file at the name is replaced in order",
			lower:      [][]ent{{file("d/a", "old")}},
			top:        []ent{file("d/a", "new"), file("d/b", "b")},
			want:       map[string]string{"d": "d 755", "d/a": "f 644 new", "d/b": "f 644 b"},
			wantPooled: []string{"d/b"},
		},
		{
			name:       "a lower symlink at the name is replaced, not followed",
			lower:      [][]ent{{dir("d"), symlink("d/a", "../x")}},
			top:        []ent{file("d/a", "new")},
			want:       map[string]string{"d": "d 755", "d/a": "f 644 new"},
			wantPooled: []string{},
		},
		{
			name:       "a lower dir at the name is replaced",
			lower:      [][]ent{{file("d/a/f", "f")}},
			top:        []ent{file("d/a", "new")},
			want:       map[string]string{"d": "d 755", "d/a": "f 644 new"},
			wantPooled: []string{},
		},
		{
			name:       "the same name twice in the layer",
			lower:      [][]ent{{dir("d")}},
			top:        []ent{file("d/b", "1"), file("d/b", "2")},
			want:       map[string]string{"d": "d 755", "d/b": "f 644 2"},
			wantPooled: []string{"d/b"},
		},
		{
			name:  "pooled files, then a hard link to one, a whiteout and an opaque dir",
			lower: [][]ent{{file("d/a", "a"), file("d/old", "o")}},
			top: []ent{file("d/b", "b"), whiteoutOf("d", "old"), file("d/c", "c"), hardlink("d/h", "d/b"),
				opaqueIn("d"), file("d/e", "e")},
			want:       map[string]string{"d": "d 755", "d/b": "f 644 b", "d/c": "f 644 c", "d/h": "f 644 b", "d/e": "f 644 e"},
			wantPooled: []string{"d/b", "d/c", "d/e"},
		},
		{
			name:       "a lower dir reached through a symlink",
			lower:      [][]ent{{dir("d"), symlink("s", "d")}},
			top:        []ent{file("s/x", "x")},
			want:       map[string]string{"d": "d 755", "d/x": "f 644 x", "s": "l d"},
			wantPooled: []string{"d/x"},
		},
		{
			name:       "a lower dir swapped for a symlink after its files were pooled",
			lower:      [][]ent{{dir("d"), dir("t")}},
			top:        []ent{file("d/a", "a"), whiteoutOf("", "d"), symlink("d", "t"), file("d/b", "b")},
			want:       map[string]string{"t": "d 755", "t/b": "f 644 b", "d": "l t"},
			wantPooled: []string{"d/a", "t/b"},
		},
		{
			name:       "a read-only lower dir is written in order",
			lower:      [][]ent{{withMode(dir("ro"), 0555), file("ro/a", "a")}},
			top:        []ent{file("ro/b", "b")},
			want:       map[string]string{"ro": "d 555", "ro/a": "f 644 a", "ro/b": "f 644 b"},
			wantPooled: []string{},
		},
		{
			name:       "a lower dir of another owner",
			lower:      [][]ent{{withOwner(dir("o"), 1000, 1000)}},
			top:        []ent{file("o/b", "b")},
			want:       map[string]string{"o": "d 755", "o/b": "f 644 b"},
			wantPooled: otherOwner,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, check := sandbox(t)
			if _, err := applyLayers(t, root, tc.lower...); err != nil {
				t.Fatal(err)
			}
			pooled := map[string]bool{}
			testPoolAdd = func(p string) { pooled[p] = true }
			defer func() { testPoolAdd = nil }()
			if _, err := Apply(context.Background(), root, bytes.NewReader(layerTar(t, tc.top...))); err != nil {
				t.Fatalf("apply: %v", err)
			}
			testPoolAdd = nil
			if got := slices.Sorted(maps.Keys(pooled)); !slices.Equal(got, tc.wantPooled) {
				t.Errorf("pooled %q, want %q", got, tc.wantPooled)
			}
			if got := tree(t, root); !equalTrees(got, tc.want) {
				t.Errorf("tree differs:\n%s", diffTrees(got, tc.want))
			}
			check()
		})
	}
}
