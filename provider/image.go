package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/bundle"
	"airgap-site/mirror"
	"airgap-site/provider/contract"
	"airgap-site/provider/imagesync"
	"airgap-site/provider/retention"
	"airgap-site/provider/siteregistry"
)

// image is the kind of contract.Image: one image copied from the provider's bundle (or a
// registry) into the site registry, diffed by digest, read offline from the bundle.
type image struct{ s *Server }

// imageInputs are the decoded inputs of contract.Image.
type imageInputs struct {
	contract.ImageArgs
	// unknown lists inputs not known yet (preview).
	unknown []string
}

// parseInputs reads an image's inputs; those an older provider had (contract.LegacyImageInputs)
// are ignored: they are the provider's now.
func parseInputs(m resource.PropertyMap) imageInputs {
	var in imageInputs
	in.unknown = decode(m, contract.Image.Inputs, &in.ImageArgs)
	return in
}

func (in imageInputs) isUnknown(key string) bool { return slices.Contains(in.unknown, key) }

// label names the image in the site registry, whatever the endpoint.
func (in imageInputs) label() string { return retention.Label(in.Repository, in.Tag) }

// target is the tag the image is written to, reached at endpoint.
func (in imageInputs) target(c *siteConfig, endpoint string) (name.Tag, error) {
	ref := endpoint + "/" + in.Repository + ":" + in.Tag
	t, err := name.NewTag(ref, append(c.nameOpts(), name.StrictValidation)...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("parsing target %q: %w", ref, err)
	}
	return t, nil
}

// fromBundle reports whether the image comes from the provider's bundle.
func (in imageInputs) fromBundle() bool {
	return in.SourceRemote == "" && !in.isUnknown("sourceRemote")
}

// sourceKnown reports whether the source's digest can be read: the bundle's, or a source
// registry's.
func (in imageInputs) sourceKnown() bool {
	return !in.isUnknown("sourceRef") && !in.isUnknown("sourceRemote") && (in.SourceRef != "" || in.SourceRemote != "")
}

func (k *image) check(_ context.Context, _ request, news resource.PropertyMap) (failures, error) {
	c := k.s.config()
	in := parseInputs(news)
	f := failures{}
	f.required(contract.Image.Inputs, reflect.ValueOf(in.ImageArgs), in.unknown)
	if f["repository"] != "" {
		f["repository"] = "required: the repository in the site registry, e.g. docker.io/library/nginx"
	}
	if in.Repository != "" && in.Tag != "" {
		ep := "site.invalid:443"
		if len(c.Endpoints) > 0 {
			ep = c.Endpoints[0]
		}
		if _, err := in.target(c, ep); err != nil {
			f.add("repository", "%v", err)
		}
	}
	bundled := in.SourceRef != "" || in.isUnknown("sourceRef")
	remoteSrc := in.SourceRemote != "" || in.isUnknown("sourceRemote")
	switch {
	case bundled && remoteSrc:
		f.add("sourceRemote", "set either sourceRef (the image in the provider's bundle) or sourceRemote (a registry), not both")
	case !bundled && !remoteSrc:
		f.add("sourceRef", "required: the image's reference in the provider's bundle (or sourceRemote)")
	case in.SourceRemote != "":
		if _, err := name.ParseReference(in.SourceRemote); err != nil {
			f.add("sourceRemote", "parsing reference %q: %v", in.SourceRemote, err)
		}
	case in.SourceRef != "":
		if _, err := mirror.Normalize(in.SourceRef); err != nil {
			f.add("sourceRef", "%v", err)
			break
		}
		if c.Bundle == "" {
			f.add("sourceRef", "the airgap provider has no bundle: set its bundle (images.bundle)")
			break
		}
		// Every byte, before anything is copied: the signature, then the manifests (Lookup),
		// then the blobs, of the image and of what is attached to it.
		if prop, err := k.verify(c, in.SourceRef); err != nil {
			f.add(prop, "%v", err)
		}
	}
	return f, nil
}

// verify checks every byte of ref's image in the provider's bundle, and of what is attached to
// it; prop is the property a failure belongs to.
func (k *image) verify(c *siteConfig, ref string) (prop string, err error) {
	b, err := k.bundle(c)
	if err != nil {
		return "sourceRef", fmt.Errorf("the provider's bundle: %w", err)
	}
	return "sourceRef", verifyImage(b, ref)
}

