package provider

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/capacity"
	"airgap-site/inventory"
	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
	"airgap-site/transfer"
)

// plan gathers, within one engine operation (one provider process), what each Image of the
// bundle holds at the site (its state) and will hold (its sourceRef), as the engine diffs and
// previews them, so that the RegistryUsage that follows every Image can say, in a plain
// `pulumi preview`, what the up will send and whether the store has room for it. The rules are
// package transfer's and package capacity's: `airgap site preview` and `airgap fleet` say
// the same from the exported state.
type plan struct {
	mu     sync.Mutex
	images map[string]plannedImage // by URN
	// copied: an image was copied by this process, so this is an up, whose copies say what
	// they sent; the plan is a preview's.
	copied bool
	said   bool
}

// plannedImage is an Image of the bundle: its source and what its state records.
type plannedImage struct {
	sourceRef string
	// held is its state's record; nil for an image the up creates.
	held *inventory.Record
}

// image records an Image of the bundle the engine diffs or previews: its new inputs, and its
// state olds (nil for an image the up creates, or the preview of an update after its diff).
// Images from a registry are not the bundle's: their state is not read.
func (p *plan) image(urn string, in imageInputs, olds resource.PropertyMap) {
	if !in.fromBundle() || !in.sourceKnown() {
		return
	}
	var held *inventory.Record
	if olds != nil {
		held = heldBy(urn, olds)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.images == nil {
		p.images = map[string]plannedImage{}
	}
	if prev, ok := p.images[urn]; ok && held == nil {
		held = prev.held // the preview of an update, after its diff
	}
	p.images[urn] = plannedImage{sourceRef: in.SourceRef, held: held}
}

// heldBy is the inventory record of an Image's state olds.
func heldBy(urn string, olds resource.PropertyMap) *inventory.Record {
	st := decodeState[contract.ImageArgs, contract.ImageOutputs](olds, contract.Image)
	rec := &inventory.Record{URN: urn, Repository: st.In.Repository, Tag: st.In.Tag, Digest: st.Out.Digest}
	if st.Out.Inventory != nil {
		rec.Inventory = make(map[string]int64, len(st.Out.Inventory))
		for d, size := range st.Out.Inventory {
			rec.Inventory[d] = int64(size)
		}
	}
	return rec
}

// copying marks this process as an up's.
func (p *plan) copying() {
	p.mu.Lock()
	p.copied = true
	p.mu.Unlock()
}

// take returns the images of a preview, once per process, with their records and those of
// measured, the last measure's repository@digest sizes (RegistryUsage's held: it also knows
// the kept versions and the images the up replaces, which the engine does not diff); nil for
// an up, a second call, or a preview with no image from the bundle.
func (p *plan) take(measured map[string]float64) (refs []string, held []inventory.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.copied || p.said || len(p.images) == 0 {
		return nil, nil
	}
	p.said = true
	for _, urn := range slices.Sorted(maps.Keys(p.images)) {
		pi := p.images[urn]
		refs = append(refs, pi.sourceRef)
		if pi.held != nil {
			held = append(held, *pi.held)
		}
	}
	sizes := make(map[string]int64, len(measured))
	for key, size := range measured {
		sizes[key] = int64(size)
	}
	held = append(held, inventory.Measured("the last measure of the registry usage", sizes)...)
	return refs, held
}

// sayPlan reports on the RegistryUsage at urn, in a preview, what the up sends to the site
// registry (per image and in total, with the time at the link's rate) and holds it against the
// store's free space as last measured (last, and measured what it found held; nil: never) of a
// store of capacityBytes. Nothing when no image of the bundle changes. It never fails the
// preview: `airgap site preview` refuses an update the store cannot hold.
func (s *Server) sayPlan(ctx context.Context, urn string, capacityBytes int64, last *capacity.Usage, measured map[string]float64) {
	refs, held := s.plan.take(measured)
	if refs == nil {
		return
	}
	c := s.config()
	b, _, err := s.bundles.open(c.Bundle, c.TrustedKeys, c.AllowUnsigned)
	if err != nil {
		return // the images' own checks name the bundle's problem
	}
	inv, err := inventory.Of(held)
	if err != nil {
		s.warn(ctx, urn, "cannot say what the up will send: the images' inventories: %v", err)
		return
	}
	est, err := transfer.Of(inv, b, refs)
	if err != nil {
		s.warn(ctx, urn, "cannot say what the up will send: %v", err)
		return
	}
	if !slices.ContainsFunc(est.Images, func(img transfer.Image) bool { return !img.Unchanged }) {
		return
	}
	link := int64(c.LinkBytesPerSecond)
	rate, from := siteconfig.Images{LinkBytesPerSecond: &link, MaxBytesPerSecond: int64(c.MaxBytesPerSecond)}.UpRate()
	var out bytes.Buffer
	if err := est.Write(&out, rate, from); err != nil {
		return
	}
	s.info(ctx, urn, "%s", bytes.TrimRight(out.Bytes(), "\n"))
	switch verdict, why := capacity.Check(est.Bytes, last, capacityBytes); verdict {
	case capacity.TooLarge, capacity.Tight:
		s.warn(ctx, urn, "the site registry's store: %s", why)
	case capacity.Fits:
		s.info(ctx, urn, "the site registry's store: %s", why)
	}
}
