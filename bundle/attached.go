package bundle

import (
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/mirror"
)

// AttachedKind is a kind of artifact a registry keeps beside an image about it (a signature,
// an attestation, an SBOM), named by the suffix of the tag it is stored under in a bundle.
type AttachedKind string

const (
	// Signatures is cosign's signature image of the image (its `sha256-<hex>.sig` tag), kept
	// byte for byte: its layers are the signed payloads, each signature in an annotation.
	Signatures AttachedKind = "sig"
	// Attestations is cosign's attestation image (`sha256-<hex>.att`), kept byte for byte.
	Attestations AttachedKind = "att"
	// Referrers is an index that airgap bundle writes, listing the OCI 1.1 referrers of the
	// image (the manifests whose subject it is), each kept byte for byte. The index itself is
	// the bundle's container for them, never pushed: a registry builds its own list from the
	// referrers pushed to it.
	Referrers AttachedKind = "ref"
)

// AttachedKinds are every kind, in the order they are stored and copied.
var AttachedKinds = []AttachedKind{Signatures, Attestations, Referrers}

// AttachedTag is the tag of the artifacts of kind attached to the image with digest d:
// sha256-<hex>.sig, as cosign names them (and .att, .ref). A suffix is always there: a bare
// sha256-<hex> is the mirror scheme's tag of a digest reference (mirror.DigestTag) and the
// OCI referrers fallback tag, and must not name anything else.
func AttachedTag(d v1.Hash, kind AttachedKind) string {
	return mirror.DigestTag(d.String()) + "." + string(kind)
}

// ReferrerTag is the tag a site registry keeps the referrer with digest referrer of the image
// with digest subject under: AttachedTag(subject, Referrers) and the first 16 hex digits of the
// referrer, e.g. sha256-<hex>.ref-0123456789abcdef. A referrer is pushed by digest, and the
// registry's garbage collection (--delete-untagged) sweeps untagged manifests: the tag keeps
// it while its subject is kept, and goes with it (named after the subject's digest).
func ReferrerTag(subject, referrer v1.Hash) string {
	return AttachedTag(subject, Referrers) + "-" + referrer.Hex[:16]
}

// AttachedRef is the bundle reference of the artifacts of kind attached to the image with
// digest d, whose reference (by tag or digest) is ref: the image's repository and AttachedTag,
// e.g. docker.io/library/nginx:sha256-<hex>.sig.
func AttachedRef(ref string, d v1.Hash, kind AttachedKind) (string, error) {
	up, path, _, _, err := mirror.Parse(ref)
	if err != nil {
		return "", err
	}
	return up + "/" + path + ":" + AttachedTag(d, kind), nil
}

// Attachment is an artifact attached to an image, stored in the bundle as an entry of its own.
type Attachment struct {
	Kind AttachedKind
	// Reference is the entry's bundle reference (AttachedRef).
	Reference string
	// Descriptor is the entry's top-level manifest: an image for Signatures and Attestations,
	// an index for Referrers.
	Descriptor v1.Descriptor
}

// Attached lists the artifacts the bundle holds for the image ref with digest d, in
// AttachedKinds order; none is an empty list. Each is checked like Lookup, and must be of the
// manifest type its kind stores.
func (b *Bundle) Attached(ref string, d v1.Hash) ([]Attachment, error) {
	var out []Attachment
	for _, kind := range AttachedKinds {
		aref, err := AttachedRef(ref, d, kind)
		if err != nil {
			return nil, err
		}
		desc, err := b.Lookup(aref)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if want := kindManifest(kind); (kind == Referrers && !desc.MediaType.IsIndex()) || (kind != Referrers && !desc.MediaType.IsImage()) {
			return nil, fmt.Errorf("reading %s from bundle %s: %s, not %s", aref, b.dir, want, desc.MediaType)
		}
		out = append(out, Attachment{Kind: kind, Reference: aref, Descriptor: desc})
	}
	return out, nil
}

// kindManifest says what an entry of kind must be.
func kindManifest(k AttachedKind) string {
	switch k {
	case Signatures:
		return "signatures are an image manifest"
	case Attestations:
		return "attestations are an image manifest"
	}
	return "referrers are an index"
}
