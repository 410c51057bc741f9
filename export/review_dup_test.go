package export_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/export"
)

// TestReviewRestoreDuplicateMeta: an export has each meta entry once.
// Resolve read any number of them, each up to 16 MiB, keeping the last:
// a small compressed archive repeating its state thousands of times makes
// a restore parse gigabytes before the tree, and which state, config or
// defaults counts is whatever came last. A repeated meta entry is a
// damaged archive.
func TestReviewRestoreDuplicateMeta(t *testing.T) {
	_, _, dir := pullRich(t)
	for _, dup := range []string{".rootfs-pull-export.json", ".rootfs-pull-export/state.json", ".rootfs-pull-export/config.json", ".rootfs-pull-export/defaults"} {
		t.Run(filepath.Base(dup), func(t *testing.T) {
			var meta []*entry
			for _, e := range metaOf(t, dir) {
				meta = append(meta, e)
				if e.h.Name == dup {
					meta = append(meta, e, e)
				}
			}
			file := forge(t, meta, backdoorTree(), true)
			src, err := export.Open(file, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = pullFrom(t, src, file, filepath.Join(tmp(t), "r"))
			if !errors.Is(err, export.ErrBadArchive) {
				t.Errorf("an archive with %s three times: %v; want ErrBadArchive", dup, err)
			}
		})
	}
}
