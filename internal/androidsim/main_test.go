package androidsim

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	RunnerIfChild()
	InstallIfChild()
	os.Exit(m.Run())
}
