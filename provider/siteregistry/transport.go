package siteregistry

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Transport is the HTTP transport to a registry: never through a proxy (the site registry is
// local), verified against tlsConfig when given, and bounded by idle: dial, TLS handshake,
// waiting for the response and reading or writing a body each fail once no byte has moved for
// idle. A bound on progress rather than on total time lets a large blob stream for as long as
// it moves.
func Transport(tlsConfig *tls.Config, idle time.Duration) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	// Within idle, but a dial or handshake that takes 10 s is already a dead endpoint.
	bound := min(idle, 10*time.Second)
	t.DialContext = (&net.Dialer{Timeout: bound, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = bound
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig
	}
	return &watchdog{next: t, idle: idle}
}

// NoRetries turns go-containerregistry's own retries off: Do retries whole operations, with
// waits that stop when the operation is cancelled; go-containerregistry sleeps without
// watching the context, and nested under Do its retries would multiply the waits.
func NoRetries() []remote.Option {
	return []remote.Option{
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
	}
}

// watchdog cancels a request once no byte has moved for idle: before the response (dial,
// handshake, sending the body, waiting for headers) and while the response body is read. It is
// the response-header timeout and the body stall detector in one.
type watchdog struct {
	next http.RoundTripper
	idle time.Duration
}

func (w *watchdog) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	stall := &StallError{Host: req.URL.Host, Idle: w.idle}
	timer := time.AfterFunc(w.idle, func() { cancel(stall) })
	kick := func() { timer.Reset(w.idle) }
	stop := func() { timer.Stop(); cancel(nil) }

	r := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		r.Body = &progressBody{ReadCloser: req.Body, kick: kick}
		if req.GetBody != nil {
			r.GetBody = func() (io.ReadCloser, error) {
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				return &progressBody{ReadCloser: b, kick: kick}, nil
			}
		}
	}
	resp, err := w.next.RoundTrip(r)
	if err != nil {
		stalled := context.Cause(ctx) == error(stall)
		stop()
		if stalled {
			return nil, stall
		}
		return nil, err
	}
	kick()
	resp.Body = &watchedBody{ReadCloser: resp.Body, kick: kick, stop: stop, ctx: ctx, stall: stall}
	return resp, nil
}

// progressBody kicks the watchdog as the transport reads a request body.
type progressBody struct {
	io.ReadCloser
	kick func()
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.kick()
	}
	return n, err
}

// watchedBody kicks the watchdog as a response body is read, reports a stall as one, and
// stops the watchdog when closed.
type watchedBody struct {
	io.ReadCloser
	kick  func()
	stop  func()
	ctx   context.Context
	stall *StallError
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.kick()
	}
	if err != nil && err != io.EOF && context.Cause(b.ctx) == error(b.stall) {
		err = b.stall
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	return err
}
