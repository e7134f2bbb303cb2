package pull

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"airgap-site/bundle"
)

// attached is what a registry keeps beside an image about it; nil fields: none.
type attached struct {
	sig, att  v1.Image
	referrers v1.ImageIndex
	// skipped are referrers left out, with why.
	skipped []string
}

// attached fetches the artifacts attached to the image repo@d: cosign's signature and
// attestation images (tags sha256-<hex>.sig and .att, which bundle.AttachedTag names the same
// way) and the OCI 1.1 referrers, through the Referrers API or, where the registry has none,
// the referrers tag (go-containerregistry falls back by itself). Absent ones are none; any
// other failure fails the image, since a bundle that silently lacks a signature would carry
// less than it claims.
//
// Signatures and attestations are fetched only when verified says they will be checked against
// a key (images.yaml's key:): unverified ones do not travel, and skipped says so when the
// registry has them.
func (p *Puller) attached(ctx context.Context, repo name.Repository, d v1.Hash, verified bool) (attached, error) {
	opts := append(p.opts[:len(p.opts):len(p.opts)], remote.WithContext(ctx))
	var a attached
	var err error
	if verified {
		if a.sig, err = taggedImage(repo.Tag(bundle.AttachedTag(d, bundle.Signatures)), opts); err != nil {
			return attached{}, fmt.Errorf("reading signatures: %w", err)
		}
		if a.att, err = taggedImage(repo.Tag(bundle.AttachedTag(d, bundle.Attestations)), opts); err != nil {
			return attached{}, fmt.Errorf("reading attestations: %w", err)
		}
	} else {
		a.skipped = unverified(repo, d, opts)
	}
	idx, err := remote.Referrers(repo.Digest(d.String()), opts...)
	if status := unsupported(err); status != 0 {
		// Some registries refuse the endpoint they do not have instead of answering 404:
		// an image that bundled before must not fail for that.
		a.skipped = append(a.skipped, fmt.Sprintf("referrers: the registry answers %d to the Referrers API", status))
		return a, nil
	}
	if err != nil {
		return attached{}, fmt.Errorf("reading referrers of %s: %w", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return attached{}, fmt.Errorf("reading referrers of %s: %w", d, err)
	}
	var adds []mutate.IndexAddendum
	for _, r := range im.Manifests {
		if !storable(r) {
			a.skipped = append(a.skipped, fmt.Sprintf("referrer %s (%s): a bundle stores image manifests and indexes only", r.Digest, r.MediaType))
			continue
		}
		// Each is read by digest: the list go-containerregistry returns cannot read its children.
		add, err := manifestAt(repo.Digest(r.Digest.String()), opts)
		if err != nil {
			return attached{}, fmt.Errorf("reading referrer %s of %s: %w", r.Digest, d, err)
		}
		// The registry's descriptor says what the referrer is; its content says the rest.
		adds = append(adds, mutate.IndexAddendum{Add: add, Descriptor: v1.Descriptor{
			ArtifactType: r.ArtifactType, Annotations: r.Annotations, Platform: r.Platform,
		}})
	}
	if len(adds) > 0 {
		a.referrers = mutate.AppendManifests(empty.Index, adds...)
	}
	return a, nil
}

// manifestAt is the image or index at ref.
func manifestAt(ref name.Reference, opts []remote.Option) (mutate.Appendable, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		return desc.ImageIndex()
	}
	return desc.Image()
}

func storable(d v1.Descriptor) bool { return d.MediaType.IsImage() || d.MediaType.IsIndex() }

// taggedImage is the image tagged t, or nil when there is no such tag. A HEAD asks first:
// most images have no signature, and registries that limit pulls do not count a HEAD.
func taggedImage(t name.Tag, opts []remote.Option) (v1.Image, error) {
	desc, err := remote.Head(t, opts...)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("%s is a %s, not an image manifest", t, desc.MediaType)
	}
	// Were the tag to move in between, what is verified and stored is this image, as one.
	return remote.Image(t, opts...)
}

// unverified says which of cosign's signature and attestation images the registry has for
// repo@d: without a key to verify them against, they are not carried.
func unverified(repo name.Repository, d v1.Hash, opts []remote.Option) []string {
	var out []string
	for _, kind := range []bundle.AttachedKind{bundle.Signatures, bundle.Attestations} {
		t := repo.Tag(bundle.AttachedTag(d, kind))
		_, err := remote.Head(t, opts...)
		switch {
		case notFound(err):
		case err != nil:
			out = append(out, fmt.Sprintf("%s (%s): not carried, no key: in images.yaml to verify it against (checking for it: %v)", kindName(kind), t.TagStr(), err))
		default:
			out = append(out, fmt.Sprintf("%s (%s): not carried unverified; name the vendor's key (key: in images.yaml) to carry it", kindName(kind), t.TagStr()))
		}
	}
	return out
}

func kindName(k bundle.AttachedKind) string {
	if k == bundle.Signatures {
		return "cosign signatures"
	}
	return "cosign attestations"
}

// unsupported is the status of a registry refusing an endpoint it does not implement, else 0.
func unsupported(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusNotImplemented:
			return terr.StatusCode
		}
	}
	return 0
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// store adds the artifacts to the bundle as entries of their own (bundle.AttachedRef of the
// image ref with digest d), in bundle.AttachedKinds order.
func (a attached) store(w *bundle.Writer, ref string, d v1.Hash, progress func(int64)) ([]bundle.Entry, error) {
	var out []bundle.Entry
	for _, kind := range bundle.AttachedKinds {
		aref, err := bundle.AttachedRef(ref, d, kind)
		if err != nil {
			return out, err
		}
		var e bundle.Entry
		switch {
		case kind == bundle.Signatures && a.sig != nil:
			e, err = w.AddImage(aref, countedImage(a.sig, progress))
		case kind == bundle.Attestations && a.att != nil:
			e, err = w.AddImage(aref, countedImage(a.att, progress))
		case kind == bundle.Referrers && a.referrers != nil:
			e, err = w.AddIndex(aref, counted(a.referrers, progress))
		default:
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}
