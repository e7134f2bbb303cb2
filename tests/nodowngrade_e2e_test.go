//go:build e2e

package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/tests/harness"
)

// mitmListener is a man in the middle on the site network: a plain-http listener where a
// registry's TLS endpoint is expected, answering every request with a Basic challenge (as a
// spoofer collecting passwords would). It keeps every byte it receives, so a credential sent in
// any form (a well-formed request or not) shows.
type mitmListener struct {
	net.Listener
	mu       sync.Mutex
	received bytes.Buffer
	requests []string
}

func (m *mitmListener) Accept() (net.Conn, error) {
	c, err := m.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordedConn{Conn: c, m: m}, nil
}

type recordedConn struct {
	net.Conn
	m *mitmListener
}

func (c *recordedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.m.mu.Lock()
	c.m.received.Write(p[:n])
	c.m.mu.Unlock()
	return n, err
}

// startMITM listens at addr in the network namespace ns ("" for this one's).
func startMITM(t *testing.T, ns, addr string) *mitmListener {
	t.Helper()
	l, err := harness.ListenIn(ns, addr)
	if err != nil {
		t.Fatalf("listening at %s in %q: %v", addr, ns, err)
	}
	m := &mitmListener{Listener: l}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.requests = append(m.requests, r.Method+" "+r.URL.Path)
		m.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	})}
	go srv.Serve(m)
	t.Cleanup(func() { srv.Close() })
	return m
}

func (m *mitmListener) addr() string { return m.Listener.Addr().String() }

// seen says what reached the listener: the requests it could parse, and whether any byte
// received carries an Authorization header.
func (m *mitmListener) seen() (requests []string, credentials bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...), bytes.Contains(bytes.ToLower(m.received.Bytes()), []byte("authorization:"))
}

func (m *mitmListener) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests, m.received = nil, bytes.Buffer{}
}

