package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Backdate is how long before now a certificate becomes valid: a node whose clock runs a
// little behind the machine that ran `pulumi up` must still accept it.
const Backdate = time.Hour

// NewCA returns a self-signed CA certificate and its key, in PEM. The CA signs serving
// certificates only (MaxPathLenZero): a leaked site CA cannot mint intermediates.
func NewCA(commonName string, validity time.Duration, now time.Time) (certPEM, keyPEM string, err error) {
	if commonName == "" {
		return "", "", errors.New("CA: empty common name")
	}
	if validity <= 0 {
		return "", "", fmt.Errorf("CA %q: validity %s is not positive", commonName, validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generating CA key: %w", err)
	}
	tmpl, err := template(commonName, key, now.Add(-Backdate), now.Add(validity))
	if err != nil {
		return "", "", err
	}
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	tmpl.MaxPathLenZero = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("signing CA certificate %q: %w", commonName, err)
	}
	return encode(der, key)
}

// IssueServing returns a TLS server certificate for commonName, ips and dnsNames, signed by
// the CA, and its key, in PEM. Clients match a server against the SANs only, so every name
// and address the server is reached at must be listed. The certificate never outlives the CA:
// its NotAfter is the earlier of now+validity and the CA's NotAfter.
func IssueServing(caCertPEM, caKeyPEM, commonName string, ips, dnsNames []string, validity time.Duration, now time.Time) (certPEM, keyPEM string, err error) {
	if commonName == "" {
		return "", "", errors.New("certificate: empty common name")
	}
	if validity <= 0 {
		return "", "", fmt.Errorf("certificate %q: validity %s is not positive", commonName, validity)
	}
	ca, caKey, err := parseCA(caCertPEM, caKeyPEM)
	if err != nil {
		return "", "", err
	}
	if !now.Before(ca.NotAfter) {
		return "", "", fmt.Errorf("CA %q expired at %s", ca.Subject.CommonName, ca.NotAfter.UTC().Format(time.RFC3339))
	}
	addrs := make([]net.IP, len(ips))
	for i, s := range ips {
		a, err := ParseIP(s)
		if err != nil {
			return "", "", err
		}
		addrs[i] = a.AsSlice()
	}
	for _, d := range dnsNames {
		if err := CheckDNSName(d); err != nil {
			return "", "", err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generating key of %q: %w", commonName, err)
	}
	notBefore, notAfter := now.Add(-Backdate), now.Add(validity)
	if notBefore.Before(ca.NotBefore) {
		notBefore = ca.NotBefore
	}
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl, err := template(commonName, key, notBefore, notAfter)
	if err != nil {
		return "", "", err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.IPAddresses, tmpl.DNSNames = addrs, dnsNames
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", fmt.Errorf("signing certificate %q: %w", commonName, err)
	}
	return encode(der, key)
}

// NotAfter is when the PEM certificate expires.
func NotAfter(certPEM string) (time.Time, error) {
	c, err := parseCert(certPEM)
	if err != nil {
		return time.Time{}, fmt.Errorf("parsing certificate: %w", err)
	}
	return c.NotAfter, nil
}

// template is what both kinds of certificate share: a random 128-bit serial (RFC 5280 asks
// for unpredictable serials, at most 20 octets) and a SubjectKeyId by RFC 7093 method 1 (the
// leftmost 160 bits of the SHA-256 of the public key), which the leaf's AuthorityKeyId repeats.
func template(commonName string, key *ecdsa.PrivateKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	limit := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))
	serial, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("generating serial: %w", err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	skid := sha256.Sum256(pub)
	return &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)), // 1 to 2^128-1: positive, never 0
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		SubjectKeyId:          skid[:20],
		BasicConstraintsValid: true,
	}, nil
}

func encode(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM string, err error) {
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("encoding key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})), nil
}

// parseCA reads a CA certificate and its key, and checks that they belong together: a key
// from another CA would sign certificates no client of this CA accepts.
func parseCA(certPEM, keyPEM string) (*x509.Certificate, crypto.Signer, error) {
	ca, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	// As x509 verifies a chain: a CA without a key usage extension may sign.
	if !ca.IsCA || ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, fmt.Errorf("CA certificate %q is not a CA (basic constraints without CA, or key usage without certSign)", ca.Subject.CommonName)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA key: %w", err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("CA key is not the key of CA certificate %q", ca.Subject.CommonName)
	}
	return ca, key, nil
}

