package pull

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/bundle"
	"airgap-site/signing"
)

const (
	// signatureAnnotation holds, on each layer of a cosign signature image, the base64 ECDSA
	// signature of that layer's bytes (cosign's static.SignatureAnnotationKey).
	signatureAnnotation = "dev.cosignproject.cosign/signature"
	// maxPayload bounds a signed payload read into memory: a simple-signing payload is a few
	// hundred bytes.
	maxPayload = 1 << 20
	// maxSignatures bounds the layers of a signature image looked at, as cosign bounds them.
	maxSignatures = 1000
)

// simpleSigning is the part of cosign's "simple signing" payload (the signed layer of a
// signature image) that says what was signed.
type simpleSigning struct {
	Critical struct {
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
	} `json:"critical"`
}

// verifySignature checks that sig, the cosign signature image of repo@d (nil: there is none),
// holds a signature of d by key, as `cosign verify --key` does without a transparency log:
// some layer's signature annotation verifies against the layer's bytes with the key, and those
// bytes, a simple-signing payload, name d. Like cosign, the claim checked is the digest: the
// payload's type and optional fields are the signer's.
func verifySignature(sig v1.Image, repo name.Repository, d v1.Hash, key *Key) error {
	tag := repo.Tag(bundle.AttachedTag(d, bundle.Signatures))
	if sig == nil {
		return fmt.Errorf("no signature by key %s: the registry has no %s (where `cosign sign` puts them)", key, tag)
	}
	m, err := sig.Manifest()
	if err != nil {
		return fmt.Errorf("reading %s: %w", tag, err)
	}
	if len(m.Layers) > maxSignatures {
		return fmt.Errorf("%s has %d signatures, more than the %d looked at", tag, len(m.Layers), maxSignatures)
	}
	var problems []string
	for _, l := range m.Layers {
		err := verifyLayer(sig, l, d, key)
		if err == nil {
			return nil
		}
		problems = append(problems, fmt.Sprintf("layer %s: %v", l.Digest, err))
	}
	if len(problems) == 0 {
		return fmt.Errorf("no signature by key %s: %s holds no signature", key, tag)
	}
	return fmt.Errorf("no valid signature by key %s in %s: %s", key, tag, strings.Join(problems, "; "))
}

// verifyLayer checks one signature layer.
func verifyLayer(sig v1.Image, l v1.Descriptor, d v1.Hash, key *Key) error {
	b64 := l.Annotations[signatureAnnotation]
	if b64 == "" {
		return fmt.Errorf("no %s annotation", signatureAnnotation)
	}
	if l.Size > maxPayload {
		return fmt.Errorf("payload of %d bytes, more than %d", l.Size, maxPayload)
	}
	payload, err := readLayer(sig, l.Digest)
	if err != nil {
		return err
	}
	if _, err := signing.Verify([]signing.Key{key.Key}, payload, []byte(b64)); err != nil {
		return err
	}
	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil {
		return fmt.Errorf("signed, but not a simple-signing payload: %w", err)
	}
	if got := ss.Critical.Image.DockerManifestDigest; got != d.String() {
		return fmt.Errorf("a valid signature, but of %q, not this image", got)
	}
	return nil
}

// readLayer reads the layer h of img into memory and checks it against its digest: the
// signature is checked over exactly the bytes the bundle will store.
func readLayer(img v1.Image, h v1.Hash) ([]byte, error) {
	l, err := img.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayload {
		return nil, errors.New("payload larger than its descriptor says")
	}
	if got, _, err := v1.SHA256(bytes.NewReader(b)); err != nil || got != h {
		return nil, fmt.Errorf("payload does not hash to %s", h)
	}
	return b, nil
}

// dsseEnvelope is a layer of a cosign attestation image: a DSSE envelope around an in-toto
// statement.
type dsseEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"` // base64
	Signatures  []struct {
		Sig string `json:"sig"` // base64
	} `json:"signatures"`
}

// inTotoStatement is the part of an in-toto statement that says what it is about.
type inTotoStatement struct {
	Subject []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// verifyAttestations checks that every attestation in att, the cosign attestation image of
// repo@d (nil: there is none), is signed by key and is about d, as `cosign verify-attestation
// --key` does without a transparency log: each layer's DSSE envelope carries a signature by
// the key over its pre-authentication encoding, and its statement names d as a subject. An
// attestation the key did not sign would travel with the image as if it had been checked.
func verifyAttestations(att v1.Image, repo name.Repository, d v1.Hash, key *Key) error {
	if att == nil {
		return nil
	}
	tag := repo.Tag(bundle.AttachedTag(d, bundle.Attestations))
	m, err := att.Manifest()
	if err != nil {
		return fmt.Errorf("reading %s: %w", tag, err)
	}
	if len(m.Layers) > maxSignatures {
		return fmt.Errorf("%s has %d attestations, more than the %d looked at", tag, len(m.Layers), maxSignatures)
	}
	for _, l := range m.Layers {
		if l.Size > maxPayload {
			return fmt.Errorf("%s layer %s: %d bytes, more than %d", tag, l.Digest, l.Size, maxPayload)
		}
		raw, err := readLayer(att, l.Digest)
		if err != nil {
			return fmt.Errorf("%s layer %s: %w", tag, l.Digest, err)
		}
		if err := verifyEnvelope(raw, d, key); err != nil {
			return fmt.Errorf("attestation %s in %s: %w", l.Digest, tag, err)
		}
	}
	return nil
}

// verifyEnvelope checks one DSSE envelope: a signature by key over PAE(type, payload), and a
// statement whose subjects include d.
func verifyEnvelope(raw []byte, d v1.Hash, key *Key) error {
	var env dsseEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("not a DSSE envelope: %w", err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return fmt.Errorf("payload not base64: %w", err)
	}
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d ", len(env.PayloadType), env.PayloadType, len(payload))
	pae = append(pae, payload...)
	verified := false
	for _, s := range env.Signatures {
		if _, err := signing.Verify([]signing.Key{key.Key}, pae, []byte(s.Sig)); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return fmt.Errorf("no signature by key %s", key)
	}
	var st inTotoStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		return fmt.Errorf("signed, but not an in-toto statement: %w", err)
	}
	for _, s := range st.Subject {
		if s.Digest[d.Algorithm] == d.Hex {
			return nil
		}
	}
	return fmt.Errorf("a valid attestation, but not about %s", d)
}
