package imagesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
)

// ErrAssumedMissing is returned (wrapped) by CheckAssumed when the site registry lacks a blob
// a delta bundle assumes it holds: no retry or other endpoint helps, only a full bundle.
var ErrAssumedMissing = errors.New("a blob the delta bundle assumes is not in the site registry")

// AssumedResult says how CheckAssumed found the assumed blobs of an image.
type AssumedResult struct {
	// Present were already in the image's repository; Mounted were mounted there from another
	// repository of the registry.
	Present, Mounted int
}

// CheckAssumed makes sure, before anything of an image from a delta bundle is pushed, that the
// site registry holds every blob the bundle assumes for it (bundle.Bundle.Assumed), since the
// bundle does not carry them. Each must already be in dst's repository (a blob HEAD), or is
// mounted there from the repository the bundle records for it, else from one Known or
// opts.MountFrom names (that holds it): afterwards Copy finds them all present and never reads
// them from the bundle. Nothing is ever uploaded.
//
// The first blob found nowhere fails with ErrAssumedMissing and an error naming the blob, the
// image and the fix (a full bundle); nothing of the image was pushed, and the registry is
// unchanged. Other failures (a refused connection, a 5xx) are returned as they are, for the
// caller to fail over and retry like a failed copy. Requests go to dst's host only, with
// opts.Remote, as Copy's do; image names the image in the error (its original reference).
func CheckAssumed(ctx context.Context, image string, assumed map[v1.Hash]bundle.AssumedBlob, dst name.Reference, opts Options) (AssumedResult, error) {
	var res AssumedResult
	if len(assumed) == 0 {
		return res, nil
	}
	if opts.Known == nil {
		opts.Known = NewKnown()
	}
	if opts.Site == "" {
		opts.Site = dst.Context().RegistryStr()
	}
	ropts, err := reusing(ctx, opts)
	if err != nil {
		return res, err
	}
	c := &copier{repo: dst.Context(), opts: opts, ropts: ropts, streamed: &atomic.Int64{}, sent: &sentSet{m: Sizes{}}}
	site, repo := opts.Site, c.repo.RepositoryStr()
	for _, h := range slices.SortedFunc(maps.Keys(assumed), func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) }) {
		a := assumed[h]
		if opts.Known.has(site, repo, h) {
			res.Present++
			continue
		}
		ok, err := c.exists(c.repo, h)
		if err != nil {
			return res, err
		}
		if ok {
			opts.Known.add(site, repo, h)
			res.Present++
			continue
		}
		mounted, tried, err := c.mountAssumed(h, a)
		if err != nil {
			return res, err
		}
		if mounted {
			res.Mounted++
			continue
		}
		return res, fmt.Errorf("%w: image %s: blob %s (%d bytes), which the delta bundle assumes the site registry holds, is in none of %s: the site lost it (a garbage collection, a registry restored from backup) or the bundle was made against another stack's state; bring a full bundle: airgap bundle without --against",
			ErrAssumedMissing, image, h, a.Size, strings.Join(append([]string{repo}, tried...), ", "))
	}
	return res, nil
}

// AssumedOf is every blob the bundle assumes the site holds for the image ref with digest d
// and for what is attached to it (bundle.Attached: signatures, attestations, referrers, which
// CopyAttached copies into the same repository): what CheckAssumed must find before the image
// and its attachments are copied. Empty for a full bundle.
func AssumedOf(b *bundle.Bundle, ref string, d v1.Hash) (map[v1.Hash]bundle.AssumedBlob, error) {
	out, err := b.Assumed(ref)
	if err != nil {
		return nil, err
	}
	if !b.IsDelta() {
		return out, nil
	}
	as, err := b.Attached(ref, d)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		more, err := b.Assumed(a.Reference)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, more)
	}
	return out, nil
}

// mountAssumed mounts the blob h into c.repo from a repository that holds it: the one the
// bundle records, then those Known or MountFrom name. It reports whether it mounted it, else
// the repositories it looked in; an error is a failure to ask.
func (c *copier) mountAssumed(h v1.Hash, a bundle.AssumedBlob) (mounted bool, tried []string, err error) {
	site, repo := c.opts.Site, c.repo.RepositoryStr()
	var cands []string
	add := func(r string) {
		r = RepositoryName(r, c.repo.RegistryStr())
		if r != "" && r != repo && !slices.Contains(cands, r) {
			cands = append(cands, r)
		}
	}
	add(a.Repository)
	add(c.opts.Known.holder(site, h, repo))
	for _, m := range c.opts.MountFrom {
		add(m)
	}
	for _, from := range cands {
		fromRepo, err := name.NewRepository(c.repo.RegistryStr()+"/"+from, repoOpts(c.repo)...)
		if err != nil {
			continue // a name this registry cannot hold holds nothing
		}
		// Asked first, so that a mount is only tried where it can succeed: a registry that
		// cannot mount opens an upload session instead, which nothing would use.
		ok, err := c.exists(fromRepo, h)
		if err != nil {
			return false, nil, err
		}
		if !ok {
			continue
		}
		c.opts.Known.add(site, from, h)
		ml := &remote.MountableLayer{Layer: notCarried{hash: h, size: a.Size}, Reference: fromRepo.Digest(h.String())}
		if err := remote.WriteLayer(c.repo, ml, c.ropts...); err != nil && !errors.Is(err, errNotCarried) {
			return false, nil, fmt.Errorf("mounting blob %s into %s from %s: %w", h, c.repo, from, err)
		}
		// Declined (the content was asked for, and refused) or done: the registry says which.
		if ok, err := c.exists(c.repo, h); err != nil {
			return false, nil, err
		} else if ok {
			c.opts.Known.add(site, repo, h)
			return true, nil, nil
		}
	}
	return false, cands, nil
}

// errNotCarried is notCarried's answer when asked for content.
var errNotCarried = errors.New("a delta bundle does not carry this blob: it can only be mounted")

// notCarried is a blob known by digest and size only: what a delta bundle assumes. A registry
// that declines to mount it gets errNotCarried instead of content, so the mount is never
// turned into an upload.
type notCarried struct {
	hash v1.Hash
	size int64
}

var _ v1.Layer = notCarried{}

func (l notCarried) Digest() (v1.Hash, error)             { return l.hash, nil }
func (l notCarried) DiffID() (v1.Hash, error)             { return v1.Hash{}, errNotCarried }
func (l notCarried) Size() (int64, error)                 { return l.size, nil }
func (l notCarried) MediaType() (types.MediaType, error)  { return types.OCILayer, nil }
func (l notCarried) Compressed() (io.ReadCloser, error)   { return nil, errNotCarried }
func (l notCarried) Uncompressed() (io.ReadCloser, error) { return nil, errNotCarried }
