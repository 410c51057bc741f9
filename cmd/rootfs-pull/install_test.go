package main

import (
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// install.sh downloads only over https, redirects included, refuses a
// plain http URL, and checks against a SHA256SUMS obtained separately
// (--sums) when given one.
func TestInstallScriptHTTPS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: make test's set-up installs it")
	}
	name := "rootfs-pull-linux-" + runtime.GOARCH
	bin, err := os.ReadFile(filepath.Join(releaseBinaries(t), name))
	if err != nil {
		t.Fatal(err)
	}
	sums := fmt.Sprintf("%x  %s\n", sha256.Sum256(bin), name)
	tampered := append(append([]byte{}, bin...), 0)
	tamperedSums := fmt.Sprintf("%x  %s\n", sha256.Sum256(tampered), name)

	serve := func(files map[string][]byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(b)
		}
	}
	honest := map[string][]byte{name: bin, "SHA256SUMS": []byte(sums)}
	plain := httptest.NewServer(serve(honest))
	defer plain.Close()
	good := httptest.NewTLSServer(serve(honest))
	defer good.Close()
	evil := httptest.NewTLSServer(serve(map[string][]byte{name: tampered, "SHA256SUMS": []byte(tamperedSums)}))
	defer evil.Close()
	downgrade := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
	}))
	defer downgrade.Close()
	// One CA file trusting the three test servers' certificates.
	var ca []byte
	for _, s := range []*httptest.Server{good, evil, downgrade} {
		ca = append(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})...)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca, 0644)
	trusted := filepath.Join(t.TempDir(), "SHA256SUMS")
	os.WriteFile(trusted, []byte(sums), 0644)

	for _, tt := range []struct {
		name string
		args []string
		ok   bool
		want string
	}{
		{"https", []string{"--from", good.URL}, true, "Installed"},
		{"plain http refused", []string{"--from", plain.URL}, false, "refusing http://"},
		{"redirect to http refused", []string{"--from", downgrade.URL}, false, "download"},
		{"tampered release, its own sums agree", []string{"--from", evil.URL}, true, "Installed"},
		{"tampered release, trusted sums", []string{"--from", evil.URL, "--sums", trusted}, false, "checksum mismatch"},
		{"honest release, trusted sums", []string{"--from", good.URL, "--sums", trusted}, true, "Installed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			into := t.TempDir()
			cmd := exec.Command("sh", append([]string{"../../scripts/install.sh", "--bindir", into}, tt.args...)...)
			cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+caFile)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tt.ok || !strings.Contains(string(out), tt.want) {
				t.Fatalf("err = %v, output:\n%s\nwant ok=%v and %q", err, out, tt.ok, tt.want)
			}
			_, serr := os.Stat(filepath.Join(into, "rootfs-pull"))
			if (serr == nil) != tt.ok {
				t.Errorf("installed = %v, want %v", serr == nil, tt.ok)
			}
		})
	}
}
