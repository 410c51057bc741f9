package export_test

import (
	"bytes"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/asnobody"
)

// TestUnprivileged re-runs the export tests as uid/gid 65534 when the
// tests run as root (as Termux users run rootfs-pull): ownership and
// device nodes are then skipped by the pull, and an export and restore
// must still give the same tree.
func TestUnprivileged(t *testing.T) {
	if asnobody.Child() {
		t.Skip("this is the unprivileged run")
	}
	if !isRoot() {
		t.Skip("not root: this whole run is the unprivileged one")
	}
	tests := []string{"TestExportRestoreIdentical", "TestRestoreHostileArchive", "TestRestoreTruncated", "TestRestoredLauncherRuns",
		"TestReviewRestoreSparseBounded", "TestReviewRestoredTreeIsNotTheRegistryImage", "TestReviewRestoreDoesNotResumeAnotherArchive",
		"TestReviewRestoreMetaIsWhatWasHashed", "TestReviewRestoreDuplicateMeta", "TestReviewRestoredStateText"}
	b := asnobody.Rerun(t, tests)
	for _, name := range tests {
		if !bytes.Contains(b, []byte("--- PASS: "+name)) {
			t.Errorf("%s did not pass as uid 65534:\n%s", name, b)
		}
	}
}
