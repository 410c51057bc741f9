package export_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/export"
)

// A restore may land on another machine (a backup made on Linux, restored
// on a phone): it is prepared for this one as any pull is. The /proc
// stand-ins Android needs live in the state directory, which an archive
// never carries, so they must be made again.
func TestRestoreIsPreparedHere(t *testing.T) {
	_, _, dir := pullRich(t)
	file := filepath.Join(tmp(t), "backup.tar")
	if _, err := export.Export(ctx(t), dir, file, export.Options{}); err != nil {
		t.Fatalf("export: %v", err)
	}
	dir2 := filepath.Join(tmp(t), "copy")
	if _, err := restore(t, file, dir2); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, ".rootfs-pull/proc/loadavg")); err != nil {
		t.Errorf("the restored rootfs has no /proc stand-ins: %v", err)
	}
}
