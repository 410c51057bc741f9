package registry_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/registry"
)

// tokenRegistry is the real registry behind a token server that acts like
// Docker Hub: public repositories anonymously, private/ ones only with
// credentials.
func tokenRegistry(t *testing.T) *testregistry.Registry {
	t.Helper()
	reg, err := testregistry.Start(testregistry.Options{
		TokenAuth: true, PrivatePrefix: "private/",
		Users: map[string]string{"admin": "adminpw", "alice": "s3cret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := testimage.Pusher{Host: reg.Host, Username: "admin", Password: "adminpw"}
	im := testimage.Build(testimage.Spec{Layers: []testimage.Layer{
		{Tar: testimage.Tar(testimage.File("a", "1")), Compression: testimage.Gzip},
		{Tar: testimage.Tar(testimage.File("b", "2")), Compression: testimage.Gzip},
	}})
	for _, repo := range []string{"public/app", "private/app"} {
		if err := p.Push(ctx, repo, "v1", im); err != nil {
			t.Fatalf("push %s: %v", repo, err)
		}
	}
	return reg
}

// resolveAll resolves ref and reads every layer blob to its end.
func resolveAll(ctx context.Context, c *registry.Client, name string) error {
	ref, err := registry.ParseReference(name)
	if err != nil {
		return err
	}
	im, err := c.Resolve(ctx, ref, registry.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		return err
	}
	for _, l := range im.Manifest.Layers {
		rc, err := c.Blob(ctx, ref, l)
		if err != nil {
			return err
		}
		_, err = readAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func readAll(rc interface{ Read([]byte) (int, error) }) (int, error) {
	buf := make([]byte, 4096)
	total := 0
	for {
		n, err := rc.Read(buf)
		total += n
		if err != nil {
			if err.Error() == "EOF" {
				return total, nil
			}
			return total, err
		}
	}
}

func TestTokenAuth(t *testing.T) {
	reg := tokenRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := func(user, pass string) *registry.Client {
		c, err := registry.NewClient(registry.Options{Username: user, Password: pass, NoDockerConfig: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name, image, user, pass string
		unauthorized            bool
	}{
		{"public, anonymous", "public/app:v1", "", "", false},
		{"private, anonymous", "private/app:v1", "", "", true},
		{"private, with credentials", "private/app:v1", "alice", "s3cret", false},
		{"private, wrong password", "private/app:v1", "alice", "wrong", true},
		{"public, wrong password", "public/app:v1", "alice", "wrong", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := resolveAll(ctx, client(tt.user, tt.pass), reg.Host+"/"+tt.image)
			if tt.unauthorized != errors.Is(err, registry.ErrUnauthorized) || (!tt.unauthorized && err != nil) {
				t.Fatalf("err = %v, want unauthorized=%v", err, tt.unauthorized)
			}
		})
	}

	t.Run("one token serves a whole pull and a new one replaces a refused one", func(t *testing.T) {
		c := client("", "")
		before := reg.TokenRequests.Load()
		if err := resolveAll(ctx, c, reg.Host+"/public/app:v1"); err != nil {
			t.Fatal(err)
		}
		if n := reg.TokenRequests.Load() - before; n != 1 {
			t.Errorf("%d token requests for one pull (manifest, config, 2 layers), want 1", n)
		}
		if err := reg.RotateTokenKey(); err != nil { // every issued token is now refused
			t.Fatal(err)
		}
		before = reg.TokenRequests.Load()
		if err := resolveAll(ctx, c, reg.Host+"/public/app:v1"); err != nil {
			t.Fatalf("pull after the token was invalidated: %v", err)
		}
		if n := reg.TokenRequests.Load() - before; n != 1 {
			t.Errorf("%d token requests after invalidation, want 1 (a fresh token, then reuse)", n)
		}
	})
}

func TestDockerConfigCredentials(t *testing.T) {
	reg := tokenRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range []struct {
		name, pass string
		ok         bool
	}{{"right password", "s3cret", true}, {"wrong password", "nope", false}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, base64.StdEncoding.EncodeToString([]byte("alice:"+tt.pass)))
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DOCKER_CONFIG", dir)
			c, err := registry.NewClient(registry.Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = resolveAll(ctx, c, reg.Host+"/private/app:v1")
			if tt.ok && err != nil {
				t.Fatalf("pull with docker config credentials: %v", err)
			}
			if !tt.ok && !errors.Is(err, registry.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
}
