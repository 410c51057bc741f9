// Command demo shows rootfs-pull end to end on a machine without internet
// (make demo): it starts a real Docker registry on 127.0.0.1, pushes a
// small busybox image built from the host's static busybox, pulls it with
// the rootfs-pull binary, and runs the container with the start command
// rootfs-pull printed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rootfs-pull/rootfs-pull/internal/testimage"
	"github.com/rootfs-pull/rootfs-pull/internal/testregistry"
	"github.com/rootfs-pull/rootfs-pull/launcher"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
)

func main() {
	bin := flag.String("bin", "bin/rootfs-pull", "the rootfs-pull binary")
	dir := flag.String("dir", "demo/busybox", "where to pull the rootfs")
	busybox := flag.String("busybox", "/bin/busybox", "a static busybox for the image")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := run(ctx, *bin, *dir, *busybox); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, dir, busybox string) error {
	reg, err := testregistry.Start(testregistry.Options{})
	if err != nil {
		return fmt.Errorf("start the registry: %w", err)
	}
	defer reg.Close()
	say("A Docker registry (distribution v3) is listening on %s.", reg.Host)

	base, err := testimage.Busybox(busybox)
	if err != nil {
		return err
	}
	app := testimage.Tar(
		testimage.File("etc/motd", "Pulled by rootfs-pull, no Docker involved.\n"),
		testimage.File("tmp/.wh.junk", ""), // a whiteout, as real images have
	)
	im := testimage.Build(testimage.Spec{
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/bin", "GREETING=hello from the container"},
			WorkingDir: "/home/user",
			Cmd: []string{"/bin/sh", "-c",
				`cat /etc/motd; echo "$GREETING: $(uname -m), uid $(id -u), in $(pwd)"; ls /`},
		},
		Layers: []testimage.Layer{
			{Tar: base, Compression: testimage.Gzip},
			{Tar: app, Compression: testimage.Zstd},
		},
	})
	image := reg.Host + "/demo/busybox:latest"
	p := testimage.Pusher{Host: reg.Host}
	if err := p.Push(ctx, "demo/busybox", "latest", im); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	say("Pushed %s (a gzip and a zstd layer).", image)

	if err := clean(dir); err != nil {
		return err
	}
	if err := show(ctx, bin, image, dir); err != nil {
		return err
	}
	say("Pulling again changes nothing:")
	if err := show(ctx, bin, image, dir); err != nil {
		return err
	}

	out, err := exec.CommandContext(ctx, bin, "--json", image, dir).Output()
	if err != nil {
		return fmt.Errorf("%s --json: %w", bin, err)
	}
	var res struct {
		StartCommand []string `json:"start_command"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.StartCommand) == 0 {
		return fmt.Errorf("reading the start command from --json: %v", err)
	}
	say("Running the container with the start command it printed (its default command):")
	if err := show(ctx, res.StartCommand[0], res.StartCommand[1:]...); err != nil {
		return err
	}
	if _, err := exec.LookPath("proot"); err == nil {
		say("The same under proot, as Termux users run it, with a command of our own:")
		os.Setenv("ROOTFS_RUNTIME", "proot")
		fmt.Printf("\n$ export ROOTFS_RUNTIME=proot")
		if err := show(ctx, res.StartCommand[0], "sh", "-c", `echo "$GREETING, as uid $(id -u) in $(pwd)"; ls -l /etc`); err != nil {
			return err
		}
	}
	say("Done. The rootfs is in %s.", dir)
	return nil
}

// clean removes an earlier demo's rootfs, and only that.
func clean(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := rootfs.LoadState(dir); err != nil {
		return fmt.Errorf("%s exists and is not a rootfs-pull rootfs: remove it or pick another -dir", dir)
	}
	return rootfs.RemoveTree(dir) // read-only dirs from the image, and never through a mount
}

func show(ctx context.Context, name string, args ...string) error {
	fmt.Printf("\n$ %s\n", launcher.QuoteArgs(append([]string{name}, args...)))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func say(format string, args ...any) {
	fmt.Printf("\n== "+format+"\n", args...)
}
