package serve

import (
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBootstrapTLSKeepsTheCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	ip := netip.MustParseAddr("10.20.0.100")
	first, err := BootstrapTLS(dir, ip, now)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CreatedCA || !first.Issued || first.CAPath != filepath.Join(dir, "ca.crt") {
		t.Errorf("first use: %+v", first)
	}
	leaf := first.Config.Certificates[0].Leaf
	if leaf == nil {
		leaf, _ = x509.ParseCertificate(first.Config.Certificates[0].Certificate[0])
	}
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip.AsSlice()) || len(leaf.DNSNames) != 0 {
		t.Errorf("serving certificate names %v %v, want only %s", leaf.IPAddresses, leaf.DNSNames, ip)
	}
	ca, _ := os.ReadFile(first.CAPath)
	cert, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))

	for _, tc := range []struct {
		name        string
		ip          string
		at          time.Time
		wantIssued  bool
		wantNewCert bool
	}{
		{"same address", "10.20.0.100", now, false, false},
		{"another address", "10.20.0.101", now, true, true},
		{"back at the first address", "10.20.0.100", now, true, true},
		{"near the certificate's end", "10.20.0.100", now.Add(BootstrapServingValidity - time.Hour), true, true},
	} {
		m, err := BootstrapTLS(dir, netip.MustParseAddr(tc.ip), tc.at)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		again, _ := os.ReadFile(m.CAPath)
		newCert, _ := os.ReadFile(filepath.Join(dir, "tls.crt"))
		if m.CreatedCA || string(again) != string(ca) {
			t.Errorf("%s: the CA changed", tc.name)
		}
		if m.Issued != tc.wantIssued || (string(newCert) != string(cert)) != tc.wantNewCert {
			t.Errorf("%s: issued %v, new certificate %v", tc.name, m.Issued, string(newCert) != string(cert))
		}
		cert = newCert
	}

	if _, err := BootstrapTLS(dir, ip, now.Add(BootstrapCAValidity)); err == nil || !strings.Contains(err.Error(), "expires") {
		t.Errorf("an expiring CA: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "tls.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := BootstrapTLS(dir, ip, now); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("a certificate without its key: %v", err)
	}
}

func TestBootstrapTLSRefuses(t *testing.T) {
	now := time.Now()
	ip := netip.MustParseAddr("10.20.0.100")
	if _, err := BootstrapTLS(t.TempDir(), netip.MustParseAddr("0.0.0.0"), now); err == nil {
		t.Error("a certificate for 0.0.0.0")
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := BootstrapTLS(open, ip, now); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a directory others can read: %v", err)
	}
	real := filepath.Join(t.TempDir(), "real")
	if _, err := BootstrapTLS(real, ip, now); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := BootstrapTLS(link, ip, now); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("a symbolic link: %v", err)
	}
	// A leaf where the CA should be.
	bad := filepath.Join(t.TempDir(), "bad")
	if _, err := BootstrapTLS(bad, ip, now); err != nil {
		t.Fatal(err)
	}
	leaf, _ := os.ReadFile(filepath.Join(bad, "tls.crt"))
	if err := os.WriteFile(filepath.Join(bad, "ca.crt"), leaf, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := BootstrapTLS(bad, ip, now); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("a leaf as the CA: %v", err)
	}
}
