package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/capacity"
	"airgap-site/provider/contract"
	"airgap-site/provider/retention"
	"airgap-site/provider/siteregistry"
)

// usageKind is the kind of contract.RegistryUsage: every create, update and refresh measures
// what the site registry's store holds (package capacity says what the figures mean).
type usageKind struct{ s *Server }

// listTimeout bounds the listing of the registry's part of the bucket.
const listTimeout = 2 * time.Minute

func parseUsage(m resource.PropertyMap) state[contract.RegistryUsageArgs, contract.RegistryUsageOutputs] {
	return decodeState[contract.RegistryUsageArgs, contract.RegistryUsageOutputs](m, contract.RegistryUsage)
}

func (k *usageKind) check(_ context.Context, _ request, news resource.PropertyMap) (failures, error) {
	st := parseUsage(news)
	f := failures{}
	f.required(contract.RegistryUsage.Inputs, reflect.ValueOf(st.In), st.unknown)
	if st.In.CapacityBytes < 0 {
		f.add("capacityBytes", "must be 0 (unknown) or more, not %d", st.In.CapacityBytes)
	}
	if !slices.Contains(st.unknown, "images") {
		f.images(st.In.Images)
	}
	if !slices.Contains(st.unknown, "previous") {
		if _, err := retention.Parse(st.In.Previous); err != nil {
			f.add("previous", "%v", err)
		}
	}
	if e := st.In.StoreEndpoint; e != "" && !slices.Contains(st.unknown, "storeEndpoint") {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			f.add("storeEndpoint", "%q must be an http:// or https:// URL with a host", e)
		}
		if st.In.StoreBucket == "" && !slices.Contains(st.unknown, "storeBucket") {
			f.add("storeBucket", "required with storeEndpoint")
		}
	}
	return f, nil
}

// diff measures again when the retention or the collection changed the registry, or the
// store's settings changed; adding images alone is no change (the rule of retention.Changes),
// so that adding one image previews as one create. Their bytes are counted by the next
// measure: an up that retires a version, or a refresh.
func (k *usageKind) diff(ctx context.Context, r request, olds, news resource.PropertyMap) (changes, error) {
	o, n := parseUsage(olds), parseUsage(news)
	var last *capacity.Usage
	if o.Out.MeasuredAt != "" {
		last = capacity.FromOutputs(int64(o.In.CapacityBytes), o.Out)
	}
	k.s.sayPlan(ctx, r.urn, int64(n.In.CapacityBytes), last, o.Out.Held)
	c := inputChanges(contract.RegistryUsage.Inputs, reflect.ValueOf(o.In), reflect.ValueOf(n.In), n.unknown)
	if _, ok := c.detailed["images"]; !ok || slices.Contains(n.unknown, "images") {
		return c, nil
	}
	prev, err := retention.Parse(o.In.Previous)
	if err != nil {
		return c, err
	}
	changed, err := retention.Changes(o.In.Images, n.In.Images, prev)
	if err != nil {
		return c, err
	}
	if !changed {
		delete(c.detailed, "images")
	}
	return c, nil
}

func (k *usageKind) create(ctx context.Context, r request, ins resource.PropertyMap) (resource.PropertyMap, string, error) {
	state, err := k.update(ctx, r, nil, ins)
	return state, "registry-usage", err
}

func (k *usageKind) update(ctx context.Context, r request, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	n := parseUsage(news)
	state := news.Copy()
	if r.preview && olds == nil {
		k.s.sayPlan(ctx, r.urn, int64(n.In.CapacityBytes), nil, nil) // a create: nothing measured yet
	}
	if r.preview || len(n.unknown) > 0 {
		computedOutputs(state, contract.RegistryUsage)
		return state, nil
	}
	out, err := k.measure(ctx, r.urn, n.In)
	if err != nil {
		return nil, err
	}
	maps.Copy(state, encode(contract.RegistryUsage.Outputs, out))
	return state, nil
}

// read measures again: a refresh brings the figures up to date. A registry that cannot be read
// keeps the last figures, with a warning: a refresh must not fail on a site being restarted.
func (k *usageKind) read(ctx context.Context, r request, state, inputs resource.PropertyMap) (resource.PropertyMap, resource.PropertyMap, error) {
	st := parseUsage(state)
	out, err := k.measure(ctx, r.urn, st.In)
	if err != nil {
		k.s.warn(ctx, r.urn, "keeping the last registry usage (measured %s): %v", st.Out.MeasuredAt, err)
		return state, inputs, nil
	}
	// The same figures are no change: a refresh reports a store that changed, not the clock
	// (airgap fleet --refresh counts changes as drift).
	unchanged := out
	unchanged.MeasuredAt = st.Out.MeasuredAt
	if reflect.DeepEqual(unchanged, st.Out) {
		return state, inputs, nil
	}
	next := state.Copy()
	maps.Copy(next, encode(contract.RegistryUsage.Outputs, out))
	return next, inputs, nil
}

func (k *usageKind) delete(context.Context, request, resource.PropertyMap) error { return nil }

