package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airgap-site/bundle"
	"airgap-site/bundle/serve"
	"airgap-site/internal/bundletest"
)

// signedBundle is a bundletest fixture signed by a new key, and that key's public file.
func signedBundle(t *testing.T) (*bundletest.Fixture, string) {
	t.Helper()
	tb := bundletest.New(t)
	pub := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(pub, []byte(bundletest.Sign(t, tb.Dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return tb, pub
}

// startServe runs runServe until the end of the test and returns its address and log.
func startServe(t *testing.T, o serveOptions) (net.Addr, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	logs := &syncBuffer{}
	go func() { errc <- runServe(ctx, o, logs, func(a net.Addr) { addrc <- a }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("runServe: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not shut down")
		}
	})
	select {
	case a := <-addrc:
		return a, logs
	case err := <-errc:
		errc <- nil
		t.Fatalf("runServe: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, nil
}

// clientTrusting is an https client that trusts only the CA in caPath (none if "").
func clientTrusting(t *testing.T, caPath string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if caPath != "" {
		b, err := os.ReadFile(caPath)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(b) {
			t.Fatalf("%s holds no certificate", caPath)
		}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func do(t *testing.T, c *http.Client, method, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// refused runs runServe expecting it to refuse before it listens: if it listens, the test
// fails and the server is stopped at once.
func refused(t *testing.T, o serveOptions) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return runServe(ctx, o, io.Discard, func(a net.Addr) {
		t.Errorf("listening on %s", a)
		cancel()
	})
}

// A signed bundle is served over TLS by the bootstrap CA, to clients that trust that CA only;
// reads only; the CA and keys are kept owner-only and the CA is reused by the next start.
func TestRunServeTLS(t *testing.T) {
	tb, pub := signedBundle(t)
	tlsDir := filepath.Join(t.TempDir(), "tls")
	o := serveOptions{dir: tb.Dir, addr: "127.0.0.1:0", trustedKeys: []string{pub}, tlsDir: tlsDir}
	addr, logs := startServe(t, o)
	caPath := filepath.Join(tlsDir, serve.CAFile)
	base := "https://" + addr.String()

	resp, err := do(t, clientTrusting(t, caPath), "GET", base+"/v2/docker.io/library/nginx/manifests/1.27")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET a manifest with the bootstrap CA: %v %v", resp, err)
	}
	for _, method := range []string{"PUT", "POST", "PATCH", "DELETE"} {
		if resp, err := do(t, clientTrusting(t, caPath), method, base+"/v2/docker.io/library/nginx/manifests/1.27"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s = %v %v, want 405", method, resp, err)
		}
	}
	// A client that does not carry the bootstrap CA refuses the server: its certificate is
	// not one the system trusts.
	var uerr x509.UnknownAuthorityError
	if _, err := do(t, clientTrusting(t, ""), "GET", base+"/v2/"); !errors.As(err, &uerr) {
		t.Errorf("GET without the bootstrap CA: %v, want an unknown authority", err)
	}
	// Plain http on the TLS port is not served.
	if resp, err := do(t, &http.Client{Timeout: 5 * time.Second}, "GET", "http://"+addr.String()+"/v2/"); err == nil && resp.StatusCode == 200 {
		t.Errorf("plain http GET /v2/ = %d", resp.StatusCode)
	}

	out := logs.String()
	for _, want := range []string{"verified: signed by key", "serving 3 images", "https://" + addr.String(), "bootstrap.ca " + caPath, "GET /v2/docker.io/library/nginx/manifests/1.27 200"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key", ""} {
		fi, err := os.Stat(filepath.Join(tlsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %s, want owner-only", filepath.Join(tlsDir, name), fi.Mode().Perm())
		}
	}

	// The next start reuses the CA, so the stack's bootstrap.ca stays right; another address
	// gets a certificate of its own from the same CA.
	ca, _ := os.ReadFile(caPath)
	o.addr = "127.0.0.2:0"
	addr2, _ := startServe(t, o)
	if again, _ := os.ReadFile(caPath); string(again) != string(ca) {
		t.Error("a second start generated another CA")
	}
	if resp, err := do(t, clientTrusting(t, caPath), "GET", "https://"+addr2.String()+"/v2/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /v2/ at a new address with the same CA: %v %v", resp, err)
	}
}

// A bundle that is unsigned, tampered with or signed by another key is refused before
// anything listens.
func TestRunServeRefusesUnverifiedBundles(t *testing.T) {
	run := func(o serveOptions) error {
		if o.addr == "" {
			o.addr = "127.0.0.1:0"
		}
		o.tlsDir = filepath.Join(t.TempDir(), "tls")
		return refused(t, o)
	}

	unsigned := bundletest.New(t)
	_, pub := signedBundle(t) // a key that signed another bundle
	if err := run(serveOptions{dir: unsigned.Dir, trustedKeys: []string{pub}}); !errors.Is(err, bundle.ErrUnsigned) {
		t.Errorf("an unsigned bundle: %v, want refused as unsigned", err)
	}
	if err := run(serveOptions{dir: unsigned.Dir}); err == nil || !strings.Contains(err.Error(), "--trusted-key is required") {
		t.Errorf("no --trusted-key: %v", err)
	}

	other, _ := signedBundle(t)
	if err := run(serveOptions{dir: other.Dir, trustedKeys: []string{pub}}); err == nil || !strings.Contains(err.Error(), "no trusted key verifies") {
		t.Errorf("a bundle signed by another key: %v", err)
	}

	// A layer changed after signing, same size: only hashing every blob finds it.
	tampered, tpub := signedBundle(t)
	m, _ := tampered.Image.Manifest()
	layer := filepath.Join(tampered.Dir, "blobs", "sha256", m.Layers[1].Digest.Hex)
	if err := os.WriteFile(layer, make([]byte, m.Layers[1].Size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(serveOptions{dir: tampered.Dir, trustedKeys: []string{tpub}}); err == nil || !strings.Contains(err.Error(), m.Layers[1].Digest.String()) || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("a tampered layer: %v, want refused naming %s", err, m.Layers[1].Digest)
	}

	// An image added to index.json after signing.
	added, apub := signedBundle(t)
	bundletest.EditJSON(t, filepath.Join(added.Dir, "index.json"), func(doc map[string]any) {
		ms := doc["manifests"].([]any)
		extra := map[string]any{}
		for k, v := range ms[0].(map[string]any) {
			extra[k] = v
		}
		extra["annotations"] = map[string]any{bundle.RefAnnotation: "docker.io/library/evil:1"}
		doc["manifests"] = append(ms, extra)
	})
	if err := run(serveOptions{dir: added.Dir, trustedKeys: []string{apub}}); err == nil || !strings.Contains(err.Error(), "index.json") {
		t.Errorf("an image added after signing: %v", err)
	}

	if err := run(serveOptions{dir: t.TempDir(), allowUnsigned: true}); err == nil {
		t.Error("a directory that is not a bundle was served")
	}
}

// --allow-unsigned serves an unsigned bundle, with a warning, and still checks every blob.
func TestRunServeAllowUnsigned(t *testing.T) {
	tb := bundletest.New(t)
	o := serveOptions{dir: tb.Dir, addr: "127.0.0.1:0", allowUnsigned: true, tlsDir: filepath.Join(t.TempDir(), "tls")}
	addr, logs := startServe(t, o)
	if resp, err := do(t, clientTrusting(t, filepath.Join(o.tlsDir, serve.CAFile)), "GET", "https://"+addr.String()+"/v2/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /v2/: %v %v", resp, err)
	}
	if out := logs.String(); !strings.Contains(out, "WARNING: --allow-unsigned") {
		t.Errorf("no warning:\n%s", out)
	}

	corrupt := bundletest.New(t)
	d, err := bundletest.Open(t, corrupt.Dir).Lookup("ghcr.io/org/app:2")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(corrupt.Dir, "blobs", "sha256", d.Digest.Hex)); err != nil {
		t.Fatal(err)
	}
	o.dir = corrupt.Dir
	if err := refused(t, o); err == nil {
		t.Error("an unsigned bundle missing a manifest was served")
	}
}

// --plain-http serves http, warning, for a registry.plainHTTP site.
func TestRunServePlainHTTP(t *testing.T) {
	tb, pub := signedBundle(t)
	addr, logs := startServe(t, serveOptions{dir: tb.Dir, addr: "127.0.0.1:0", trustedKeys: []string{pub}, plainHTTP: true})
	resp, _ := bundletest.Do(t, "GET", "http://"+addr.String()+"/v2/")
	if resp.StatusCode != 200 {
		t.Errorf("GET /v2/ = %d", resp.StatusCode)
	}
	if out := logs.String(); !strings.Contains(out, "WARNING: --plain-http") || !strings.Contains(out, "http://"+addr.String()) {
		t.Errorf("log:\n%s", out)
	}
}

// It listens on exactly the address it is given: an address meaning "every address" or a
// host name is refused, naming what to give instead.
func TestServeAddr(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:5000", ":5000", "[::]:5000", "[::ffff:0.0.0.0]:5000", "laptop.local:5000", "10.20.0.100", "10.20.0.100:", "[fe80::1%eth0]:5000"} {
		if _, err := listenIP(addr); err == nil || !strings.Contains(err.Error(), "--addr") {
			t.Errorf("listenIP(%q) = %v, want refused", addr, err)
		} else if !strings.Contains(err.Error(), "e.g. --addr 10.20.0.100:5000") {
			t.Errorf("listenIP(%q): %v does not say what to give", addr, err)
		}
	}
	for addr, want := range map[string]string{"10.20.0.100:5000": "10.20.0.100", "[fd00::100]:5000": "fd00::100", "127.0.0.1:0": "127.0.0.1"} {
		if ip, err := listenIP(addr); err != nil || ip.String() != want {
			t.Errorf("listenIP(%q) = %v, %v", addr, ip, err)
		}
	}
	// And the listener is bound to it: another address of the machine is not served.
	tb, pub := signedBundle(t)
	addr, _ := startServe(t, serveOptions{dir: tb.Dir, addr: "127.0.0.3:0", trustedKeys: []string{pub}, plainHTTP: true})
	_, port, _ := net.SplitHostPort(addr.String())
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("127.0.0.1:%s answers; it listens on more than 127.0.0.3", port)
	}
}

// The bootstrap TLS directory is refused when others may read its keys.
func TestRunServeRefusesOpenTLSDir(t *testing.T) {
	tb, pub := signedBundle(t)
	o := serveOptions{dir: tb.Dir, addr: "127.0.0.1:0", trustedKeys: []string{pub}, tlsDir: filepath.Join(t.TempDir(), "tls")}
	startServe(t, o) // generates the CA
	if err := os.Chmod(filepath.Join(o.tlsDir, "ca.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := refused(t, o)
	if err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a world-readable CA key: %v", err)
	}
}
