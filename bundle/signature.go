package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/signing"
)

// SignatureFile is bundle.json's signature beside it, as `cosign sign-blob --key` writes it:
// `cosign verify-blob --key cosign.pub --signature bundle.json.sig --insecure-ignore-tlog=true
// bundle.json` checks it. bundle.json records index.json's digest, index.json every
// manifest's, and each manifest its blobs': the one signature covers every byte.
const SignatureFile = ManifestFile + ".sig"

// Sign signs the closed bundle at dir with s, writing SignatureFile.
func Sign(dir string, s *signing.Signer) error {
	raw, err := readFile(dir, ManifestFile, maxManifest)
	if err != nil {
		return fmt.Errorf("signing bundle %s: reading %s: %w", dir, ManifestFile, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("signing bundle %s: parsing %s: %w", dir, ManifestFile, err)
	}
	if err := checkIndexDigest(dir, &m); err != nil {
		return fmt.Errorf("signing bundle %s: %w", dir, err)
	}
	sig, err := s.Sign(raw)
	if err != nil {
		return fmt.Errorf("signing bundle %s: %w", dir, err)
	}
	if err := writeAtomic(filepath.Join(dir, SignatureFile), sig); err != nil {
		return fmt.Errorf("signing bundle %s: %w", dir, err)
	}
	return nil
}

// Trust is what a site accepts bundles by: the public keys whose signature a bundle must
// carry, or, only as an explicit opt-out, none.
type Trust struct {
	Keys          []signing.Key
	AllowUnsigned bool
}

// ErrUnsigned is returned (wrapped) by Verify for a bundle without a signature.
var ErrUnsigned = errors.New("bundle is not signed")

// Verify checks the bundle at dir against trust before anything is read from it by digest:
// bundle.json carries a signature of a trusted key, index.json hashes to the digest
// bundle.json records, and both list the same images with the same digests. It returns the
// key that signed; an unsigned bundle passes only with trust.AllowUnsigned, with a zero Key.
// Read the bundle with OpenVerified instead: it verifies and opens from the same bytes.
func Verify(dir string, trust Trust) (signing.Key, error) {
	_, k, err := OpenVerified(dir, trust)
	return k, err
}

// OpenVerified verifies the bundle at dir against trust, as Verify says, and opens it from the
// very bytes it verified: index.json is read once, checked against the digest the signed
// bundle.json records, and parsed from those bytes, so a medium that changes under the reader
// cannot show the verifier one index and the reader another. A process opens a bundle once per
// content: a second call reads bundle.json and its signature again, verifies the signature
// against trust, and returns the bundle opened before when they are unchanged (index.json,
// and what the Bundle has read and checked since, is not read again).
//
// An unsigned bundle passes only with trust.AllowUnsigned: it is opened as Open does, its
// Stamp taken from an unsigned bundle.json, which anyone could have written.
func OpenVerified(dir string, trust Trust) (*Bundle, signing.Key, error) {
	b, k, err := openVerified(dir, trust)
	if err != nil {
		return nil, signing.Key{}, fmt.Errorf("verifying bundle %s: %w", dir, err)
	}
	return b, k, nil
}

// verified are the bundles this process opened and verified, by directory and the bytes of
// bundle.json and its signature.
var verified struct {
	mu sync.Mutex
	m  map[string]*Bundle
}

func openVerified(dir string, trust Trust) (*Bundle, signing.Key, error) {
	if _, err := os.Stat(filepath.Join(dir, layoutFile)); err != nil {
		return nil, signing.Key{}, fmt.Errorf("not an OCI layout: %w", err)
	}
	sig, err := readFile(dir, SignatureFile, 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		if !trust.AllowUnsigned {
			return nil, signing.Key{}, fmt.Errorf("%w: no %s; sign it at the office with `airgap bundle --sign-key <cosign.key>` (or, not recommended, set images.allowUnsigned)", ErrUnsigned, SignatureFile)
		}
		b, err := Open(dir)
		return b, signing.Key{}, err
	}
	if err != nil {
		return nil, signing.Key{}, fmt.Errorf("reading %s: %w", SignatureFile, err)
	}
	raw, err := readFile(dir, ManifestFile, maxManifest)
	if err != nil {
		return nil, signing.Key{}, fmt.Errorf("reading %s: %w", ManifestFile, err)
	}
	key, err := signing.Verify(trust.Keys, raw, sig)
	if err != nil {
		return nil, signing.Key{}, fmt.Errorf("%s: %w; the bundle was changed after it was signed, or signed with a key not in images.trustedKeys", SignatureFile, err)
	}
	cacheKey := dir + "\x00" + digestOf(raw) + "\x00" + digestOf(sig)
	verified.mu.Lock()
	defer verified.mu.Unlock()
	if b, ok := verified.m[cacheKey]; ok {
		return b, key, nil
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, signing.Key{}, fmt.Errorf("parsing %s: %w", ManifestFile, err)
	}
	indexRaw, err := readIndexBytes(dir, &m)
	if err != nil {
		return nil, signing.Key{}, err
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(indexRaw, &index); err != nil {
		return nil, signing.Key{}, fmt.Errorf("parsing %s: %w", indexFile, err)
	}
	if err := agree(&m, &index); err != nil {
		return nil, signing.Key{}, err
	}
	b := &Bundle{dir: dir, index: &index, entries: m.Images, hasManifest: true, stamp: m.Stamp, manifestDigest: digestOf(raw), assumed: assumedIndex(m.Assumes)}
	if verified.m == nil {
		verified.m = map[string]*Bundle{}
	}
	verified.m[cacheKey] = b
	return b, key, nil
}

// readIndexBytes reads index.json and checks that it hashes to the digest bundle.json (m)
// records.
func readIndexBytes(dir string, m *Manifest) ([]byte, error) {
	if m.Index == "" {
		return nil, fmt.Errorf("%s records no digest of %s (written by an older airgap bundle): write the bundle again", ManifestFile, indexFile)
	}
	raw, err := readFile(dir, indexFile, maxManifest)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", indexFile, err)
	}
	if got := digestOf(raw); got != m.Index {
		return nil, fmt.Errorf("%s is %s, %s records %s: the layout was changed after bundle.json was written (an image added or replaced without `airgap bundle`)", indexFile, got, ManifestFile, m.Index)
	}
	return raw, nil
}

// checkIndexDigest checks that index.json hashes to the digest bundle.json records.
func checkIndexDigest(dir string, m *Manifest) error {
	_, err := readIndexBytes(dir, m)
	return err
}

// agree checks that bundle.json and index.json list the same references with the same digests.
func agree(m *Manifest, index *v1.IndexManifest) error {
	inIndex := map[string]string{}
	for _, d := range index.Manifests {
		if ref := d.Annotations[RefAnnotation]; ref != "" {
			inIndex[ref] = d.Digest.String() // the last entry wins, as in Lookup
		}
	}
	inManifest := map[string]string{}
	for _, e := range m.Images {
		inManifest[e.Reference] = e.Digest
	}
	var problems []string
	for _, ref := range slices.Sorted(maps.Keys(inIndex)) {
		switch d, ok := inManifest[ref]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s is in %s but not in %s", ref, indexFile, ManifestFile))
		case d != inIndex[ref]:
			problems = append(problems, fmt.Sprintf("%s is %s in %s but %s in %s", ref, inIndex[ref], indexFile, d, ManifestFile))
		}
	}
	for _, ref := range slices.Sorted(maps.Keys(inManifest)) {
		if _, ok := inIndex[ref]; !ok {
			problems = append(problems, fmt.Sprintf("%s is in %s but not in %s", ref, ManifestFile, indexFile))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s and %s disagree: %s", ManifestFile, indexFile, strings.Join(problems, "; "))
	}
	return nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