// measure reads the referenced bytes from the registry and lists the bucket. A listing that
// fails is a warning and an unknown total: the site is up, only a figure is missing.
func (k *usageKind) measure(ctx context.Context, urn string, in contract.RegistryUsageArgs) (contract.RegistryUsageOutputs, error) {
	c := k.s.config()
	if msg := c.registryProblem(); msg != "" {
		return contract.RegistryUsageOutputs{}, errors.New(msg)
	}
	referenced, held, err := k.referenced(ctx, urn, c, in)
	if err != nil {
		return contract.RegistryUsageOutputs{}, err
	}
	out := contract.RegistryUsageOutputs{ReferencedBytes: int(referenced), TotalBytes: capacity.Unknown, Held: held}
	switch {
	case in.StoreEndpoint == "":
		out.Unmeasured = "no S3 endpoint the machine running pulumi reaches (objectStore.usageEndpoint)"
	default:
		k.s.status(ctx, urn, "listing %s/%s at %s ...", in.StoreBucket, in.StorePrefix, in.StoreEndpoint)
		total, err := listStore(ctx, c, in)
		if err != nil {
			out.Unmeasured = err.Error()
			k.s.warn(ctx, urn, "the registry's bytes in the bucket are not known: %v", err)
		} else {
			out.TotalBytes = int(total)
		}
	}
	capBytes := int64(in.CapacityBytes)
	if capBytes == 0 {
		capBytes = capacity.Unknown
	}
	out.FreeBytes = int(capacity.Free(capBytes, int64(out.TotalBytes), referenced))
	out.MeasuredAt = time.Now().UTC().Format(time.RFC3339)
	k.s.info(ctx, urn, "registry usage: %s referenced, %s in the bucket, %s free",
		mb(referenced), figure(out.TotalBytes), figure(out.FreeBytes))
	return out, nil
}

// figure is a measured size, or "unknown".
func figure(n int) string {
	if n < 0 {
		return "unknown"
	}
	return mb(int64(n))
}

// referenced walks every version (the images and the kept ones) and what is attached to it
// (tags named after its digest: signatures, attestations, referrers) at the site registry,
// and sums the manifests and blobs they reference, each digest once (distribution stores a
// blob once, whatever the repositories linking it).
func (k *usageKind) referenced(ctx context.Context, urn string, c *siteConfig, in contract.RegistryUsageArgs) (int64, map[string]float64, error) {
	versions, err := retention.Parse(in.Previous)
	if err != nil {
		return 0, nil, err
	}
	for label, digest := range in.Images {
		repo, tag, err := retention.SplitLabel(label)
		if err != nil {
			return 0, nil, err
		}
		versions = append(versions, retention.Version{Repository: repo, Tag: tag, Digest: digest})
	}
	byRepo := map[string][]string{}
	for _, v := range versions {
		byRepo[v.Repository] = append(byRepo[v.Repository], v.Digest)
	}
	sizes, held := map[string]int64{}, map[string]float64{}
	for _, repository := range slices.Sorted(maps.Keys(byRepo)) {
		linked := map[string]int64{}
		_, err := k.s.atRegistry(ctx, urn, c, "measuring "+repository, func(_ context.Context, ep string, opts []remote.Option) error {
			repo, err := c.repositoryAt(ep, repository)
			if err != nil {
				return err
			}
			clear(linked)
			return addRepository(repo, byRepo[repository], opts, linked)
		})
		if err != nil {
			return 0, nil, fmt.Errorf("measuring %s: %w", repository, err)
		}
		for d, n := range linked {
			sizes[d] = n
			held[repository+"@"+d] = float64(n)
		}
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	return total, held, nil
}

// addRepository adds to sizes the digests of repo and what is attached to them.
func addRepository(repo name.Repository, digests []string, opts []remote.Option, sizes map[string]int64) error {
	tags, err := listTags(repo, opts)
	if err != nil {
		return err
	}
	for _, d := range digests {
		attached, err := attachments(repo, tags, d, opts)
		if err != nil {
			return err
		}
		for _, m := range append([]string{d}, attached...) {
			if err := addManifest(repo, m, opts, sizes); err != nil {
				return err
			}
		}
	}
	return nil
}

// addManifest adds the manifest d of repo and what it references: an index's children, an
// image's config and layers. A manifest the registry does not hold adds nothing (an index's
// platforms not copied).
func addManifest(repo name.Repository, d string, opts []remote.Option, sizes map[string]int64) error {
	if _, seen := sizes[d]; seen {
		return nil
	}
	desc, err := remote.Get(repo.Digest(d), opts...)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", repo.Digest(d), err)
	}
	sizes[d] = int64(len(desc.Manifest))
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return fmt.Errorf("parsing %s: %w", repo.Digest(d), err)
		}
		for _, m := range idx.Manifests {
			if err := addManifest(repo, m.Digest.String(), opts, sizes); err != nil {
				return err
			}
		}
		return nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return fmt.Errorf("parsing %s: %w", repo.Digest(d), err)
	}
	sizes[m.Config.Digest.String()] = m.Config.Size
	for _, l := range m.Layers {
		sizes[l.Digest.String()] = l.Size
	}
	return nil
}

// listStore sums the sizes of the objects under the registry's root directory in its bucket,
// as in's read-only identity sees them.
func listStore(ctx context.Context, c *siteConfig, in contract.RegistryUsageArgs) (int64, error) {
	u, err := url.Parse(in.StoreEndpoint)
	if err != nil {
		return 0, fmt.Errorf("parsing %q: %w", in.StoreEndpoint, err)
	}
	cl, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(in.AccessKey, in.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       in.StoreRegion,
		BucketLookup: minio.BucketLookupPath,
		Transport:    siteregistry.Transport(nil, c.requestTimeout()),
		// One try: an unreachable store is a missing figure, not worth minutes of retries.
		MaxRetries: 1,
	})
	if err != nil {
		return 0, fmt.Errorf("S3 client for %s: %w", in.StoreEndpoint, err)
	}
	cl.SetAppInfo("airgap-site", contract.Version)
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	prefix := strings.Trim(in.StorePrefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	var total int64
	for o := range cl.ListObjects(ctx, in.StoreBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return 0, fmt.Errorf("listing s3://%s/%s at %s: %w", in.StoreBucket, prefix, in.StoreEndpoint, o.Err)
		}
		total += o.Size
	}
	return total, nil
}
