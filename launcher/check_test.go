package launcher

import (
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCheckImage(t *testing.T) {
	ok := []ocispec.Image{
		{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{Platform: ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8.2"}},
		{Platform: ocispec.Platform{OS: "linux", Architecture: "riscv64"}},
		{Platform: ocispec.Platform{Architecture: "x86_64"}},
		{Config: ocispec.ImageConfig{User: "www-data:www-data", WorkingDir: "-w /", Entrypoint: []string{"/bin/app"}, Cmd: []string{"-x", "$(id)"}}},
		{Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", "-r"}}},
		{Config: ocispec.ImageConfig{User: "1000:50"}},
	}
	for _, img := range ok {
		if err := CheckImage(img); err != nil {
			t.Errorf("%+v: %v", img, err)
		}
	}
	bad := []ocispec.Image{
		{Platform: ocispec.Platform{Architecture: "../../tmp/x"}},
		{Platform: ocispec.Platform{Architecture: "x86_64; rm -rf"}},
		{Platform: ocispec.Platform{Architecture: "arm64 "}},
		{Platform: ocispec.Platform{Architecture: "arm", Variant: "v7/../x"}},
		{Platform: ocispec.Platform{Architecture: "arm", Variant: "7"}},
		{Platform: ocispec.Platform{Architecture: "arm", Variant: "v7 -q /x"}},
		{Platform: ocispec.Platform{OS: "linux\nx", Architecture: "arm"}},
		{Config: ocispec.ImageConfig{User: "--help"}},
		{Config: ocispec.ImageConfig{User: "0:-1"}},
		{Config: ocispec.ImageConfig{WorkingDir: "/a\x00b"}},
		{Config: ocispec.ImageConfig{Entrypoint: []string{"a\x00"}}},
		// The program starting with -: proot's options (ErrDashCommand).
		{Config: ocispec.ImageConfig{Entrypoint: []string{"-r", "/", "/bin/sh"}}},
		{Config: ocispec.ImageConfig{Entrypoint: []string{"-"}, Cmd: []string{"/bin/sh"}}},
		{Config: ocispec.ImageConfig{Cmd: []string{"-x", "$(id)"}}},
		{Config: ocispec.ImageConfig{Cmd: []string{"--"}}},
	}
	for _, img := range bad {
		if err := CheckImage(img); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: err = %v, want ErrBadConfig", img, err)
		}
		if _, err := NewConfig(t.TempDir(), img, "amd64", Auto); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewConfig %+v: err = %v, want ErrBadConfig", img, err)
		}
	}
	// A qemu name only ever comes from the known set.
	if _, found := FindQemu("../../tmp/x"); found {
		t.Error("FindQemu found a program for an unknown architecture")
	}
	if q, _ := FindQemu("../../tmp/x"); q != "qemu-______tmp_x-static" {
		t.Errorf("FindQemu of an unknown architecture = %q", q)
	}
}