// verifyImage checks every byte of ref's image in b before anything is copied: the manifests
// (Lookup), then the blobs, then the signatures and attestations beside it, the same way.
func verifyImage(b *bundle.Bundle, ref string) error {
	desc, err := b.Lookup(ref)
	if err != nil {
		return err
	}
	if err := b.CheckBlobs(ref, checkedBlobs); err != nil {
		return err
	}
	attached, err := b.Attached(ref, desc.Digest)
	if err != nil {
		return err
	}
	for _, a := range attached {
		if err := b.CheckBlobs(a.Reference, checkedBlobs); err != nil {
			return err
		}
	}
	return nil
}

// bundle is the provider's bundle, opened verified once per process.
func (k *image) bundle(c *siteConfig) (*bundle.Bundle, error) {
	b, _, err := k.s.bundles.open(c.Bundle, c.TrustedKeys, c.AllowUnsigned)
	return b, err
}

// diff compares the image's own inputs, and the source's digest, read offline from the
// bundle, with the digest in the state. Only a new repository or tag replaces. The settings
// of the provider are not compared: a new endpoint, password or key changes the provider only.
func (k *image) diff(ctx context.Context, r request, olds, news resource.PropertyMap) (changes, error) {
	oldIn, newIn := parseInputs(olds), parseInputs(news)
	k.s.plan.image(r.urn, newIn, olds)
	c := inputChanges(contract.Image.Inputs, reflect.ValueOf(oldIn.ImageArgs), reflect.ValueOf(newIn.ImageArgs), newIn.unknown)
	// The content: the bundle's digest against the digest the registry had at the last
	// up or refresh. A refresh that found the tag moved makes this differ.
	if !newIn.sourceKnown() {
		c.output("digest")
		return c, nil
	}
	want, err := k.sourceDigest(ctx, r.urn, k.s.config(), newIn)
	if err != nil {
		return c, err
	}
	if v, _ := resolve(olds["digest"]); !v.IsString() || v.StringValue() != want {
		c.output("digest")
	}
	return c, nil
}

func (k *image) create(ctx context.Context, r request, ins resource.PropertyMap) (resource.PropertyMap, string, error) {
	return k.sync(ctx, r, ins)
}

// update copies the image again; only what the registry lacks is sent.
func (k *image) update(ctx context.Context, r request, _, news resource.PropertyMap) (resource.PropertyMap, error) {
	state, _, err := k.sync(ctx, r, news)
	return state, err
}

// sync copies (or, in preview, plans) the image and returns its state: its own inputs and the
// outputs, nothing of the provider's.
func (k *image) sync(ctx context.Context, r request, ins resource.PropertyMap) (resource.PropertyMap, string, error) {
	c := k.s.config()
	in := parseInputs(ins)
	state := own(ins)
	if r.preview {
		k.s.plan.image(r.urn, in, nil)
		computedOutputs(state, contract.Image)
		if in.sourceKnown() {
			if d, err := k.sourceDigest(ctx, r.urn, c, in); err == nil {
				state["digest"] = resource.NewStringProperty(d)
			}
		}
		return state, "", nil
	}
	if f, _ := k.check(ctx, r, ins); len(f) > 0 {
		return nil, "", fmt.Errorf("invalid inputs: %v", map[string]string(f))
	}
	if msg := c.registryProblem(); msg != "" {
		return nil, "", errors.New(msg)
	}
	k.s.plan.copying()
	src, attached, err := k.source(ctx, r.urn, c, in)
	if err != nil {
		return nil, "", fmt.Errorf("opening source of %s: %w", in.label(), err)
	}
	syncedAt := time.Now().UTC().Format(time.RFC3339Nano)
	// Before the copy: a tag this process may have written must not be deleted by another
	// resource's Delete, even if the copy fails after the tag was put.
	k.s.written.add(in.label(), syncedAt)
	start := time.Now()
	res, target, ep, err := k.copy(ctx, r.urn, c, in, src, attached)
	if err != nil {
		return nil, "", fmt.Errorf("copying %s to the site registry: %w", in.label(), err)
	}
	k.s.info(ctx, r.urn, "%s@%s via %s: %d blobs uploaded, %d mounted, %d already there; %s sent of %s in %.1fs",
		in.label(), res.Digest, ep, res.BlobsUploaded, res.BlobsMounted, res.BlobsExisting, mb(res.SentBytes), mb(res.TotalBytes),
		time.Since(start).Seconds())
	if len(attached) > 0 {
		k.s.info(ctx, r.urn, "%s: %d attached %s (signatures, attestations, referrers) copied beside it, kept when it is deleted",
			in.label(), len(attached), plural(len(attached), "artifact", "artifacts"))
	}
	maps.Copy(state, encode(contract.Image.Outputs, contract.ImageOutputs{
		Digest:     res.Digest.String(),
		MediaType:  string(res.MediaType),
		Platforms:  res.Platforms,
		TotalBytes: float64(res.TotalBytes),
		SentBytes:  float64(res.SentBytes),
		Inventory:  inventoryOf(res.Contents),
		Ref:        target.String(),
		Endpoint:   ep,
		SyncedAt:   syncedAt,
	}))
	return state, target.String(), nil
}

