package decompress

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
)

// compress writes data in format f, with the test images' compressor.
func compress(t *testing.T, f Format, data []byte) []byte {
	t.Helper()
	c := map[Format]testimage.Compression{Gzip: testimage.Gzip, Zstd: testimage.Zstd, Plain: testimage.None, Xz: testimage.Xz, Bzip2: testimage.Bzip2}[f]
	return testimage.Compress(data, c)
}

func TestNewReader(t *testing.T) {
	data := bytes.Repeat([]byte("layer content "), 10000)
	tests := []struct {
		name, mediaType string
		format          Format // of the bytes
		want            Format // what NewReader reports
		err             string
	}{
		{"oci gzip", "application/vnd.oci.image.layer.v1.tar+gzip", Gzip, Gzip, ""},
		{"docker gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip", Gzip, Gzip, ""},
		{"oci zstd", "application/vnd.oci.image.layer.v1.tar+zstd", Zstd, Zstd, ""},
		{"oci plain", "application/vnd.oci.image.layer.v1.tar", Plain, Plain, ""},
		{"foreign gzip", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Gzip, Gzip, ""},
		{"labelled plain, is gzip: the bytes win", "application/vnd.oci.image.layer.v1.tar", Gzip, Gzip, ""},
		{"labelled gzip, is zstd: the bytes win", "application/vnd.oci.image.layer.v1.tar+gzip", Zstd, Zstd, ""},
		{"labelled gzip, is plain", "application/vnd.oci.image.layer.v1.tar+gzip", Plain, Gzip, "not gzip"},
		{"plain tar label, xz bytes (a rootfs tarball)", "application/vnd.oci.image.layer.v1.tar", Xz, Xz, ""},
		{"plain tar label, bzip2 bytes (a rootfs tarball)", "application/vnd.oci.image.layer.v1.tar", Bzip2, Bzip2, ""},
		{"labelled gzip, is xz: the bytes win", "application/vnd.oci.image.layer.v1.tar+gzip", Xz, Xz, ""},
		{"not a layer", "application/vnd.oci.image.config.v1+json", Plain, Plain, "layer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, f, err := NewReader(tt.mediaType, bytes.NewReader(compress(t, tt.format, data)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if f != tt.want {
				t.Errorf("format %v, want %v", f, tt.want)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("read %d bytes, %v", len(got), err)
			}
		})
	}
}

// A truncated stream is an error, never a short success.
func TestTruncated(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1<<20)
	for _, f := range []Format{Gzip, Zstd} {
		blob := compress(t, f, data)
		r, _, err := NewReader("application/vnd.oci.image.layer.v1.tar", bytes.NewReader(blob[:len(blob)/2]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r); err == nil {
			t.Errorf("%v: a truncated stream read without error", f)
		}
		r.Close()
	}
}
