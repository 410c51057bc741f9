package pull

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
	"github.com/rootfs-pull/rootfs-pull/registry"
	"github.com/rootfs-pull/rootfs-pull/resolver"
	"github.com/rootfs-pull/rootfs-pull/rootfs"
	"github.com/rootfs-pull/rootfs-pull/source"
)

// Explain turns an error from Pull into the one line a user reads: what
// failed and what to do about it.
func Explain(err error, o Options) string {
	var (
		pe   *registry.PlatformError
		ve   *registry.VerifyError
		oe   *OtherImageError
		ue   *UpdateError
		he   *registry.HTTPError
		dnse *net.DNSError
		le   *resolver.LookupError
		cert *x509.UnknownAuthorityError
		host x509.HostnameError
		ope  *net.OpError
		ue2  *url.Error
		fse  *rootfs.FilesystemError
	)
	var uf *UpdateFailedError
	if errors.As(err, &uf) && errors.Is(err, context.Canceled) {
		return fmt.Sprintf("interrupted: the update stopped before the swap, so %s is as it was; run the same command again to resume the update", o.Dir)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("interrupted: %s is left incomplete (not ready); run the same command again to resume", o.Dir)
	case errors.Is(err, ErrNotEmpty):
		return fmt.Sprintf("%s is not empty and is not a rootfs made by rootfs-pull: choose a new directory, or add --force to extract into it anyway", o.Dir)
	case errors.As(err, &ue) && ue.Want == "":
		return fmt.Sprintf("%s holds %s, downloaded without --sha256, so whether it changed cannot be told: add --update to download it again (and --sha256 to verify it)", ue.Dir, ue.Image)
	case errors.As(err, &ue):
		if !ue.Ready {
			return fmt.Sprintf("%s holds an unfinished pull of %s at an older digest (%s); the registry now has %s: add --update to pull the new one beside it and swap it in", ue.Dir, ue.Image, short(ue.Have), short(ue.Want))
		}
		return fmt.Sprintf("%s holds %s at %s; the registry now has %s: add --update to replace it (the old rootfs stays until the new one is complete)", ue.Dir, ue.Image, short(ue.Have), short(ue.Want))
	case errors.As(err, &oe):
		return fmt.Sprintf("%s already holds %s: pull %s into another directory, or remove this one first", oe.Dir, oe.Have, o.Image)
	case errors.As(err, &fse):
		on := "a filesystem"
		if fse.Type != "" {
			on = "a " + fse.Type + " filesystem"
		}
		return fmt.Sprintf("cannot pull into %s: it is on %s, which has no %s, so no rootfs can work there (as on shared storage: /sdcard, /storage, FAT disks): put it under $HOME in Termux (or /data/local on a rooted phone; on Linux a native filesystem)", safetext.Cut(o.Dir, 80), on, fse.Lack)
	case errors.Is(err, rootfs.ErrLocked):
		return fmt.Sprintf("another rootfs-pull is working on %s: wait for it to finish", o.Dir)
	case errors.As(err, &pe):
		return fmt.Sprintf("%s has no image for %s; it offers %s: choose one with --platform", o.Image, pe.Want, platformList(pe.Offered))
	case errors.As(err, &ve) && !fromRegistry(o.Image):
		return fmt.Sprintf("%s: %v: the file or download is damaged or was tampered with: get it again from a source you trust", safetext.Cut(o.Image, 120), err)
	case errors.As(err, &ve):
		return fmt.Sprintf("%s: %v: the registry or a proxy sent corrupt data; run the same command again to retry", o.Image, err)
	case !fromRegistry(o.Image):
		return err.Error() // no registry, DNS or TLS advice for a file
	case errors.As(err, &he) && errors.Is(err, registry.ErrUnauthorized) && he.Username != "":
		return fmt.Sprintf("login as %q refused for %s: check the user name and password (or token), and that this user may pull it (%v)", he.Username, o.Image, err)
	case errors.As(err, &he) && he.StatusCode == http.StatusTooManyRequests:
		return fmt.Sprintf("rate limited by the registry for %s (429 Too Many Requests, retried): log in (--username, or docker login) or use a mirror (--mirror)", o.Image)
	case errors.Is(err, registry.ErrStalled):
		return fmt.Sprintf("the download of %s stalled and did not recover after several tries: check your network, then run the same command again to resume", o.Image)
	case errors.As(err, &he) && he.StatusCode >= 500:
		return fmt.Sprintf("the registry keeps failing for %s (%d %s, retried): try again later, or use a mirror (--mirror)", o.Image, he.StatusCode, http.StatusText(he.StatusCode))
	case errors.Is(err, registry.ErrUnauthorized):
		return fmt.Sprintf("pull access denied for %s: the repository does not exist or needs credentials: log in with --username NAME --password-stdin, or with docker login (%v)", o.Image, err)
	case errors.As(err, &he) && errors.Is(err, registry.ErrNotFound):
		return fmt.Sprintf("%s: not found (%v): check the image name and tag", o.Image, err)
	case errors.As(err, &cert), errors.As(err, &host), strings.Contains(fmt.Sprint(err), "x509:"):
		return fmt.Sprintf("%s: TLS certificate not trusted (%v): if you trust this registry, add --insecure", o.Image, err)
	case strings.Contains(fmt.Sprint(err), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("%s: the registry speaks plain HTTP: add --insecure to allow it", o.Image)
	case errors.As(err, &le) && !le.System:
		return fmt.Sprintf("cannot resolve registry host %q: %v: %s", safetext.Cut(le.Host, 80), le, le.Hint())
	case errors.As(err, &dnse):
		return fmt.Sprintf("cannot resolve registry host %q: check the name and your network (%v)", dnse.Name, err)
	case errors.As(err, &ope), errors.As(err, &ue2):
		return fmt.Sprintf("cannot reach the registry for %s: %v: check your network or proxy settings (HTTPS_PROXY, NO_PROXY)", o.Image, err)
	}
	return err.Error()
}

// fromRegistry: the image was named as a registry's (see package source).
func fromRegistry(image string) bool {
	spec, err := source.Parse(image)
	return err == nil && spec.Kind == source.Registry
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func platformList(ps []registry.Platform) string {
	if len(ps) == 0 {
		return "no platforms"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}
