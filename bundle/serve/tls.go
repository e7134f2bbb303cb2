package serve

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"airgap-site/pki"
)

// Files of a bootstrap TLS directory (see BootstrapTLS), each owner-only.
const (
	CAFile   = "ca.crt"
	caKey    = "ca.key"
	certFile = "tls.crt"
	keyFile  = "tls.key"
)

// Validity of what BootstrapTLS generates: the CA outlives any bootstrap; the serving
// certificate is issued again from it when it nears its end or the address changes.
const (
	BootstrapCAValidity      = 365 * 24 * time.Hour
	BootstrapServingValidity = 30 * 24 * time.Hour
	// renewBefore: a certificate this close to its end is not used again.
	renewBefore = 24 * time.Hour
)

// TLSMaterial is the serving configuration of the bootstrap endpoint and where its CA is.
type TLSMaterial struct {
	Config *tls.Config
	// CAPath is the bootstrap CA certificate, what the stack's bootstrap.ca names: the nodes
	// trust the laptop by it, through the bootstrap patch.
	CAPath string
	// CreatedCA is true when this call generated the CA (the stack must be told about it).
	CreatedCA bool
	// Issued is true when this call issued the serving certificate.
	Issued bool
}

// BootstrapTLS returns the TLS configuration to serve a bundle at ip with. dir keeps a
// bootstrap CA (ca.crt, ca.key) and a serving certificate for ip signed by it (tls.crt,
// tls.key), all owner-only in an owner-only directory. On first use it generates them; later
// it reuses them, issuing a new serving certificate from the same CA when the address changed
// or the certificate nears its end, so the CA the stack carries in bootstrap.ca stays valid.
// A key readable by others is refused.
func BootstrapTLS(dir string, ip netip.Addr, now time.Time) (*TLSMaterial, error) {
	if !ip.IsValid() || ip.IsUnspecified() {
		return nil, fmt.Errorf("bootstrap TLS: %q is not an address a certificate can name", ip)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bootstrap TLS: %w", err)
	}
	if err := ownerOnly(dir, true); err != nil {
		return nil, err
	}
	m := &TLSMaterial{CAPath: filepath.Join(dir, CAFile)}
	caPEM, caKeyPEM, err := readPair(dir, CAFile, caKey)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		caPEM, caKeyPEM, err = pki.NewCA("airgap bootstrap CA", BootstrapCAValidity, now)
		if err != nil {
			return nil, fmt.Errorf("bootstrap TLS: %w", err)
		}
		if err := writePair(dir, CAFile, caKey, caPEM, caKeyPEM); err != nil {
			return nil, err
		}
		m.CreatedCA = true
	case err != nil:
		return nil, err
	}
	ca, err := parseCert(m.CAPath, caPEM)
	if err != nil {
		return nil, err
	}
	if !ca.IsCA {
		return nil, fmt.Errorf("bootstrap TLS: %s is not a CA certificate", m.CAPath)
	}
	if now.Add(renewBefore).After(ca.NotAfter) {
		return nil, fmt.Errorf("bootstrap TLS: the CA %s expires at %s; remove %s to generate a new one, and set bootstrap.ca to it", m.CAPath, ca.NotAfter.UTC().Format(time.RFC3339), dir)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	certPEM, keyPEM, err := readPair(dir, certFile, keyFile)
	if err == nil && !servesFor(certPEM, roots, ip, now) {
		err = fs.ErrNotExist // another address, near its end, or not from this CA: issue again
	}
	if errors.Is(err, fs.ErrNotExist) {
		certPEM, keyPEM, err = pki.IssueServing(caPEM, caKeyPEM, "airgap bootstrap "+ip.String(), []string{ip.String()}, nil, BootstrapServingValidity, now)
		if err != nil {
			return nil, fmt.Errorf("bootstrap TLS: %w", err)
		}
		if err := writePair(dir, certFile, keyFile, certPEM, keyPEM); err != nil {
			return nil, err
		}
		m.Issued = true
	}
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("bootstrap TLS: %s and %s: %w", filepath.Join(dir, certFile), filepath.Join(dir, keyFile), err)
	}
	m.Config = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return m, nil
}

// servesFor reports whether the PEM certificate chains to roots, names ip and is valid for a
// while yet.
func servesFor(certPEM string, roots *x509.CertPool, ip netip.Addr, now time.Time) bool {
	c, err := parseCert("", certPEM)
	if err != nil || now.Add(renewBefore).After(c.NotAfter) {
		return false
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: roots, DNSName: ip.String(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err == nil
}

func parseCert(path, certPEM string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("bootstrap TLS: %s is not a PEM certificate", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("bootstrap TLS: %s: %w", path, err)
	}
	return c, nil
}

// readPair reads a certificate and its key; fs.ErrNotExist when neither exists.
func readPair(dir, certName, keyName string) (certPEM, keyPEM string, err error) {
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	_, certErr := os.Lstat(certPath)
	_, keyErr := os.Lstat(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return "", "", fs.ErrNotExist
	case errors.Is(certErr, fs.ErrNotExist) != errors.Is(keyErr, fs.ErrNotExist):
		return "", "", fmt.Errorf("bootstrap TLS: %s and %s go together: one of them is missing; remove the other", certPath, keyPath)
	}
	if err := ownerOnly(keyPath, false); err != nil {
		return "", "", err
	}
	c, err := os.ReadFile(certPath)
	if err != nil {
		return "", "", fmt.Errorf("bootstrap TLS: %w", err)
	}
	k, err := os.ReadFile(keyPath)
	if err != nil {
		return "", "", fmt.Errorf("bootstrap TLS: %w", err)
	}
	return string(c), string(k), nil
}

// writePair writes a certificate and its key, owner-only, each replaced whole.
func writePair(dir, certName, keyName, certPEM, keyPEM string) error {
	for name, content := range map[string]string{keyName: keyPEM, certName: certPEM} {
		path := filepath.Join(dir, name)
		tmp, err := os.CreateTemp(dir, "."+name+".*")
		if err != nil {
			return fmt.Errorf("bootstrap TLS: %w", err)
		}
		_, werr := tmp.WriteString(content)
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Rename(tmp.Name(), path)
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("bootstrap TLS: writing %s: %w", path, werr)
		}
	}
	return nil
}

// ownerOnly refuses a path that is a symbolic link or that others may read (a directory:
// others may enter or list).
func ownerOnly(path string, isDir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("bootstrap TLS: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("bootstrap TLS: %s is a symbolic link; give the directory itself", path)
	case isDir && !fi.IsDir():
		return fmt.Errorf("bootstrap TLS: %s is not a directory", path)
	case !isDir && !fi.Mode().IsRegular():
		return fmt.Errorf("bootstrap TLS: %s is not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("bootstrap TLS: %s is %s, readable by others; chmod go= it (it guards the bootstrap CA's key)", path, fi.Mode().Perm())
	}
	return nil
}