// TestNoDowngrade: a man in the middle on the site network answers plain http where the push
// endpoint (TLS) should be, at an RFC 1918 address go-containerregistry would fall back to
// http for. A real `pulumi up` pushing an image there from the laptop, and `airgap bundle`
// pulling from it with a docker login for it, both fail at once with the TLS error and the
// refused downgrade, and the listener never receives an Authorization header. With
// --insecure-registry naming it (the explicit opt-out) the same listener does get the
// credentials: it would have seen them.
//
// As root the listener is on the node's address (10.20.0.11) in the node's network namespace
// and the clients run on the laptop (10.20.0.100), as at a factory. Without root the site has
// no network namespaces (see TestRealNode): the listener is on loopback, which
// go-containerregistry treats the same way.
func TestNoDowngrade(t *testing.T) {
	// Parallel: its own stack, namespace and listener; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	ns, host := "", "127.0.0.1"
	if s.site.NodeNamespace != "" {
		ns, host = s.site.NodeNamespace, harness.NodeIP
	}
	mitm := startMITM(t, ns, net.JoinHostPort(host, "0"))
	t.Logf("man in the middle at %s (network namespace %q)", mitm.addr(), ns)
	// run runs a command on the laptop (its network namespace, when the site has one).
	run := func(t *testing.T, dir string, env []string, name string, args ...string) (string, time.Duration, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		if s.site.LaptopNamespace != "" {
			cmd = exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + s.site.LaptopNamespace, "--", name}, args...)...)
		}
		cmd.Dir, cmd.Env = dir, env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		return string(out), time.Since(start), err
	}
	refused := []string{"server gave HTTP response to HTTPS client", "refusing plain http to " + mitm.addr()}
	// errorLine is the line of out that says so, for the log.
	errorLine := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, refused[1]) {
				return strings.TrimSpace(l)
			}
		}
		return "(none)"
	}

	t.Run("pulumi up does not send the push password over plain http", func(t *testing.T) {
		bundleDir := filepath.Join(t.TempDir(), "bundle")
		writeBundle(t, bundleDir, map[string]v1.Image{"docker.io/library/app:1": layeredImages(t, 1, 64<<10, 64<<10)[0]}, nil)
		// A TLS site (no plainHTTP): the push identity and the site CA are generated; the MITM
		// is images.registry, the endpoint tried first.
		st := newTestStack(t, "nodowngrade", stackOptions{tls: true, upstreams: []string{"docker.io"},
			images: map[string]any{"bundle": bundleDir, "trustedKeys": []string{bundleDir + ".pub"}, "registry": mitm.addr(),
				"retrySeconds": 30, "timeoutSeconds": 10, "list": []string{"docker.io/library/app:1"}}})
		stack := st.name
		defer func() {
			if out, err := st.destroy(t); err != nil {
				t.Errorf("destroy: %v\n%s", err, lastLines(out, 20))
			}
		}()
		p := s.pulumiCommand(s.project, "up", "-s", stack, "--yes", "--skip-preview")
		out, took, err := run(t, s.project, s.pulumiEnv(), p.Path, p.Args[1:]...)
		t.Logf("pulumi up on the laptop: %.1fs: %s", took.Seconds(), errorLine(out))
		if err == nil {
			t.Fatalf("up pushed to a plain-http listener:\n%s", lastLines(out, 30))
		}
		for _, want := range refused {
			if !strings.Contains(out, want) {
				t.Errorf("the up's error does not say %q:\n%s", want, lastLines(out, 30))
			}
		}
		if strings.Contains(out, "gave up after") {
			t.Errorf("a plain-http answer was retried for retrySeconds instead of failing at once:\n%s", lastLines(out, 30))
		}
		if req, creds := mitm.seen(); creds || len(req) > 0 {
			t.Errorf("the man in the middle received requests %v (an Authorization header: %v)", req, creds)
		}
	})

	// The office: a docker login for the listener's address, as for a LAN upstream.
	dockerConfig := t.TempDir()
	login := base64.StdEncoding.EncodeToString([]byte("office:upstream-password"))
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"),
		fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, mitm.addr(), login), 0o600); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(t.TempDir(), "images.yaml")
	if err := os.WriteFile(images, []byte("- "+mitm.addr()+"/factory/app:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(), "DOCKER_CONFIG="+dockerConfig)
	bundle := func(t *testing.T, extra ...string) (string, error) {
		t.Helper()
		out, took, err := run(t, t.TempDir(), env, s.airgap, append([]string{"bundle", "--images", images, "--out", filepath.Join(t.TempDir(), "bundle")}, extra...)...)
		t.Logf("airgap bundle %s: %.1fs: %s", strings.Join(extra, " "), took.Seconds(), errorLine(out))
		return out, err
	}

	t.Run("airgap bundle does not send the upstream password over plain http", func(t *testing.T) {
		mitm.reset()
		out, err := bundle(t)
		if err == nil {
			t.Fatalf("airgap bundle pulled from a plain-http listener:\n%s", out)
		}
		for _, want := range refused {
			if !strings.Contains(out, want) {
				t.Errorf("airgap bundle does not say %q:\n%s", want, out)
			}
		}
		if req, creds := mitm.seen(); creds || len(req) > 0 {
			t.Errorf("the man in the middle received requests %v (an Authorization header: %v)", req, creds)
		}
	})

	t.Run("with --insecure-registry the listener gets the credentials (the control)", func(t *testing.T) {
		mitm.reset()
		out, err := bundle(t, "--insecure-registry", mitm.addr())
		if err == nil {
			t.Fatalf("pulled from a listener that answers 401 to everything:\n%s", out)
		}
		if req, creds := mitm.seen(); !creds || len(req) == 0 {
			t.Errorf("the explicitly plain-http upstream received %v (an Authorization header: %v): the checks above prove nothing\n%s", req, creds, out)
		}
	})
}
