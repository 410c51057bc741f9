package export_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/export"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

// TestReviewRestoredStateText: the archive's state is free text. Its
// platform went into the restored state (registry.ParsePlatform only
// lowercases), from where ls and the pull's messages print it; an image
// name with control characters became the rootfs's name. The platform
// must be the config's (checked by the pull), and a name that is not
// printable refuses the archive.
func TestReviewRestoredStateText(t *testing.T) {
	_, _, dir := pullRich(t)
	for _, tc := range []struct {
		name   string
		forge  func(st *rootfs.State)
		refuse bool
	}{
		{"platform", func(st *rootfs.State) { st.Platform = "linux/amd64\x1b[2J" }, false},
		{"image", func(st *rootfs.State) { st.Image = "ubuntu\x1b]2;owned\x07" }, true},
		{"reference", func(st *rootfs.State) { st.Reference = "docker.io/library/ubuntu:latest\n" }, true},
		{"long-image", func(st *rootfs.State) { st.Image = strings.Repeat("a", 1<<20) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := metaOf(t, dir)
			for _, e := range meta {
				if e.h.Name != ".rootfs-pull-export/state.json" {
					continue
				}
				var st rootfs.State
				if err := json.Unmarshal(e.body, &st); err != nil {
					t.Fatal(err)
				}
				tc.forge(&st)
				e.body, _ = json.Marshal(st)
				e.h.Size = int64(len(e.body))
			}
			file := forge(t, meta, backdoorTree(), true)
			dir2 := filepath.Join(tmp(t), "r")
			src, err := export.Open(file, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = pullFrom(t, src, file, dir2)
			if tc.refuse {
				if !errors.Is(err, export.ErrBadArchive) {
					t.Errorf("restore: %v; want ErrBadArchive", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := rootfs.LoadState(dir2)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(st.Platform+st.Image+st.Reference, "\x1b\n\a") {
				t.Errorf("restored state holds the archive's control characters: %q %q %q", st.Image, st.Reference, st.Platform)
			}
		})
	}
}
