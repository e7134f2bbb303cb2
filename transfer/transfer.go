package transfer

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"airgap-site/bundle"
	"airgap-site/capacity"
	"airgap-site/inventory"
	"airgap-site/mirror"
	"airgap-site/provider/imagesync"
)

// Image is what the up sends for one image.
type Image struct {
	// Reference is the image's normalized original reference; Repository and Tag its target in
	// the site registry; Digest its digest in the bundle.
	Reference, Repository, Tag string
	Digest                     v1.Hash
	// Bytes is what the up sends for it: manifests its repository lacks, blobs the site holds
	// nowhere and no image before it in this up sends. Sent counts them.
	Bytes int64
	Sent  int
	// Total is the size of every manifest and blob of it and of what is attached to it, each
	// once: what its repository holds once copied.
	Total int64
	// Shared is the size of the blobs another image of this up sends first; this one mounts
	// them.
	Shared int64
	// Unchanged: its tag already names Digest in the site registry; the up does not copy it.
	Unchanged bool
	// NoInventory: its state predates inventories (provider before 0.5.0) and its digest
	// changes, so it is counted as if its repository held nothing (an upper bound).
	NoInventory bool
	// Missing are layers a delta bundle does not carry because it assumes the site holds them,
	// which the state does not record: the up fails for this image unless the site has them.
	Missing []bundle.AssumedBlob
}

// Estimate is what the up sends, image by image.
type Estimate struct {
	// Images are in the order asked for.
	Images []Image
	// Bytes is their total.
	Bytes int64
	// Without are the images of the state whose state predates inventories (provider before
	// 0.5.0), as repository:tag: what they hold is not known, so the estimate is an upper
	// bound until a refresh records it.
	Without []string
	// Usage is what the site registry's store held when last measured (from the state; nil
	// when the state records none): capacity.Check holds Bytes against it.
	Usage *capacity.Usage
}

// Sending lists the images that send bytes.
func (e *Estimate) Sending() []Image {
	var out []Image
	for _, img := range e.Images {
		if img.Bytes > 0 {
			out = append(out, img)
		}
	}
	return out
}

// Of estimates what an up sends to copy the images refs (original references, each in the
// bundle b), in that order, to a site registry that holds what site records (nil: nothing,
// a stack never deployed). It reads the bundle's manifests only, never a layer.
func Of(site *inventory.Inventory, b *bundle.Bundle, refs []string) (*Estimate, error) {
	// Every manifest of the bundle, to tell them from blobs. An entry whose manifests cannot be
	// read is left out, with no error here: the Lookup of an image below checks its own.
	manifests, _ := b.Manifests()
	s := &estimator{site: site, manifests: manifests, sent: map[v1.Hash]bool{}, put: map[string]bool{}}
	est := &Estimate{}
	if site != nil {
		for _, img := range site.Without() {
			est.Without = append(est.Without, img.String())
		}
	}
	for _, ref := range refs {
		img, err := s.image(b, ref)
		if err != nil {
			return nil, fmt.Errorf("estimating the bytes to send for %s: %w", ref, err)
		}
		est.Images = append(est.Images, img)
		est.Bytes += img.Bytes
	}
	return est, nil
}

// estimator remembers what the images before the current one send.
type estimator struct {
	site      *inventory.Inventory
	manifests map[v1.Hash]types.MediaType
	// sent are the blobs an earlier image sends; put the manifests it puts, by
	// repository@digest (a manifest is put per repository: it cannot be mounted).
	sent map[v1.Hash]bool
	put  map[string]bool
}

func (s *estimator) image(b *bundle.Bundle, ref string) (Image, error) {
	t, err := mirror.TargetOf(ref)
	if err != nil {
		return Image{}, err
	}
	img := Image{Reference: t.Reference, Repository: t.Repository, Tag: t.Tag}
	desc, err := b.Lookup(t.Reference)
	if err != nil {
		return Image{}, err
	}
	img.Digest = desc.Digest
	contents, assumed, err := contentsOf(b, t.Reference, desc)
	if err != nil {
		return Image{}, err
	}
	img.Total = contents.Bytes()
	known, tagged := s.stateOf(t)
	if tagged == desc.Digest.String() {
		img.Unchanged = true
		return img, nil
	}
	img.NoInventory = !known
	for _, h := range slices.SortedFunc(maps.Keys(contents), func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) }) {
		size := contents[h]
		if _, ok := s.manifests[h]; ok {
			key := t.Repository + "@" + h.String()
			if s.holds(h, t.Repository) || s.put[key] {
				continue
			}
			s.put[key] = true
			img.Bytes += size
			img.Sent++
			continue
		}
		switch _, atSite := s.blob(h); {
		case atSite:
		case s.sent[h]:
			img.Shared += size
		default:
			if a, ok := assumed[h]; ok {
				img.Missing = append(img.Missing, a)
				continue
			}
			s.sent[h] = true
			img.Bytes += size
			img.Sent++
		}
	}
	return img, nil
}

// stateOf says whether the state records the inventory of the image at t's repository and
// tag, and the digest that tag names ("" when the state has no such image).
func (s *estimator) stateOf(t mirror.Target) (known bool, digest string) {
	if s.site == nil {
		return true, "" // never deployed: the site holds nothing of it
	}
	for _, img := range s.site.Images() {
		if img.Repository == t.Repository && img.Tag == t.Tag {
			return true, img.Digest
		}
	}
	for _, img := range s.site.Without() {
		if img.Repository == t.Repository && img.Tag == t.Tag {
			return false, img.Digest
		}
	}
	// A new image: nothing of it is at the site yet, which is known.
	return true, ""
}

// blob is what the state records of h.
func (s *estimator) blob(h v1.Hash) (inventory.Blob, bool) {
	if s.site == nil {
		return inventory.Blob{}, false
	}
	return s.site.Blob(h)
}

// holds reports whether the state records h in repo.
func (s *estimator) holds(h v1.Hash, repo string) bool {
	b, ok := s.blob(h)
	return ok && slices.Contains(b.Repositories, repo)
}

// contentsOf are the manifests and blobs a copy of ref puts in the site registry (the image's
// and those of what is attached to it), as the provider collects them (imagesync.Contents),
// and the layers the bundle assumes the site holds instead of carrying them.
func contentsOf(b *bundle.Bundle, ref string, desc v1.Descriptor) (imagesync.Sizes, map[v1.Hash]bundle.AssumedBlob, error) {
	src, err := imagesync.BundleSource(b, ref)
	if err != nil {
		return nil, nil, err
	}
	contents, err := imagesync.Contents(src)
	if err != nil {
		return nil, nil, err
	}
	atts, err := imagesync.AttachmentsOf(b, ref, desc.Digest)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range atts {
		c, err := imagesync.Contents(a.Source)
		if err != nil {
			return nil, nil, fmt.Errorf("reading what is attached to it: %w", err)
		}
		contents.Add(c)
	}
	assumed, err := imagesync.AssumedOf(b, ref, desc.Digest)
	if err != nil {
		return nil, nil, err
	}
	return contents, assumed, nil
}

// Duration is how long sending n bytes takes at rate bytes per second; 0 when rate is not
// above 0 (not known).
func Duration(n, rate int64) time.Duration {
	if rate <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(float64(n) / float64(rate) * float64(time.Second))
}
