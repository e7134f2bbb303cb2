package imagesync

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airgap-site/bundle"
	"airgap-site/mirror"
)

// Attachment is an artifact attached to an image (a signature, an attestation, a referrer),
// to copy beside it.
type Attachment struct {
	Kind bundle.AttachedKind
	// Tag is the tag it is written to in the image's repository, the same as in the bundle
	// (sha256-<hex>.sig, .att); "" for a referrer, which is written by digest.
	Tag    string
	Source Source
}

// BundleAttachments reads, offline, the artifacts the bundle at dir carries for the image ref
// with digest d (bundle.Attached): the signature and attestation images, and each referrer the
// bundle's referrers index lists. An image with none has an empty list.
func BundleAttachments(dir, ref string, d v1.Hash) ([]Attachment, error) {
	b, err := bundle.Open(dir)
	if err != nil {
		return nil, err
	}
	return AttachmentsOf(b, ref, d)
}

// AttachmentsOf is BundleAttachments of an opened bundle (one bundle.OpenVerified opened).
func AttachmentsOf(b *bundle.Bundle, ref string, d v1.Hash) ([]Attachment, error) {
	dir := b.Dir()
	as, err := b.Attached(ref, d)
	if err != nil {
		return nil, err
	}
	var out []Attachment
	for _, a := range as {
		if a.Kind != bundle.Referrers {
			img, err := b.Image(a.Reference)
			if err != nil {
				return nil, err
			}
			out = append(out, Attachment{Kind: a.Kind, Tag: bundle.AttachedTag(d, a.Kind), Source: Source{Image: img}})
			continue
		}
		idx, err := b.Index(a.Reference)
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, r := range im.Manifests {
			src, err := child(idx, r)
			if err != nil {
				return nil, fmt.Errorf("reading referrer %s of %s from bundle %s: %w", r.Digest, ref, dir, err)
			}
			out = append(out, Attachment{Kind: a.Kind, Source: src})
		}
	}
	return out, nil
}

func child(idx v1.ImageIndex, d v1.Descriptor) (Source, error) {
	if d.MediaType.IsIndex() {
		ci, err := idx.ImageIndex(d.Digest)
		return Source{Index: ci}, err
	}
	img, err := idx.Image(d.Digest)
	return Source{Image: img}, err
}

// CopyAttached copies the attachments of the image with digest d beside it, into the
// repository of dst (where the image was copied): signatures and attestations under their
// tags, where cosign looks for them, and referrers by digest, so the registry's Referrers API
// lists them (distribution v3 indexes a manifest's subject as it is put; for a registry
// without the API, go-containerregistry updates the referrers tag sha256-<hex>). Each is a
// Copy, so what the registry holds is skipped. The results are summed into one.
//
// A referrer, put by digest, also gets its bundle.ReferrerTag, so the registry's garbage
// collection keeps it. Nothing here deletes: attachments stay when their image's tag is
// deleted (as with retain), since another tag may point at the same image; the retention
// deletes them with their image's version.
func CopyAttached(ctx context.Context, atts []Attachment, dst name.Reference, d v1.Hash, opts Options) (*Result, error) {
	total := &Result{Sent: Sizes{}, Contents: Sizes{}}
	opts.Progress = nil // the image's copy reports progress; these are small
	repo := dst.Context()
	// A digest reference is stored under sha256-<hex> (mirror.DigestTag), which is also the
	// referrers tag of the image: against a registry without the Referrers API, its referrers
	// must fail rather than have go-containerregistry rewrite the image's own tag.
	t, byTag := dst.(name.Tag)
	pinned := byTag && t.TagStr() == mirror.DigestTag(d.String())
	noFallback := append(opts.Remote[:len(opts.Remote):len(opts.Remote)], remote.WithContext(ctx), remote.WithReferrersTagFallback(false))
	if pinned && hasReferrers(atts) {
		// Asked before anything is put: a referrer put without being listed would be found
		// there by the next try, and never listed.
		if _, err := remote.Referrers(repo.Digest(d.String()), noFallback...); err != nil {
			return total, fmt.Errorf("copying the referrers of %s, pinned by digest: its tag %s is also its referrers tag, "+
				"so they need the registry's Referrers API: %w", d, t.TagStr(), err)
		}
	}
	for _, a := range atts {
		h, err := a.Source.Digest()
		if err != nil {
			return total, fmt.Errorf("reading an attachment of %s: %w", d, err)
		}
		what, o := "the "+kindName(a.Kind), opts
		var target name.Reference = repo.Tag(a.Tag)
		if a.Tag == "" {
			what, target = "referrer "+h.String(), repo.Digest(h.String())
			if pinned {
				o.Remote = noFallback
			}
		}
		r, err := Copy(ctx, a.Source, target, o)
		if r != nil {
			total.Sent.Add(r.Sent)
			total.Contents.Add(r.Contents)
			total.BlobsUploaded += r.BlobsUploaded
			total.BlobsMounted += r.BlobsMounted
			total.BlobsExisting += r.BlobsExisting
			total.TotalBytes += r.TotalBytes
		}
		if err != nil {
			return total, fmt.Errorf("copying %s of %s to %s: %w", what, d, target, err)
		}
		if a.Tag == "" {
			// Tagged as well: untagged, the registry's garbage collection would sweep it.
			kept := repo.Tag(bundle.ReferrerTag(d, h))
			if err := remote.Tag(kept, a.Source.taggable(), append(o.Remote, remote.WithContext(ctx))...); err != nil {
				return total, fmt.Errorf("tagging %s of %s as %s: %w", what, d, kept, err)
			}
		}
	}
	total.SentBytes = total.Sent.Bytes()
	return total, nil
}

func hasReferrers(atts []Attachment) bool {
	for _, a := range atts {
		if a.Tag == "" {
			return true
		}
	}
	return false
}

func kindName(k bundle.AttachedKind) string {
	if k == bundle.Signatures {
		return "signatures"
	}
	return "attestations"
}

// BundleSource is ref's image or index in the bundle, as a copy reads it.
func BundleSource(b *bundle.Bundle, ref string) (Source, error) {
	desc, err := b.Lookup(ref)
	if err != nil {
		return Source{}, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := b.Index(ref)
		return Source{Index: idx}, err
	}
	img, err := b.Image(ref)
	return Source{Image: img}, err
}
