package androidsim

import (
	"bytes"
	"os"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/androidsim/internal/sysnum"
)

// TestSysnumFresh proves zsysnum.go is what go generate makes from the
// golang.org/x/sys that go.mod names, so the numbers cannot go stale.
func TestSysnumFresh(t *testing.T) {
	dir, err := sysnum.XSysDir()
	if err != nil {
		t.Fatal(err)
	}
	want, err := sysnum.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("zsysnum.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("zsysnum.go is stale: run go generate ./internal/androidsim")
	}
}

// TestSysnumKnown spot-checks the tables against numbers from the
// kernel's unistd headers.
func TestSysnumKnown(t *testing.T) {
	for _, c := range []struct {
		table map[string]uint32
		name  string
		nr    uint32
	}{
		{sysnumX86_64, "read", 0},
		{sysnumX86_64, "link", 86},
		{sysnumX86_64, "linkat", 265},
		{sysnumX86_64, "newfstatat", 262},
		{sysnumX86_64, "openat2", 437},
		{sysnumX86_64, "fchmodat2", 452},
		{sysnumARM64, "read", 63},
		{sysnumARM64, "linkat", 37},
		{sysnumARM64, "newfstatat", 79},
		{sysnumARM64, "openat2", 437},
	} {
		if got, ok := c.table[c.name]; !ok || got != c.nr {
			t.Errorf("%s = %d (%v), want %d", c.name, got, ok, c.nr)
		}
	}
	if _, ok := sysnumARM64["link"]; ok {
		t.Error("arm64 has no link(2), only linkat(2)")
	}
}