// own are the properties of m that are the image's (its inputs and outputs): a state of an
// older provider also holds the settings that are now the provider's, which are dropped.
func own(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, p := range contract.Image.All() {
		if v, ok := m[resource.PropertyKey(p.Name)]; ok {
			out[resource.PropertyKey(p.Name)] = v
		}
	}
	return out
}

// copy copies src, then what is attached to it, through the first endpoint that serves. The
// result's SentBytes and BlobsUploaded cover every try, each blob sent by several tries counted
// once; its Contents are the image's and the attachments'.
func (k *image) copy(ctx context.Context, urn string, c *siteConfig, in imageInputs, src imagesync.Source, attached []imagesync.Attachment) (*imagesync.Result, name.Tag, string, error) {
	assumed, err := k.assumed(c, in, src)
	if err != nil {
		return nil, name.Tag{}, "", err
	}
	sent := imagesync.Sizes{}
	var uploaded int
	var res *imagesync.Result
	var contents imagesync.Sizes
	var target name.Tag
	mountFrom := k.mountCandidates(c, in, src)
	k.s.mu.Lock()
	sessions, limiter := k.s.sessions, k.s.limiter
	k.s.mu.Unlock()
	retry := k.s.backoff
	retry.For = c.retryFor()
	uploads, err := c.uploads(sessions, limiter, retry)
	if err != nil {
		return nil, name.Tag{}, "", err
	}
	ep, err := k.s.atSite(ctx, urn, c, in, "copying", func(ctx context.Context, t name.Tag, opts []remote.Option) error {
		k.s.status(ctx, urn, "copying to %s ...", t)
		o := imagesync.Options{
			Jobs:      c.jobs(),
			MountFrom: mountFrom,
			Remote:    opts,
			Known:     k.s.known,
			Site:      c.site(),
			Upload:    uploads,
			Progress:  progressLine(func(line string) { k.s.status(ctx, urn, "copying to %s: %s", t, line) }),
		}
		// A delta bundle does not carry the blobs it assumes the site holds: each is found (or
		// mounted) in the registry before anything of the image is pushed.
		if _, err := imagesync.CheckAssumed(ctx, in.SourceRef, assumed, t, o); err != nil {
			if errors.Is(err, imagesync.ErrAssumedMissing) {
				return permanentError{err}
			}
			return err
		}
		r, err := imagesync.Copy(ctx, src, t, o)
		if r != nil {
			sent.Add(r.Sent)
			uploaded += r.BlobsUploaded
			contents = maps.Clone(r.Contents)
		}
		res, target = r, t
		if err != nil || len(attached) == 0 {
			return err
		}
		// After the image, in the same try: a retry copies both, skipping what is there.
		a, err := imagesync.CopyAttached(ctx, attached, t, r.Digest, o)
		if a != nil {
			sent.Add(a.Sent)
			uploaded += a.BlobsUploaded
			contents.Add(a.Contents)
		}
		return err
	})
	if err != nil {
		return nil, name.Tag{}, "", err
	}
	res.Sent, res.SentBytes, res.BlobsUploaded, res.Contents = sent, sent.Bytes(), uploaded, contents
	return res, target, ep, nil
}

// progressLine reports a copy's progress, every few seconds, as bytes done of the most it may
// send, the rate since the last report and the time left at that rate.
func progressLine(report func(string)) func(streamed, total int64) {
	var last int64
	lastAt := time.Now()
	return func(streamed, total int64) {
		now := time.Now()
		line := fmt.Sprintf("%s of at most %s sent", mb(streamed), mb(total))
		if d := now.Sub(lastAt).Seconds(); d > 0 && streamed > last {
			rate := float64(streamed-last) / d
			line += fmt.Sprintf(", %.2f MB/s", rate/1e6)
			if total > streamed {
				line += fmt.Sprintf(", about %s left", time.Duration(float64(total-streamed)/rate*float64(time.Second)).Round(time.Second))
			}
		}
		last, lastAt = streamed, now
		report(line)
	}
}

