package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// PEM block types of cosign private keys: encrypted with the key's password (scrypt and
// NaCl secretbox), as `cosign generate-key-pair` writes them.
const (
	sigstorePrivateKey = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignPrivateKey   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// Signer signs blobs with one private key.
type Signer struct {
	sv signature.SignerVerifier
}

// LoadSigner reads a private key: a cosign key (encrypted, with its password) or an
// unencrypted PKCS#8 / EC PEM key.
func LoadSigner(keyPEM, password []byte) (*Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("reading private key: no PEM block")
	}
	der := block.Bytes
	switch block.Type {
	case sigstorePrivateKey, cosignPrivateKey:
		var err error
		if der, err = encrypted.Decrypt(block.Bytes, password); err != nil {
			return nil, fmt.Errorf("decrypting %s (is COSIGN_PASSWORD right?): %w", strings.ToLower(block.Type), err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case "PRIVATE KEY", "EC PRIVATE KEY":
	default:
		return nil, fmt.Errorf("reading private key: PEM block %q is not a cosign or PKCS#8 private key", block.Type)
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(pem.EncodeToMemory(block), cryptoutils.SkipPassword)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loading private key: %w", err)
	}
	return &Signer{sv: sv}, nil
}

// LoadSignerFile is LoadSigner of a key file.
func LoadSignerFile(path string, password []byte) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	s, err := LoadSigner(b, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Sign returns blob's signature as cosign sign-blob writes it: base64 text.
func (s *Signer) Sign(blob []byte) ([]byte, error) {
	sig, err := s.sv.SignMessage(bytes.NewReader(blob))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(sig)), nil
}

// PublicKeyPEM is the signer's public key as cosign.pub holds it.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	pub, err := s.sv.PublicKey()
	if err != nil {
		return nil, err
	}
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// Key is a trusted public key.
type Key struct {
	verifier signature.Verifier
	// ID names the key in messages: the first 12 hex digits of the SHA-256 of its DER.
	ID string
}

// ParseKey reads a PEM public key (cosign.pub).
func ParseKey(pubPEM []byte) (Key, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return Key{}, fmt.Errorf("reading public key: %w", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return Key{}, fmt.Errorf("loading public key: %w", err)
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return Key{}, err
	}
	sum := sha256.Sum256(der)
	return Key{verifier: v, ID: hex.EncodeToString(sum[:6])}, nil
}

// ErrNoTrustedSignature is returned (wrapped) when no trusted key verifies a signature.
var ErrNoTrustedSignature = errors.New("no trusted key verifies the signature")

// Verify checks sig (base64 text, as cosign writes it) over blob against keys, and returns
// the key that verified it.
func Verify(keys []Key, blob, sig []byte) (Key, error) {
	if len(keys) == 0 {
		return Key{}, errors.New("verifying signature: no trusted keys")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil {
		return Key{}, fmt.Errorf("verifying signature: not base64: %w", err)
	}
	for _, k := range keys {
		if k.verifier.VerifySignature(bytes.NewReader(raw), bytes.NewReader(blob)) == nil {
			return k, nil
		}
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return Key{}, fmt.Errorf("%w (tried %s)", ErrNoTrustedSignature, strings.Join(ids, ", "))
}

// NewKeyPair makes an ECDSA P-256 key pair, as cosign's: the private key as an unencrypted
// PKCS#8 PEM (LoadSigner reads it without a password), the public key as cosign.pub holds it.
func NewKeyPair() (privatePEM, publicPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pub, nil
}

// NewSigner is a Signer of a new key pair, and its public key (PEM): for tests and test beds.
func NewSigner() (*Signer, []byte, error) {
	priv, pub, err := NewKeyPair()
	if err != nil {
		return nil, nil, err
	}
	s, err := LoadSigner(priv, nil)
	return s, pub, err
}
