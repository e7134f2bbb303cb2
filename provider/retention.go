package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/provider/retention"
)

// retentionKind is the kind of contract.Retention: it keeps the previous versions of the
// site's images under their kept tags and deletes those beyond the window, as
// retention.Retire plans. The plan is pure, so a preview shows the versions an up will keep
// and how many it will delete (and so whether a garbage collection follows).
type retentionKind struct{ s *Server }

func parseRetention(m resource.PropertyMap) state[contract.RetentionArgs, contract.RetentionOutputs] {
	return decodeState[contract.RetentionArgs, contract.RetentionOutputs](m, contract.Retention)
}

func (k *retentionKind) check(_ context.Context, _ request, news resource.PropertyMap) (failures, error) {
	st := parseRetention(news)
	f := failures{}
	if st.In.KeepPrevious < 0 {
		f.add("keepPrevious", "must be 0 or more, not %d", st.In.KeepPrevious)
	}
	if !slices.Contains(st.unknown, "images") {
		f.images(st.In.Images)
	}
	return f, nil
}

// images checks an images input: repository:tag labels to digests.
func (f failures) images(images map[string]string) {
	for _, label := range slices.Sorted(maps.Keys(images)) {
		if _, _, err := retention.SplitLabel(label); err != nil {
			f.add("images", "%v", err)
		}
		if _, err := v1.NewHash(images[label]); err != nil {
			f.add("images", "%s: parsing digest %q: %v", label, images[label], err)
		}
	}
}

// diff reports a change only when the update has work: a version leaves the image set or a
// kept one is current again, or the window changes. Adding images alone is no change.
func (k *retentionKind) diff(_ context.Context, _ request, olds, news resource.PropertyMap) (changes, error) {
	o, n := parseRetention(olds), parseRetention(news)
	c := newChanges()
	if slices.Contains(n.unknown, "keepPrevious") || o.In.KeepPrevious != n.In.KeepPrevious {
		c.detailed["keepPrevious"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE, InputDiff: true}
	}
	if slices.Contains(n.unknown, "images") {
		c.detailed["images"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE, InputDiff: true}
		return c, nil
	}
	prev, err := retention.Parse(o.Out.Previous)
	if err != nil {
		return c, err
	}
	changed, err := retention.Changes(o.In.Images, n.In.Images, prev)
	if err != nil {
		return c, err
	}
	if changed {
		c.detailed["images"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE, InputDiff: true}
	}
	return c, nil
}

// create keeps nothing yet: no version has left the image set.
func (k *retentionKind) create(_ context.Context, _ request, ins resource.PropertyMap) (resource.PropertyMap, string, error) {
	state := ins.Copy()
	maps.Copy(state, encode(contract.Retention.Outputs, contract.RetentionOutputs{Previous: []string{}}))
	return state, "retention", nil
}

func (k *retentionKind) update(ctx context.Context, r request, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	o, n := parseRetention(olds), parseRetention(news)
	state := news.Copy()
	if len(n.unknown) > 0 {
		computedOutputs(state, contract.Retention)
		return state, nil
	}
	prev, err := retention.Parse(o.Out.Previous)
	if err != nil {
		return nil, err
	}
	plan, err := retention.Retire(o.In.Images, n.In.Images, prev, n.In.KeepPrevious)
	if err != nil {
		return nil, err
	}
	if !r.preview {
		if plan, err = k.apply(ctx, r.urn, plan); err != nil {
			return nil, err
		}
	}
	maps.Copy(state, encode(contract.Retention.Outputs, contract.RetentionOutputs{
		Previous:        retention.Strings(plan.Previous),
		DeletedVersions: o.Out.DeletedVersions + len(plan.Drop),
	}))
	return state, nil
}