// assumed are the blobs a delta bundle assumes the site holds for the image and what is
// attached to it; none for a full bundle or a source registry.
func (k *image) assumed(c *siteConfig, in imageInputs, src imagesync.Source) (map[v1.Hash]bundle.AssumedBlob, error) {
	if !in.fromBundle() {
		return nil, nil
	}
	b, err := k.bundle(c)
	if err != nil {
		return nil, err
	}
	d, err := src.Digest()
	if err != nil {
		return nil, err
	}
	return imagesync.AssumedOf(b, in.SourceRef, d)
}

// permanentError is a failure no retry or other endpoint helps (siteregistry.Endpoints).
type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }

func (e permanentError) Unwrap() error { return e.error }

// mountCandidates are the repositories of the site registry that may hold some of src's blobs:
// those of the other images of the provider's bundle that share a blob with it. They are
// derived here, not declared by the program, so adding an image to a site changes no other
// image's inputs.
func (k *image) mountCandidates(c *siteConfig, in imageInputs, src imagesync.Source) []string {
	if c.Bundle == "" {
		return nil
	}
	b, err := k.bundle(c)
	if err != nil {
		return nil
	}
	mine, err := imagesync.Contents(src)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range b.Entries() {
		t, err := mirror.TargetOf(e.Reference)
		if err != nil || t.Repository == in.Repository || slices.Contains(out, t.Repository) {
			continue
		}
		theirs, err := k.s.contents.of(b, e.Reference)
		if err != nil {
			continue
		}
		for h := range theirs {
			if _, ok := mine[h]; ok {
				out = append(out, t.Repository)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// source opens what to copy and what is attached to it: the image in the bundle, offline, or
// a source registry's, with retries (whose attachments are not copied).
func (k *image) source(ctx context.Context, urn string, c *siteConfig, in imageInputs) (imagesync.Source, []imagesync.Attachment, error) {
	if in.fromBundle() {
		b, err := k.bundle(c)
		if err != nil {
			return imagesync.Source{}, nil, err
		}
		src, err := imagesync.BundleSource(b, in.SourceRef)
		if err != nil {
			return imagesync.Source{}, nil, err
		}
		d, err := src.Digest()
		if err != nil {
			return imagesync.Source{}, nil, err
		}
		attached, err := imagesync.AttachmentsOf(b, in.SourceRef, d)
		return src, attached, err
	}
	var src imagesync.Source
	err := k.s.atSource(ctx, urn, c, in, func(ref name.Reference, opts []remote.Option) error {
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return fmt.Errorf("reading %s: %w", ref, err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			src = imagesync.Source{Index: idx}
			return err
		}
		img, err := desc.Image()
		src = imagesync.Source{Image: img}
		return err
	})
	return src, nil, err
}

// sourceDigest is the source's digest: read offline from the bundle (or with one HEAD from a
// source registry, with retries).
func (k *image) sourceDigest(ctx context.Context, urn string, c *siteConfig, in imageInputs) (string, error) {
	if in.fromBundle() {
		b, err := k.bundle(c)
		if err != nil {
			return "", err
		}
		desc, err := b.Lookup(in.SourceRef)
		if err != nil {
			return "", err
		}
		return desc.Digest.String(), nil
	}
	var digest string
	err := k.s.atSource(ctx, urn, c, in, func(ref name.Reference, opts []remote.Option) error {
		desc, err := remote.Head(ref, opts...)
		if err != nil {
			return fmt.Errorf("reading %s: %w", ref, err)
		}
		digest = desc.Digest.String()
		return nil
	})
	return digest, err
}

// read reports what the registry holds under the tag: gone, or its digest, which a following
// up compares with the bundle. The state it returns holds only the image's own properties: a
// refresh drops the settings an older provider kept in every image.
func (k *image) read(ctx context.Context, r request, state, inputs resource.PropertyMap) (resource.PropertyMap, resource.PropertyMap, error) {
	c := k.s.config()
	in := parseInputs(state)
	if msg := c.registryProblem(); msg != "" {
		return nil, nil, fmt.Errorf("reading %s: %s", in.label(), msg)
	}
	var desc *v1.Descriptor
	var target name.Tag
	var inventory imagesync.Sizes
	old, _ := resolve(state["digest"])
	_, hasInventory := state["inventory"]
	ep, err := k.s.atSite(ctx, r.urn, c, in, "reading", func(_ context.Context, t name.Tag, opts []remote.Option) error {
		d, err := remote.Head(t, opts...)
		if err != nil && !notFound(err) {
			return fmt.Errorf("reading %s: %w", t, err)
		}
		desc, target = d, t
		if d == nil || (hasInventory && stringOf(old) == d.Digest.String()) {
			return nil
		}
		// A state without an inventory (written by provider 0.4 or before) or a tag that
		// moved: what the registry holds under it now, read from its manifests (and configs).
		inventory, err = registryContents(t.Context().Digest(d.Digest.String()), opts)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", in.label(), err)
	}
	if desc == nil {
		k.s.info(ctx, r.urn, "%s is gone from the registry", target)
		return nil, nil, nil
	}
	if old.IsString() && old.StringValue() != desc.Digest.String() {
		k.s.info(ctx, r.urn, "%s now points at %s (was %s)", target, desc.Digest, old.StringValue())
	}
	state = own(state)
	if inventory != nil {
		state["inventory"] = encode(contract.Image.Outputs, contract.ImageOutputs{Inventory: inventoryOf(inventory)})["inventory"]
	}
	state["digest"] = resource.NewStringProperty(desc.Digest.String())
	state["endpoint"] = resource.NewStringProperty(ep)
	state["ref"] = resource.NewStringProperty(target.String())
	return state, ownInputs(inputs), nil
}

// inventoryOf is the inventory output of contents.
func inventoryOf(contents imagesync.Sizes) map[string]float64 {
	out := make(map[string]float64, len(contents))
	for h, size := range contents {
		out[h.String()] = float64(size)
	}
	return out
}

// registryContents are the blobs and manifests of the image at ref in a registry, read from
// its manifests and configs.
func registryContents(ref name.Digest, opts []remote.Option) (imagesync.Sizes, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	var src imagesync.Source
	if desc.MediaType.IsIndex() {
		src.Index, err = desc.ImageIndex()
	} else {
		src.Image, err = desc.Image()
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return imagesync.Contents(src)
}

// ownInputs are the image's own inputs of m.
func ownInputs(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, p := range contract.Image.Inputs {
		if v, ok := m[resource.PropertyKey(p.Name)]; ok {
			out[resource.PropertyKey(p.Name)] = v
		}
	}
	return out
}

// delete removes the tag, and nothing else, unless retain is set or the tag is not this
// resource's any more:
//   - this process wrote the same repository:tag for another instance (a forced replacement,
//     which the engine creates before it deletes the old one, or a renamed resource): the
//     delete would remove what the create just wrote;
//   - the tag points at another digest than the one recorded: someone else wrote it.
//
// What remains: a renamed resource whose up was interrupted between the create and the
// delete of the old name deletes, in the next up, a tag the new one holds with the same
// digest; a refresh shows it gone and the following up restores it.
func (k *image) delete(ctx context.Context, r request, state resource.PropertyMap) error {
	c := k.s.config()
	in := parseInputs(state)
	if in.Retain {
		k.s.info(ctx, r.urn, "retaining %s in the registry", in.label())
		return nil
	}
	syncedAt, _ := resolve(state["syncedAt"])
	if k.s.written.byOther(in.label(), stringOf(syncedAt)) {
		k.s.warn(ctx, r.urn, "keeping %s: this update wrote it for another resource (a replacement or a renamed resource with the same repository and tag)", in.label())
		return nil
	}
	if msg := c.registryProblem(); msg != "" {
		return fmt.Errorf("deleting %s: %s", in.label(), msg)
	}
	recorded, _ := resolve(state["digest"])
	var d imagesync.Deletion
	_, err := k.s.atSite(ctx, r.urn, c, in, "deleting", func(_ context.Context, t name.Tag, opts []remote.Option) error {
		var err error
		d, err = imagesync.DeleteTag(t, stringOf(recorded), opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting %s: %w", in.label(), err)
	}
	switch {
	case d.Kept != "":
		k.s.warn(ctx, r.urn, "keeping %s: %s", in.label(), d.Kept)
	case d.Gone:
		k.s.info(ctx, r.urn, "%s was already gone from the registry", in.label())
	case d.ByDigest:
		k.s.info(ctx, r.urn, "deleted %s by digest: the registry does not delete tags, and no other tag pointed at its manifest", in.label())
	default:
		k.s.info(ctx, r.urn, "deleted %s", in.label())
	}
	return nil
}

// retrying runs an operation of the resource urn against addrs, with the retry budget of the
// configuration. Failed tries show in the status line as they happen; one that was ridden out
// is reported once, as a warning, by done.
func (s *Server) retrying(ctx context.Context, urn string, c *siteConfig, addrs []string) (siteregistry.Endpoints, func(what, ep string)) {
	p := s.backoff
	p.For = c.retryFor()
	var failed int
	var last error
	e := siteregistry.Endpoints{Addrs: addrs, Policy: p, Health: s.health, OnFailure: func(ep string, err error) {
		failed, last = failed+1, &siteregistry.Error{Endpoint: ep, Err: err}
		s.status(ctx, urn, "%v; trying again", last)
	}}
	done := func(what, ep string) {
		if failed > 0 {
			s.warn(ctx, urn, "%s: served by %s after %d failed %s; the last: %v", what, ep, failed, plural(failed, "try", "tries"), last)
		}
	}
	return e, done
}

// atSite runs op against the site registry's endpoints, in order, with the retry budget: op
// gets the image's tag at one endpoint and the options to reach it. It returns the endpoint
// that served; failures ridden out on the way are reported once, as a warning about
// what (a verb: "copying") and the image's label.
func (s *Server) atSite(ctx context.Context, urn string, c *siteConfig, in imageInputs, what string, op func(ctx context.Context, t name.Tag, opts []remote.Option) error) (string, error) {
	return s.atRegistry(ctx, urn, c, what+" "+in.label(), func(ctx context.Context, ep string, opts []remote.Option) error {
		t, err := in.target(c, ep)
		if err != nil {
			return err
		}
		return op(ctx, t, opts)
	})
}

// atRegistry runs op against the site registry's endpoints, in order, with the retry budget:
// op gets the endpoint and the options to reach it. It returns the endpoint that served;
// failures ridden out on the way are reported once, as a warning about what.
func (s *Server) atRegistry(ctx context.Context, urn string, c *siteConfig, what string, op func(ctx context.Context, ep string, opts []remote.Option) error) (string, error) {
	endpoints, done := s.retrying(ctx, urn, c, c.Endpoints)
	ep, err := endpoints.Do(ctx, func(ctx context.Context, ep string) error {
		opts, err := c.remoteOptions(ctx)
		if err != nil {
			return err
		}
		return op(ctx, ep, opts)
	})
	if err != nil {
		return "", err
	}
	done(what, ep)
	return ep, nil
}

// atSource runs op against the source registry of a sourceRemote, with the retry budget: op
// gets the source's reference and the options to reach it.
func (s *Server) atSource(ctx context.Context, urn string, c *siteConfig, in imageInputs, op func(ref name.Reference, opts []remote.Option) error) error {
	ref, err := name.ParseReference(in.SourceRemote)
	if err != nil {
		return fmt.Errorf("parsing reference %q: %w", in.SourceRemote, err)
	}
	endpoints, _ := s.retrying(ctx, urn, c, []string{ref.Context().RegistryStr()})
	_, err = endpoints.Do(ctx, func(ctx context.Context, _ string) error {
		opts, err := c.remoteOptions(ctx)
		if err != nil {
			return err
		}
		return op(ref, opts)
	})
	return err
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// writes are the tags this process wrote, each with the syncedAt of its writes in order.
type writes struct {
	mu sync.Mutex
	m  map[string][]string
}

func (w *writes) add(label, syncedAt string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string][]string{}
	}
	w.m[label] = append(w.m[label], syncedAt)
}

// byOther reports whether the last write of label in this process was not the one at
// syncedAt: the instance being deleted is not the one that holds the tag now.
func (w *writes) byOther(label, syncedAt string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	stamps := w.m[label]
	return len(stamps) > 0 && stamps[len(stamps)-1] != syncedAt
}

// contentsCache remembers the contents of the bundle's images, for mount candidates: each is
// read once per process.
type contentsCache struct {
	mu sync.Mutex
	m  map[string]imagesync.Sizes
}

func (cc *contentsCache) of(b *bundle.Bundle, ref string) (imagesync.Sizes, error) {
	key := b.Dir() + "\x00" + ref
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if c, ok := cc.m[key]; ok {
		return c, nil
	}
	src, err := imagesync.BundleSource(b, ref)
	if err != nil {
		return nil, err
	}
	c, err := imagesync.Contents(src)
	if err != nil {
		return nil, err
	}
	if cc.m == nil {
		cc.m = map[string]imagesync.Sizes{}
	}
	cc.m[key] = c
	return c, nil
}
