package siteregistry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"airgap-site/internal/nodowngrade"
	"airgap-site/provider/internal/registrytest"
)

var fast = Policy{For: 2 * time.Second, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}

var (
	refused = &url.Error{Op: "Get", URL: "http://a/v2/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	status  = func(code int) error { return &transport.Error{StatusCode: code} }
)

type permanentErr struct{}

func (permanentErr) Error() string   { return "corrupt" }
func (permanentErr) Permanent() bool { return true }

func TestRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{refused, true},
		{status(http.StatusServiceUnavailable), true},
		{status(http.StatusInternalServerError), true},
		{status(http.StatusTooManyRequests), true},
		{fmt.Errorf("pushing: %w", status(http.StatusBadGateway)), true},
		{&StallError{Host: "a", Idle: time.Second}, true},
		{io.ErrUnexpectedEOF, true},
		{&url.Error{Op: "Get", URL: "u", Err: context.DeadlineExceeded}, true}, // a dial timeout
		{status(http.StatusNotFound), false},
		{status(http.StatusUnauthorized), false},
		{status(http.StatusBadRequest), false},
		{&url.Error{Op: "Get", URL: "u", Err: x509.UnknownAuthorityError{}}, false},
		{&url.Error{Op: "Get", URL: "u", Err: http.ErrSchemeMismatch}, false},
		{&url.Error{Op: "Get", URL: "u", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}, false},
		{&url.Error{Op: "Put", URL: "u", Err: permanentErr{}}, false},
		{errors.New("something else"), false},
	}
	for _, c := range cases {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// recorder is an operation that fails at some endpoints, and records the order it was tried in.
type recorder struct {
	mu    sync.Mutex
	tried []string
	fail  func(ep string) error
}

func (r *recorder) op(_ context.Context, ep string) error {
	r.mu.Lock()
	r.tried = append(r.tried, ep)
	r.mu.Unlock()
	return r.fail(ep)
}

func TestDoFailsOverInOrderAndRemembers(t *testing.T) {
	r := &recorder{fail: func(ep string) error {
		if ep == "a:1" {
			return refused
		}
		return nil
	}}
	var told []string
	e := Endpoints{Addrs: []string{"a:1", "b:1", "c:1"}, Policy: fast, Health: NewHealth(),
		OnFailure: func(ep string, err error) { told = append(told, ep) }}
	ep, err := e.Do(context.Background(), r.op)
	if err != nil || ep != "b:1" || !slices.Equal(r.tried, []string{"a:1", "b:1"}) || !slices.Equal(told, []string{"a:1"}) {
		t.Fatalf("served by %q (%v), tried %v, told %v", ep, err, r.tried, told)
	}
	// The next operation of the process starts with the endpoint that works.
	r.tried = nil
	if ep, _ := e.Do(context.Background(), r.op); ep != "b:1" || !slices.Equal(r.tried, []string{"b:1"}) {
		t.Errorf("second operation: served by %q, tried %v", ep, r.tried)
	}
}

func TestDoStopsAtAnAnswer(t *testing.T) {
	r := &recorder{fail: func(string) error { return status(http.StatusNotFound) }}
	_, err := Endpoints{Addrs: []string{"a:1", "b:1"}, Policy: fast}.Do(context.Background(), r.op)
	var eerr *Error
	if !errors.As(err, &eerr) || eerr.Endpoint != "a:1" || len(r.tried) != 1 {
		t.Errorf("a 404 was retried: %v, tried %v", err, r.tried)
	}
}

func TestDoRidesOutAnOutage(t *testing.T) {
	back := time.Now().Add(300 * time.Millisecond)
	r := &recorder{fail: func(string) error {
		if time.Now().Before(back) {
			return status(http.StatusServiceUnavailable)
		}
		return nil
	}}
	if _, err := (Endpoints{Addrs: []string{"a:1", "b:1"}, Policy: fast}).Do(context.Background(), r.op); err != nil {
		t.Fatalf("outage of 300ms with 2s of retries: %v", err)
	}
	if len(r.tried) < 4 {
		t.Errorf("tried %v", r.tried)
	}
}

func TestDoGivesUpNamingEveryEndpoint(t *testing.T) {
	r := &recorder{fail: func(string) error { return status(http.StatusServiceUnavailable) }}
	p := fast
	p.For = 200 * time.Millisecond
	start := time.Now()
	_, err := Endpoints{Addrs: []string{"a:1", "b:1"}, Policy: p}.Do(context.Background(), r.op)
	if err == nil || !strings.Contains(err.Error(), "a:1") || !strings.Contains(err.Error(), "b:1") || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("gave up after %s, policy says 200ms", d)
	}
}

func TestDoStopsWhenCancelled(t *testing.T) {
	r := &recorder{fail: func(string) error { return refused }}
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("cancelled by the engine")) })
	start := time.Now()
	_, err := Endpoints{Addrs: []string{"a:1"}, Policy: Policy{For: time.Minute, Initial: 10 * time.Second}}.Do(ctx, r.op)
	if err == nil || !strings.Contains(err.Error(), "cancelled by the engine") || !strings.Contains(err.Error(), "a:1") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %s", d)
	}
}

func TestDoDoesNotWaitPastTheDeadline(t *testing.T) {
	r := &recorder{fail: func(string) error { return refused }}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Endpoints{Addrs: []string{"a:1"}, Policy: Policy{For: time.Minute, Initial: 5 * time.Second}}.Do(ctx, r.op)
	if err == nil || !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), "a:1") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("waited %s for a try that could not happen", d)
	}
}

// A plain-http request refused by nodowngrade is classified by the https failure beside it.
func TestRetryableRefusedDowngrade(t *testing.T) {
	tr := func() remote.Option {
		return remote.WithTransport(nodowngrade.Transport(Transport(nil, 2*time.Second), nodowngrade.PlainHTTP{}))
	}
	head := func(host string) error {
		ref, err := name.ParseReference(host + "/app:1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = remote.Head(ref, append(NoRetries(), tr())...)
		var refused *nodowngrade.Error
		if err == nil || !errors.As(err, &refused) {
			t.Fatalf("%s: err = %v, want an https failure and a refused downgrade", host, err)
		}
		return err
	}
	// A registry that is down (a pod restarting): the https dial is refused; worth retrying.
	if err := head(registrytest.Refused(t)); !Retryable(err) {
		t.Errorf("a down endpoint is not retryable: %v", err)
	}
	// Something answering plain http where TLS is expected: no retry fixes that.
	mitm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer mitm.Close()
	if err := head(strings.TrimPrefix(mitm.URL, "http://")); Retryable(err) {
		t.Errorf("a plain-http answer is retryable: %v", err)
	}
	// A refusal alone (a redirect to http) is not retried either.
	alone := &url.Error{Op: "Get", URL: "http://a/v2/", Err: &nodowngrade.Error{Scheme: "http", Host: "a"}}
	if Retryable(alone) {
		t.Errorf("a refused redirect to http is retryable")
	}
}