// apply keeps plan.Keep under their kept tags, then deletes plan.Drop. A version to keep that
// the registry no longer holds is reported and left out of the plan's Previous. Every step is
// idempotent: a failed update is done again, whole, by the next up.
func (k *retentionKind) apply(ctx context.Context, urn string, plan retention.Plan) (retention.Plan, error) {
	c := k.s.config()
	if msg := c.registryProblem(); msg != "" {
		return plan, errors.New(msg)
	}
	for _, v := range plan.Keep {
		var gone bool
		_, err := k.s.atRegistry(ctx, urn, c, "keeping "+v.String(), func(_ context.Context, ep string, opts []remote.Option) error {
			var err error
			gone, err = keepVersion(c, ep, v, opts)
			return err
		})
		if err != nil {
			return plan, fmt.Errorf("keeping %s: %w", v, err)
		}
		if gone {
			k.s.warn(ctx, urn, "%s is gone from the registry: it cannot be kept for a rollback", v)
			plan.Previous = slices.DeleteFunc(plan.Previous, func(p retention.Version) bool { return p == v })
			continue
		}
		k.s.info(ctx, urn, "keeping %s for a rollback (tag %s)", v, retention.KeptTag(v.Digest))
	}
	for _, v := range plan.Drop {
		_, err := k.s.atRegistry(ctx, urn, c, "deleting "+v.String(), func(_ context.Context, ep string, opts []remote.Option) error {
			return dropVersion(c, ep, v, opts)
		})
		if err != nil {
			return plan, fmt.Errorf("deleting %s: %w", v, err)
		}
		k.s.info(ctx, urn, "deleted %s: beyond the %s kept; the garbage collection frees its blobs", v, plural(len(plan.Previous), "version", "versions"))
	}
	return plan, nil
}

// keepVersion puts v's manifest under its kept tag; gone reports that the registry does not
// hold it.
func keepVersion(c *siteConfig, ep string, v retention.Version, opts []remote.Option) (gone bool, err error) {
	repo, err := c.repositoryAt(ep, v.Repository)
	if err != nil {
		return false, err
	}
	desc, err := remote.Get(repo.Digest(v.Digest), opts...)
	if notFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", repo.Digest(v.Digest), err)
	}
	tag := repo.Tag(retention.KeptTag(v.Digest))
	if err := remote.Tag(tag, desc, opts...); err != nil {
		return false, fmt.Errorf("tagging %s: %w", tag, err)
	}
	return false, nil
}

// repositoryAt is the site registry's repository reached at endpoint ep.
func (c *siteConfig) repositoryAt(ep, repository string) (name.Repository, error) {
	repo, err := name.NewRepository(ep+"/"+repository, c.nameOpts()...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("parsing repository %q: %w", repository, err)
	}
	return repo, nil
}

// dropVersion deletes v's manifest by digest, which removes every tag pointing at it (its
// kept tag, and its own if it is still there), after the signatures and attestations copied
// beside it (their tags are named after its digest).
func dropVersion(c *siteConfig, ep string, v retention.Version, opts []remote.Option) error {
	repo, err := c.repositoryAt(ep, v.Repository)
	if err != nil {
		return err
	}
	tags, err := listTags(repo, opts)
	if err != nil {
		return err
	}
	attached, err := attachments(repo, tags, v.Digest, opts)
	if err != nil {
		return err
	}
	for _, d := range attached {
		if err := remote.Delete(repo.Digest(d), opts...); err != nil && !notFound(err) {
			return fmt.Errorf("deleting %s: %w", repo.Digest(d), err)
		}
	}
	if err := remote.Delete(repo.Digest(v.Digest), opts...); err != nil && !notFound(err) {
		return fmt.Errorf("deleting %s: %w", repo.Digest(v.Digest), err)
	}
	return nil
}

// listTags lists the tags of repo; none for a repository the registry does not know.
func listTags(repo name.Repository, opts []remote.Option) ([]string, error) {
	tags, err := remote.List(repo, opts...)
	if err != nil && !notFound(err) {
		return nil, fmt.Errorf("listing the tags of %s: %w", repo, err)
	}
	return tags, nil
}

// attachments are the digests of what tags (repo's) attach to the manifest digest: the
// signatures, attestations and referrers copied beside it, tagged after its digest
// (mirror.DigestTag, then a dot).
func attachments(repo name.Repository, tags []string, digest string, opts []remote.Option) ([]string, error) {
	prefix := mirror.DigestTag(digest) + "."
	var out []string
	for _, t := range tags {
		if !strings.HasPrefix(t, prefix) {
			continue
		}
		desc, err := remote.Head(repo.Tag(t), opts...)
		if notFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", repo.Tag(t), err)
		}
		out = append(out, desc.Digest.String())
	}
	return out, nil
}

// read returns the state: what is kept is recorded in it, not read back from the registry.
func (k *retentionKind) read(_ context.Context, _ request, state, inputs resource.PropertyMap) (resource.PropertyMap, resource.PropertyMap, error) {
	return state, inputs, nil
}

// delete leaves the kept versions in the registry: the stack no longer says what to keep.
func (k *retentionKind) delete(ctx context.Context, r request, _ resource.PropertyMap) error {
	k.s.info(ctx, r.urn, "the previous versions stay in the site registry")
	return nil
}
