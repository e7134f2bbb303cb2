package siteregistry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"airgap-site/internal/nodowngrade"
)

// Error is a failure at one endpoint.
type Error struct {
	Endpoint string
	Err      error
}

func (e *Error) Error() string { return e.Endpoint + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// StallError is a request that moved no byte for Idle: the endpoint accepted it (or not even
// that) and went silent.
type StallError struct {
	Host string
	Idle time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("%s: no response or progress for %s", e.Host, e.Idle)
}

// Timeout marks a stall as a timeout for code that asks net.Error.
func (e *StallError) Timeout() bool { return true }

// Temporary marks a stall as worth retrying for code that asks (go-containerregistry does).
func (e *StallError) Temporary() bool { return true }

// permanent is implemented by errors no retry can fix (a corrupt source).
type permanent interface{ Permanent() bool }

// Retryable reports whether err is worth another try, at the next endpoint now or at the same
// one later: the endpoint did not answer (refused, reset, closed, stalled, timed out) or said
// it cannot serve now (5xx, 429, 408). A 4xx answer, a certificate problem, a scheme mismatch
// (plain http or other bytes where TLS was expected) or a permanent error (a corrupt source) is
// not: every endpoint would say the same.
//
// A plain-http request refused by nodowngrade comes beside the https failure that made
// go-containerregistry try http: that failure decides (a registry pod restarting is retried, a
// man in the middle answering plain http is not). A refusal alone (a redirect to http) is not
// retried.
//
// The operation's own context is not looked at here: Do checks it first. A context error seen
// while the operation is alive comes from a sub-timeout (dial, TLS handshake) and is retried.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var p permanent
	if errors.As(err, &p) && p.Permanent() {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch c := terr.StatusCode; {
		case c >= 500, c == http.StatusTooManyRequests, c == http.StatusRequestTimeout:
			return true
		}
		return false
	}
	var stall *StallError
	if errors.As(err, &stall) {
		return true
	}
	var record tls.RecordHeaderError
	if badCertificate(err) || errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &record) {
		return false
	}
	var nerr net.Error // *url.Error, *net.OpError, dial and handshake timeouts
	if errors.As(err, &nerr) {
		// The first network error is the https one when there was a fallback to http.
		var refused *nodowngrade.Error
		return !errors.As(nerr, &refused)
	}
	for _, e := range []error{io.ErrUnexpectedEOF, io.EOF, net.ErrClosed, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func badCertificate(err error) bool {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}
