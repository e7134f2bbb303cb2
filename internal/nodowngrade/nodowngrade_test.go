package nodowngrade

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// spy is a plain-http listener on loopback that asks for Basic credentials, as a man in the
// middle would: it records every request that reaches it.
type spy struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	auth     []string
}

func newSpy(t *testing.T) *spy {
	s := &spy{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		if a := r.Header.Get("Authorization"); a != "" {
			s.auth = append(s.auth, a)
		}
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *spy) host() string { return strings.TrimPrefix(s.URL, "http://") }

func (s *spy) seen() (requests, auth []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...), append([]string(nil), s.auth...)
}

func TestRefusesPlainHTTPBeforeSending(t *testing.T) {
	s := newSpy(t)
	c := &http.Client{Transport: Transport(nil, PlainHTTP{Setting: "--insecure-registry HOST"})}
	_, err := c.Get(s.URL + "/v2/")
	var refused *Error
	if !errors.As(err, &refused) || refused.Host != s.host() || !strings.Contains(err.Error(), "refusing plain http to "+s.host()) ||
		!strings.Contains(err.Error(), "--insecure-registry HOST") {
		t.Fatalf("err = %v, want a refusal naming %s and the setting", err, s.host())
	}
	if req, _ := s.seen(); len(req) != 0 {
		t.Errorf("the listener saw %v", req)
	}
}

func TestAllowsHTTPSAndConfiguredHosts(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer tlsSrv.Close()
	c := &http.Client{Transport: Transport(tlsSrv.Client().Transport, PlainHTTP{})}
	if resp, err := c.Get(tlsSrv.URL); err != nil {
		t.Errorf("https: %v", err)
	} else {
		resp.Body.Close()
	}
	s := newSpy(t)
	c = &http.Client{Transport: Transport(nil, PlainHTTP{Hosts: []string{strings.ToUpper(s.host())}})}
	if resp, err := c.Get(s.URL + "/v2/"); err != nil {
		t.Errorf("configured plain http host: %v", err)
	} else {
		resp.Body.Close()
	}
	if req, _ := s.seen(); len(req) != 1 {
		t.Errorf("the configured host saw %v", req)
	}
}

// go-containerregistry on its own sends the credentials over plain http to a loopback (or RFC
// 1918) registry whose https fails; through Transport nothing reaches it.
func TestGoContainerregistryDoesNotDowngrade(t *testing.T) {
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "site-push", Password: "secret"}))
	t.Run("without the rule (what it prevents)", func(t *testing.T) {
		s := newSpy(t)
		ref, _ := name.ParseReference(s.host() + "/app:1")
		_, _ = remote.Head(ref, auth)
		if _, creds := s.seen(); len(creds) == 0 {
			t.Fatalf("go-containerregistry no longer falls back to http with credentials: this test proves nothing")
		}
	})
	t.Run("with the rule", func(t *testing.T) {
		s := newSpy(t)
		ref, _ := name.ParseReference(s.host() + "/app:1")
		_, err := remote.Head(ref, auth, remote.WithTransport(Transport(nil, PlainHTTP{})))
		var refused *Error
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), "https://"+s.host()) {
			t.Errorf("err = %v, want the https failure and the refusal", err)
		}
		if req, creds := s.seen(); len(req) != 0 || len(creds) != 0 {
			t.Errorf("the plain-http listener saw %v (credentials %v)", req, creds)
		}
	})
}
