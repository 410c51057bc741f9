package androidsim

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	InstallIfChild()
	os.Exit(m.Run())
}
