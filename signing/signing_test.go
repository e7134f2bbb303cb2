package signing

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// cosignKey writes a private key the way `cosign generate-key-pair` does: PKCS#8, encrypted
// with the password, in an ENCRYPTED SIGSTORE PRIVATE KEY block.
func cosignKey(t *testing.T, password string) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: sigstorePrivateKey, Bytes: enc})
}

func signerAndKey(t *testing.T) (*Signer, Key) {
	t.Helper()
	s, err := LoadSigner(cosignKey(t, "pw"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestSignVerify(t *testing.T) {
	s, k := signerAndKey(t)
	_, other := signerAndKey(t)
	blob := []byte(`{"index":"sha256:abc"}`)
	sig, err := s.Sign(blob)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Verify([]Key{other, k}, blob, sig); err != nil || got.ID != k.ID {
		t.Fatalf("Verify = %v, %v; want key %s", got.ID, err, k.ID)
	}
	for name, tc := range map[string]struct {
		keys       []Key
		blob, sig  []byte
		wantTrusts bool
	}{
		"another key":       {[]Key{other}, blob, sig, true},
		"blob changed":      {[]Key{k}, []byte(`{"index":"sha256:abd"}`), sig, true},
		"signature garbled": {[]Key{k}, blob, []byte("bm90IGEgc2lnbmF0dXJl"), true},
		"not base64":        {[]Key{k}, blob, []byte("%%%"), false},
		"no keys":           {nil, blob, sig, false},
	} {
		_, err := Verify(tc.keys, tc.blob, tc.sig)
		if err == nil {
			t.Errorf("%s: verified", name)
			continue
		}
		if errors.Is(err, ErrNoTrustedSignature) != tc.wantTrusts {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoadSignerErrors(t *testing.T) {
	key := cosignKey(t, "right")
	if _, err := LoadSigner(key, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "COSIGN_PASSWORD") {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := LoadSigner([]byte("no pem here"), nil); err == nil {
		t.Error("garbage loaded")
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})
	if _, err := LoadSigner(cert, nil); err == nil || !strings.Contains(err.Error(), "CERTIFICATE") {
		t.Errorf("a certificate as key: %v", err)
	}
	// An unencrypted PKCS#8 key works too.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	if _, err := LoadSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil); err != nil {
		t.Errorf("PKCS#8 key: %v", err)
	}
}
