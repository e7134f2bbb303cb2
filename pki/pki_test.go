package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func newCA(t *testing.T, cn string, validity time.Duration) (certPEM, keyPEM string, cert *x509.Certificate) {
	t.Helper()
	certPEM, keyPEM, err := NewCA(cn, validity, now)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, parse(t, certPEM)
}

func parse(t *testing.T, certPEM string) *x509.Certificate {
	t.Helper()
	c, err := parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewCA(t *testing.T) {
	_, keyPEM, ca := newCA(t, "site CA", 3650*day)
	if !ca.IsCA || !ca.BasicConstraintsValid || !ca.MaxPathLenZero || ca.MaxPathLen != 0 {
		t.Errorf("not a CA limited to leaves: IsCA=%v MaxPathLen=%d zero=%v", ca.IsCA, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("key usage = %b", ca.KeyUsage)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if ca.Subject.CommonName != "site CA" || ca.Issuer.CommonName != "site CA" {
		t.Errorf("subject %v issuer %v", ca.Subject, ca.Issuer)
	}
	if !ca.NotAfter.Equal(now.Add(3650*day)) || !ca.NotBefore.Before(now) {
		t.Errorf("valid %s to %s, want to %s", ca.NotBefore, ca.NotAfter, now.Add(3650*day))
	}
	if n := ca.SerialNumber; n.Sign() <= 0 || n.BitLen() > 128 {
		t.Errorf("serial %s: want 1 to 128 bits", n)
	}
	if len(ca.SubjectKeyId) != 20 {
		t.Errorf("SubjectKeyId %x", ca.SubjectKeyId)
	}
	pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("public key %T, want ECDSA P-256", ca.PublicKey)
	}
	key, err := parseKey(keyPEM)
	if err != nil || !key.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
		t.Errorf("key does not match the certificate: %v", err)
	}
	if b, _ := pem.Decode([]byte(keyPEM)); b.Type != "PRIVATE KEY" {
		t.Errorf("key is %s, want PKCS#8", b.Type)
	}

	// A second CA is another CA.
	_, _, other := newCA(t, "site CA", 3650*day)
	if other.SerialNumber.Cmp(ca.SerialNumber) == 0 || other.PublicKey.(*ecdsa.PublicKey).Equal(pub) {
		t.Error("two CAs share a serial or a key")
	}
	for _, bad := range []struct {
		cn string
		d  time.Duration
	}{{"", day}, {"x", 0}, {"x", -day}} {
		if _, _, err := NewCA(bad.cn, bad.d, now); err == nil {
			t.Errorf("NewCA(%q, %s): no error", bad.cn, bad.d)
		}
	}
}

// verify checks the leaf against a pool holding only ca, for the name (an IP or DNS name).
func verify(leaf, ca *x509.Certificate, name string) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots: pool, DNSName: name, CurrentTime: now.Add(day),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

func TestIssueServingVerifiesForEachSAN(t *testing.T) {
	caPEM, caKey, ca := newCA(t, "site CA", 3650*day)
	ips := []string{"10.20.0.11", "fd00::11", "::ffff:10.20.0.12"}
	dns := []string{"registry.local", "registry.kube-system.svc", "*.apps.site.local"}
	certPEM, keyPEM, err := IssueServing(caPEM, caKey, "registry", ips, dns, 1095*day, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf := parse(t, certPEM)
	for _, name := range []string{"10.20.0.11", "fd00::11", "10.20.0.12", "registry.local", "registry.kube-system.svc", "x.apps.site.local"} {
		if err := verify(leaf, ca, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"10.20.0.13", "other.local", "registry", "a.b.apps.site.local"} {
		if verify(leaf, ca, name) == nil {
			t.Errorf("%s: verifies, but is no SAN", name)
		}
	}
	_, _, other := newCA(t, "site CA", 3650*day) // same name, another key
	if verify(leaf, other, "registry.local") == nil {
		t.Error("verifies against another CA")
	}

	if leaf.IsCA || leaf.KeyUsage != x509.KeyUsageDigitalSignature ||
		len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("IsCA=%v KeyUsage=%b ExtKeyUsage=%v", leaf.IsCA, leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	if string(leaf.AuthorityKeyId) != string(ca.SubjectKeyId) || leaf.Subject.CommonName != "registry" {
		t.Errorf("AuthorityKeyId %x (CA %x), subject %v", leaf.AuthorityKeyId, ca.SubjectKeyId, leaf.Subject)
	}
	if !leaf.NotAfter.Equal(now.Add(1095 * day)) {
		t.Errorf("NotAfter %s", leaf.NotAfter)
	}
	key, err := parseKey(keyPEM)
	if err != nil || !key.Public().(*ecdsa.PublicKey).Equal(leaf.PublicKey) {
		t.Errorf("key does not match the leaf: %v", err)
	}
}

func TestIssueServingNeverOutlivesTheCA(t *testing.T) {
	caPEM, caKey, ca := newCA(t, "short CA", 30*day)
	certPEM, _, err := IssueServing(caPEM, caKey, "registry", []string{"10.0.0.1"}, nil, 365*day, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NotAfter(certPEM)
	if err != nil || !got.Equal(ca.NotAfter) {
		t.Errorf("NotAfter = %s, %v; want the CA's %s", got, err, ca.NotAfter)
	}
	if _, _, err := IssueServing(caPEM, caKey, "registry", nil, []string{"a.local"}, day, now.Add(31*day)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired CA signed: %v", err)
	}
}

func TestIssueServingRejects(t *testing.T) {
	caPEM, caKey, _ := newCA(t, "site CA", 3650*day)
	_, otherKey, _ := newCA(t, "other CA", 3650*day)
	leafPEM, leafKey, err := IssueServing(caPEM, caKey, "leaf", nil, []string{"leaf.local"}, day, now)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, caCert, caKey string
		ips, dns            []string
		want                string
	}{
		{"bad IP", caPEM, caKey, []string{"10.0.0.1", "10.0.0.300"}, nil, `"10.0.0.300"`},
		{"IP with zone", caPEM, caKey, []string{"fe80::1%eth0"}, nil, `"fe80::1%eth0"`},
		{"bad DNS name", caPEM, caKey, nil, []string{"bad_name.local"}, `"bad_name.local"`},
		{"CA certificate garbage", "not PEM", caKey, nil, nil, "parsing CA certificate"},
		{"CA key garbage", caPEM, "not PEM", nil, nil, "parsing CA key"},
		{"key for another CA", caPEM, otherKey, nil, nil, "not the key of CA certificate"},
		{"key as certificate", caKey, caKey, nil, nil, "parsing CA certificate"},
		{"a leaf as CA", leafPEM, leafKey, nil, nil, "is not a CA"},
	}
	for _, c := range cases {
		_, _, err := IssueServing(c.caCert, c.caKey, "x", c.ips, c.dns, day, now)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.want)
		}
	}
}

// A CA made with openssl has a SEC 1 key; it signs as well.
func TestIssueServingWithSEC1Key(t *testing.T) {
	caPEM, caKey, ca := newCA(t, "site CA", 3650*day)
	k, err := parseKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	certPEM, _, err := IssueServing(caPEM, sec1, "registry", []string{"10.0.0.1"}, nil, day, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(parse(t, certPEM), ca, "10.0.0.1"); err != nil {
		t.Error(err)
	}
}

func TestNotAfterRejectsGarbage(t *testing.T) {
	if _, err := NotAfter("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"); err == nil {
		t.Error("no error")
	}
}

func TestCheckDNSName(t *testing.T) {
	for _, ok := range []string{"registry.local", "a", "kube-system.svc", "*.apps.local", "x0.y-1.Z", strings.Repeat("a", 63) + ".b"} {
		if err := CheckDNSName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "*.", "a..b", "a.", ".a", "-a.b", "a-.b", "a_b", "a b", "*.*.a", "a.*.b", "10.0.0.1:5000", strings.Repeat("a", 64), strings.Repeat("a.", 127) + "a"} {
		if CheckDNSName(bad) == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	chars := map[rune]bool{}
	for _, n := range []int{MinPasswordLength, 32, MaxPasswordLength} {
		for range 50 {
			p, err := NewPassword(n)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) != n || strings.Trim(p, alphabet) != "" {
				t.Fatalf("NewPassword(%d) = %q", n, p)
			}
			if seen[p] {
				t.Fatalf("%q drawn twice", p)
			}
			seen[p] = true
			for _, c := range p {
				chars[c] = true
			}
		}
	}
	// 6000 draws: each of the 62 characters shows (a broken draw would skew or miss some).
	if len(chars) != len(alphabet) {
		t.Errorf("%d distinct characters drawn, want %d", len(chars), len(alphabet))
	}
	for _, n := range []int{0, MinPasswordLength - 1, MaxPasswordLength + 1} {
		if _, err := NewPassword(n); err == nil {
			t.Errorf("NewPassword(%d): no error", n)
		}
	}
}

func TestHtpasswd(t *testing.T) {
	pw, err := NewPassword(32)
	if err != nil {
		t.Fatal(err)
	}
	line, err := Htpasswd("registry-admin", pw)
	if err != nil {
		t.Fatal(err)
	}
	user, hash, ok := strings.Cut(line, ":")
	if !ok || user != "registry-admin" || strings.ContainsAny(line, "\n\r") {
		t.Fatalf("line %q", line)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); err != nil {
		t.Errorf("hash does not verify the password: %v", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw+"x")) == nil {
		t.Error("hash verifies a wrong password")
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.MinCost {
		t.Errorf("cost %d, %v; want bcrypt's minimum %d", cost, err, bcrypt.MinCost)
	}
	// What an unauthenticated client makes the registry spend per request: checking a
	// wrong password against the line. At cost 10 that is ~65 ms; at the minimum ~1 ms.
	start := time.Now()
	const tries = 20
	for range tries {
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte("wrong")) == nil {
			t.Fatal("a wrong password verified")
		}
	}
	if per := time.Since(start) / tries; per > 20*time.Millisecond {
		t.Errorf("checking a wrong password takes %s; an unauthenticated client could fill a core", per)
	}
	for _, bad := range []string{"", "a:b", "a b", "a\tb", "a\nb", "a\x00b"} {
		if _, err := Htpasswd(bad, pw); err == nil {
			t.Errorf("user %q: accepted", bad)
		}
	}
	if _, err := Htpasswd("u", strings.Repeat("a", 73)); err == nil {
		t.Error("a password bcrypt cannot hash was accepted")
	}
}

func TestHtpasswdCurrent(t *testing.T) {
	pw, err := NewPassword(32)
	if err != nil {
		t.Fatal(err)
	}
	line, err := Htpasswd("site-pull", pw)
	if err != nil {
		t.Fatal(err)
	}
	if !HtpasswdCurrent(line, "site-pull", pw) {
		t.Errorf("a fresh line is not current: %q", line)
	}
	// A line written before the cost was lowered: same user and password, cost 10.
	old, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ line, user, pw string }{
		"cost 10":        {"site-pull:" + string(old), "site-pull", pw},
		"other user":     {line, "site-push", pw},
		"other password": {line, "site-pull", pw + "x"},
		"no separator":   {"site-pull", "site-pull", pw},
		"not bcrypt":     {"site-pull:{SHA}abc", "site-pull", pw},
	} {
		if HtpasswdCurrent(c.line, c.user, c.pw) {
			t.Errorf("%s: reported current", name)
		}
	}
}

// TestDerivePassword: one seed gives each user and generation its own password of the asked
// length and alphabet, the same every time (a preview and the up agree); another seed, user or
// generation gives another.
func TestDerivePassword(t *testing.T) {
	seed, err := NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	a, err := DerivePassword(seed, "push", 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := DerivePassword(seed, "push", 0, 32); again != a {
		t.Errorf("not deterministic: %q then %q", a, again)
	}
	if len(a) != 32 || strings.Trim(a, alphabet) != "" {
		t.Errorf("password %q: want 32 characters of [A-Za-z0-9]", a)
	}
	other, _ := NewSeed()
	for name, b := range map[string]func() (string, error){
		"next generation": func() (string, error) { return DerivePassword(seed, "push", 1, 32) },
		"another user":    func() (string, error) { return DerivePassword(seed, "pull", 0, 32) },
		"another seed":    func() (string, error) { return DerivePassword(other, "push", 0, 32) },
	} {
		if p, err := b(); err != nil || p == a {
			t.Errorf("%s: %q %v, the same password", name, p, err)
		}
	}
	if long, _ := DerivePassword(seed, "push", 0, MaxPasswordLength); len(long) != MaxPasswordLength {
		t.Errorf("length %d", len(long))
	}
	for _, bad := range []string{"", "zz", strings.Repeat("a", 62)} {
		if _, err := DerivePassword(bad, "push", 0, 32); err == nil {
			t.Errorf("seed %q accepted", bad)
		}
	}
}
