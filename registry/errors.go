package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/rootfs-pull/rootfs-pull/internal/safetext"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrUnauthorized: the registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: the repository, tag, manifest or blob does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnsupported: a manifest or layer of a kind this tool cannot use.
	ErrUnsupported = errors.New("unsupported")
	// ErrVerify: content did not match its digest or size.
	ErrVerify = errors.New("verification failed")
)

// HTTPError is a registry's non-success answer, with the code and message
// from its error body when it sent one.
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	Code       string // e.g. MANIFEST_UNKNOWN, DENIED
	Message    string
	// Username is the user the request was sent as when it was refused
	// (401/403); empty for an anonymous request.
	Username string
}

// Error is one line: the registry's code and message (and the URL, which
// a redirect may have chosen) are escaped and cut to a readable length.
func (e *HTTPError) Error() string {
	url := safetext.Cut(e.URL, 200)
	s := fmt.Sprintf("%s %s: %s", e.Method, url, http.StatusText(e.StatusCode))
	if e.StatusCode != 0 {
		s = fmt.Sprintf("%s %s: %d %s", e.Method, url, e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Code != "" || e.Message != "" {
		s += ": " + safetext.Cut(strings.TrimSpace(strings.ToLower(e.Code)+" "+e.Message), 200)
	}
	return s
}

// Is lets errors.Is(err, ErrUnauthorized) and errors.Is(err, ErrNotFound)
// match on the status and code.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden ||
			e.Code == "UNAUTHORIZED" || e.Code == "DENIED"
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound || e.Code == "NAME_UNKNOWN" ||
			e.Code == "MANIFEST_UNKNOWN" || e.Code == "BLOB_UNKNOWN"
	}
	return false
}

// newHTTPError reads (a bounded part of) resp's body for the registry's
// error JSON: {"errors":[{"code":…,"message":…}]}.
func newHTTPError(resp *http.Response) *HTTPError {
	e := &HTTPError{Method: resp.Request.Method, URL: resp.Request.URL.Redacted(), StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
		Details string `json:"details"` // token servers
	}
	if json.Unmarshal(body, &doc) == nil {
		if len(doc.Errors) > 0 {
			e.Code, e.Message = doc.Errors[0].Code, doc.Errors[0].Message
		} else if doc.Details != "" {
			e.Message = doc.Details
		}
	}
	return e
}

// VerifyError says which content failed verification and how.
type VerifyError struct {
	What     string // "blob", "manifest", "layer content (diff_id)"
	Expected digest.Digest
	Actual   digest.Digest // empty for a size error
	Size     int64         // expected size, for a size error
	Got      int64         // bytes received, for a size error
	// Cached: the bad copy came from the blob cache (and was dropped from
	// it); fetching again from the registry may well succeed.
	Cached bool
}

func (e *VerifyError) Error() string {
	if e.Actual == "" {
		return fmt.Sprintf("%s %s: size mismatch: expected %d bytes, got %d", e.What, safetext.Cut(string(e.Expected), 140), e.Size, e.Got)
	}
	return fmt.Sprintf("%s %s: digest mismatch: got %s", e.What, safetext.Cut(string(e.Expected), 140), e.Actual)
}

// Is makes every VerifyError match ErrVerify.
func (e *VerifyError) Is(target error) bool { return target == ErrVerify }

// PlatformError says the image has no manifest for the wanted platform and
// lists what it offers.
type PlatformError struct {
	Want    Platform
	Offered []Platform
}

func (e *PlatformError) Error() string {
	names := make([]string, len(e.Offered))
	for i, p := range e.Offered {
		names[i] = safetext.Cut(p.String(), 60)
	}
	return fmt.Sprintf("no image for platform %s; the image offers: %s", safetext.Cut(e.Want.String(), 60), safetext.Cut(strings.Join(names, ", "), 400))
}

// Is makes a PlatformError match ErrNotFound.
func (e *PlatformError) Is(target error) bool { return target == ErrNotFound }
