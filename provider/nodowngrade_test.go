package provider

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/provider/contract"
)

// mitm is a plain-http listener on loopback (which go-containerregistry, like an RFC 1918
// address, treats as "may fall back to http") where the site registry's TLS endpoint should
// be: it asks for Basic credentials, as a man in the middle would, and records what reaches it.
type mitm struct {
	host     string
	mu       sync.Mutex
	requests []string
	auth     []string
}

func newMITM(t *testing.T) *mitm {
	t.Helper()
	m := &mitm{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.requests = append(m.requests, r.Method+" "+r.URL.Path)
		if a := r.Header.Get("Authorization"); a != "" {
			m.auth = append(m.auth, a)
		}
		m.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	m.host = strings.TrimPrefix(srv.URL, "http://")
	return m
}

func (m *mitm) seen() (requests, auth []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...), append([]string(nil), m.auth...)
}

// TestNoDowngradeToPlainHTTP: with the site registry's endpoint answered by a plain-http
// listener, copy, read and delete fail with the TLS error and a refused downgrade, at once,
// and the listener never sees a request, let alone the push password.
func TestNoDowngradeToPlainHTTP(t *testing.T) {
	m := newMITM(t)
	f, _ := faultFixture(t, m.host, m.host)
	f.inputs["insecure"] = resource.NewBoolProperty(false)
	f.inputs["username"] = resource.NewStringProperty("site-push")
	state := f.inputs.Copy()
	state["digest"] = resource.NewStringProperty("sha256:" + strings.Repeat("0", 64))

	check := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") ||
			!strings.Contains(err.Error(), "refusing plain http to "+m.host) {
			t.Errorf("%s: err = %v, want the TLS failure and the refused downgrade", what, err)
		}
		// Not retried for retryFor: no retry makes a plain-http answer TLS.
		if err != nil && strings.Contains(err.Error(), "gave up after") {
			t.Errorf("%s: retried a plain-http answer: %v", what, err)
		}
		if req, auth := m.seen(); len(req) != 0 || len(auth) != 0 {
			t.Errorf("%s: the plain-http listener saw %v (credentials %v)", what, req, auth)
		}
	}
	_, err := f.createErr(t, 0)
	check(t, "create", err)
	_, err = f.srv.Read(f.provider, &pulumirpc.ReadRequest{Id: "x", Urn: imageURN, Properties: props(t, state)})
	check(t, "read", err)
	// A process that did not write the tag (this one did, or tried to, and would keep it).
	_, err = (&engine{New(nil)}).Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, state)})
	check(t, "delete", err)
	// A source registry is reached over https only too.
	delete(f.inputs, "bundle")
	delete(f.inputs, "sourceRef")
	f.inputs["sourceRemote"] = resource.NewStringProperty(m.host + "/docker.io/library/app:1")
	_, err = f.srv.Diff(f.provider, &pulumirpc.DiffRequest{Urn: imageURN, Olds: props(t, f.inputs), News: props(t, f.inputs)})
	check(t, "diff of a sourceRemote", err)
}

// TestPlainHTTPWhenConfigured: the explicit opt-out (insecure, from registry.plainHTTP) still
// reaches a plain-http registry, and this listener would have seen credentials: the test above
// can fail.
func TestPlainHTTPWhenConfigured(t *testing.T) {
	m := newMITM(t)
	f, _ := faultFixture(t, m.host, m.host)
	f.inputs["username"] = resource.NewStringProperty("site-push")
	_, err := f.srv.Create(f.provider, &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: imageURN, Properties: props(t, f.inputs)})
	if err == nil {
		t.Fatal("created against a listener that answers 401 to everything")
	}
	if _, auth := m.seen(); len(auth) == 0 {
		t.Errorf("insecure: no request with credentials reached the plain-http registry: %v", err)
	}
}