func parseCert(certPEM string) (*x509.Certificate, error) {
	b, err := block(certPEM, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(b.Bytes)
}

// parseKey reads a PKCS#8 key, or a SEC 1 one ("EC PRIVATE KEY", what openssl ecparam
// writes), so that a CA made outside the provider can be used too.
func parseKey(keyPEM string) (crypto.Signer, error) {
	b, err := block(keyPEM, "PRIVATE KEY", "EC PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	if b.Type == "EC PRIVATE KEY" {
		return x509.ParseECPrivateKey(b.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return s, nil
}

// block returns the first PEM block, which must be of one of the types.
func block(s string, types ...string) (*pem.Block, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	for _, t := range types {
		if b.Type == t {
			return b, nil
		}
	}
	return nil, fmt.Errorf("PEM block is %q, want %s", b.Type, strings.Join(types, " or "))
}

// ParseIP reads an IP address of a SAN: IPv4 or IPv6, without a zone (a certificate cannot
// carry one).
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parsing IP address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("parsing IP address %q: a certificate cannot carry a zone", s)
	}
	return a.Unmap(), nil
}

// CheckDNSName reports whether s is a DNS name a SAN may hold: labels of letters, digits and
// hyphens (not first or last), at most 63 characters each and 253 in all, no trailing dot,
// and at most one leading "*." wildcard label.
func CheckDNSName(s string) error {
	name := strings.TrimPrefix(s, "*.")
	if name == "" || len(s) > 253 {
		return fmt.Errorf("DNS name %q: empty or longer than 253 characters", s)
	}
	for l := range strings.SplitSeq(name, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("DNS name %q: label %q is empty, longer than 63 characters or starts or ends with '-'", s, l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("DNS name %q: %q is not a letter, digit or '-'", s, c)
			}
		}
	}
	return nil
}

// Password lengths: below 16 characters of [A-Za-z0-9] (95 bits) a password is guessable
// offline from its htpasswd hash; above 72 bytes bcrypt cannot hash it.
const (
	MinPasswordLength = 16
	MaxPasswordLength = 72
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewPassword returns length characters drawn uniformly from [A-Za-z0-9] by crypto/rand:
// letters and digits survive every config format and shell a password passes through.
func NewPassword(length int) (string, error) {
	if length < MinPasswordLength || length > MaxPasswordLength {
		return "", fmt.Errorf("password length %d: want %d to %d", length, MinPasswordLength, MaxPasswordLength)
	}
	out := make([]byte, 0, length)
	buf := make([]byte, 2*length)
	for len(out) < length {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		for _, b := range buf {
			// Rejection sampling: 248 is the largest multiple of 62 below 256, so every
			// character is equally likely.
			if b < 248 && len(out) < length {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// NewSeed returns 32 random bytes, hex: what DerivePassword derives a user's passwords from.
func NewSeed() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// DerivePassword is user's password of generation from seed (NewSeed): length characters of
// [A-Za-z0-9], from HMAC-SHA256 keyed by the seed in counter mode, with the same rejection
// sampling as NewPassword. Knowing one generation's password tells nothing of another's, and a
// rotation (the next generation) is known as soon as the generation is: a preview sees it.
func DerivePassword(seed, user string, generation, length int) (string, error) {
	if length < MinPasswordLength || length > MaxPasswordLength {
		return "", fmt.Errorf("password length %d: want %d to %d", length, MinPasswordLength, MaxPasswordLength)
	}
	key, err := hex.DecodeString(seed)
	if err != nil || len(key) < 32 {
		return "", fmt.Errorf("password seed: not 32 bytes of hex")
	}
	out := make([]byte, 0, length)
	for block := 0; len(out) < length; block++ {
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "airgap-site password\x00%s\x00%d\x00%d", user, generation, block)
		for _, b := range mac.Sum(nil) {
			if b < 248 && len(out) < length {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// HtpasswdCost is the bcrypt cost of every htpasswd line: bcrypt's minimum. The passwords are
// random, at least MinPasswordLength characters of [A-Za-z0-9] (95 bits and more), so no
// work factor is needed against guessing them from a leaked hash; but the registry checks a
// Basic header against the hash on every request, before it knows the password is right, so
// the cost is CPU that anyone who can reach the port spends at will. Cost 10 is ~65 ms of a
// core per request (a LAN host fills a core at ~15 requests/s); cost 4 is ~1 ms.
const HtpasswdCost = bcrypt.MinCost

// Htpasswd returns the htpasswd line (without a newline) of user with a bcrypt hash of
// password at HtpasswdCost: the only hash the Docker registry's htpasswd auth accepts.
func Htpasswd(user, password string) (string, error) {
	if err := CheckUser(user); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), HtpasswdCost)
	if err != nil {
		return "", fmt.Errorf("hashing the password of %q: %w", user, err)
	}
	return user + ":" + string(h), nil
}

// HtpasswdCurrent reports whether line is user's htpasswd line for password at HtpasswdCost.
// A line of another cost (a state written before the cost was lowered), of another user or
// for another password is not current: Htpasswd makes the line that replaces it, for the
// same password.
func HtpasswdCurrent(line, user, password string) bool {
	u, hash, ok := strings.Cut(line, ":")
	if !ok || u != user {
		return false
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != HtpasswdCost {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// CheckUser reports whether user can stand in an htpasswd line: not empty, no ':' (the
// separator) and no whitespace (a line break would start another entry).
func CheckUser(user string) error {
	if user == "" {
		return errors.New("user: empty")
	}
	if strings.ContainsFunc(user, func(r rune) bool { return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("user %q: contains ':', whitespace or a control character", user)
	}
	return nil
}
