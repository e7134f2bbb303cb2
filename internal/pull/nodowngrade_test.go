package pull

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"airgap-site/bundle"
)

// creds is a keychain with a password for every registry, as a docker login would give.
type creds struct{}

func (creds) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: "office", Password: "secret"}), nil
}

// plainListener answers plain http on loopback (which go-containerregistry, like an RFC 1918
// address, may fall back to) asking for Basic credentials, and records what reaches it.
func plainListener(t *testing.T) (host string, seen func() (requests, auth int)) {
	t.Helper()
	var mu sync.Mutex
	var requests, auth int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		if r.Header.Get("Authorization") != "" {
			auth++
		}
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return requests, auth
	}
}

// TestPullDoesNotDowngrade: a registry at a LAN or loopback address whose https fails is not
// tried over plain http with the keychain's credentials unless it is named insecure.
func TestPullDoesNotDowngrade(t *testing.T) {
	host, seen := plainListener(t)
	p, err := New(Options{Keychain: creds{}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := bundle.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = p.Pull(context.Background(), w, host+"/team/one:1", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") ||
		!strings.Contains(err.Error(), "refusing plain http to "+host) || !strings.Contains(err.Error(), "--insecure-registry") {
		t.Errorf("err = %v, want the TLS failure and the refused downgrade", err)
	}
	if requests, auth := seen(); requests != 0 || auth != 0 {
		t.Errorf("the plain-http listener saw %d requests, %d with credentials", requests, auth)
	}

	// Named insecure, it is reached over plain http, credentials and all: the check above
	// can fail.
	p, err = New(Options{Keychain: creds{}, Insecure: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pull(context.Background(), w, host+"/team/one:1", nil, nil); err == nil {
		t.Fatal("pulled from a listener that answers 401 to everything")
	}
	if _, auth := seen(); auth == 0 {
		t.Errorf("--insecure-registry %s: no request with credentials reached it", host)
	}
}
