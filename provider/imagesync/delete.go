package imagesync

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Deletion is what DeleteTag did.
type Deletion struct {
	// Gone: the tag did not exist.
	Gone bool
	// ByDigest: the registry refused to delete a tag, and the manifest, which no other tag
	// pointed at, was deleted by digest.
	ByDigest bool
	// Kept, when not empty, says why the tag was left in place.
	Kept string
}

// DeleteTag deletes tag, and never another tag of its repository.
//
// When want (a digest) is given and the tag now points elsewhere, someone else wrote it since:
// it is kept. Otherwise the tag is deleted by tag (DELETE /v2/<name>/manifests/<tag>):
// distribution v3 then removes that tag only and leaves the manifest to garbage collection. A
// registry that refuses to delete a tag (405 UNSUPPORTED, 400) can only delete the manifest
// by digest, which removes every tag pointing at it: that is done only when no other tag of
// the repository points at the same digest, and otherwise the tag is kept. Another writer
// could tag the digest between that check and the delete: the window is one request long.
func DeleteTag(tag name.Tag, want string, ropts ...remote.Option) (Deletion, error) {
	desc, err := remote.Head(tag, ropts...)
	if notFound(err) {
		return Deletion{Gone: true}, nil
	}
	if err != nil {
		return Deletion{}, fmt.Errorf("reading %s: %w", tag, err)
	}
	if want != "" && desc.Digest.String() != want {
		return Deletion{Kept: fmt.Sprintf("%s now points at %s, not %s as recorded: another writer owns it", tag, desc.Digest, want)}, nil
	}
	derr := remote.Delete(tag, ropts...)
	switch {
	case derr == nil:
		return Deletion{}, nil
	case notFound(derr):
		return Deletion{Gone: true}, nil
	case !refused(derr):
		return Deletion{}, fmt.Errorf("deleting %s: %w", tag, derr)
	}

	repo := tag.Context()
	sibling, err := taggedElsewhere(tag, desc.Digest.String(), ropts)
	if err != nil {
		return Deletion{}, fmt.Errorf("the registry refuses to delete the tag %s (%v), and no other tag may point at its manifest: %w", tag, derr, err)
	}
	if sibling != "" {
		return Deletion{Kept: fmt.Sprintf("the registry refuses to delete the tag %s, and %s:%s points at the same manifest %s: "+
			"deleting it by digest would remove that tag too", tag, repo, sibling, desc.Digest)}, nil
	}
	err = remote.Delete(repo.Digest(desc.Digest.String()), ropts...)
	if err != nil && !notFound(err) {
		return Deletion{}, fmt.Errorf("the registry refuses to delete the tag %s; deleting its manifest %s: %w", tag, desc.Digest, err)
	}
	return Deletion{ByDigest: true}, nil
}

// taggedElsewhere returns a tag of tag's repository, other than tag, that points at digest.
func taggedElsewhere(tag name.Tag, digest string, ropts []remote.Option) (string, error) {
	repo := tag.Context()
	tags, err := remote.List(repo, ropts...)
	if err != nil {
		return "", fmt.Errorf("listing the tags of %s: %w", repo, err)
	}
	for _, t := range tags {
		if t == tag.TagStr() {
			continue
		}
		desc, err := remote.Head(repo.Tag(t), ropts...)
		if notFound(err) {
			continue // deleted since the listing
		}
		if err != nil {
			return "", fmt.Errorf("reading %s:%s: %w", repo, t, err)
		}
		if desc.Digest.String() == digest {
			return t, nil
		}
	}
	return "", nil
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// refused is a registry saying it cannot delete by tag: distribution with deletes of tags
// unsupported answers 405 UNSUPPORTED; registries that only parse digests answer 400.
func refused(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	switch terr.StatusCode {
	case http.StatusMethodNotAllowed, http.StatusBadRequest, http.StatusNotImplemented:
		return true
	}
	return false
}
