package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"airgap-site/provider/contract"
)

// Output names in an Image's state (contract.ImageOutputs).
const (
	repositoryOutput = "repository"
	tagOutput        = "tag"
	digestOutput     = "digest"
	inventoryOutput  = "inventory"
	// heldOutput is RegistryUsage's (contract.RegistryUsageOutputs.Held).
	heldOutput = "held"
)

// Blob is a manifest or blob the site registry holds because of the stack.
type Blob struct {
	Digest v1.Hash
	Size   int64
	// Repositories of the site registry that hold it (docker.io/library/nginx), sorted.
	Repositories []string
}

// Image is an Image resource of the state.
type Image struct {
	// Name is the resource's name (the last part of its URN).
	Name string
	// Repository and Tag are its target in the site registry ("" when the state has none).
	Repository, Tag string
	// Digest is the image's digest the tag named at the last up or refresh ("" when the state
	// has none): what the tag names in the site registry.
	Digest string
}

func (i Image) String() string {
	if i.Repository != "" && i.Tag != "" {
		return i.Repository + ":" + i.Tag
	}
	return i.Name
}

// Inventory is what a stack's state says its site registry holds.
type Inventory struct {
	blobs   map[v1.Hash]*Blob
	images  []Image
	without []Image
}

// Blob returns what the inventory knows of the digest h.
func (inv *Inventory) Blob(h v1.Hash) (Blob, bool) {
	b, ok := inv.blobs[h]
	if !ok {
		return Blob{}, false
	}
	out := *b
	out.Repositories = slices.Clone(b.Repositories)
	return out, true
}

// Blobs lists every digest, sorted.
func (inv *Inventory) Blobs() []Blob {
	out := make([]Blob, 0, len(inv.blobs))
	for _, h := range slices.SortedFunc(maps.Keys(inv.blobs), func(a, b v1.Hash) int { return strings.Compare(a.String(), b.String()) }) {
		b, _ := inv.Blob(h)
		out = append(out, b)
	}
	return out
}

// Bytes is the size of every digest, each once.
func (inv *Inventory) Bytes() int64 {
	var n int64
	for _, b := range inv.blobs {
		n += b.Size
	}
	return n
}

// Images are the Image resources whose inventory was read, in state order.
func (inv *Inventory) Images() []Image { return slices.Clone(inv.images) }

// Without are the Image resources whose state predates inventories (written by a provider
// before 0.5.0): nothing is known of what they hold, in state order.
func (inv *Inventory) Without() []Image { return slices.Clone(inv.without) }

// ReadFile reads the inventory of a `pulumi stack export` written to path.
func ReadFile(path string) (*Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading stack state: %w", err)
	}
	defer f.Close()
	inv, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// maxExport bounds what Parse reads: a site's state is a few MB at most.
const maxExport = 256 << 20

// export is the part of `pulumi stack export` read here.
type export struct {
	Version    int `json:"version"`
	Deployment *struct {
		Resources []resource `json:"resources"`
	} `json:"deployment"`
}

type resource struct {
	URN     string                     `json:"urn"`
	Type    string                     `json:"type"`
	Delete  bool                       `json:"delete"`
	Outputs map[string]json.RawMessage `json:"outputs"`
}

// secretSig marks a secret value in Pulumi's state.
const secretSig = "4dabf18193072939515e22adb298388d"

// Parse reads the inventory of a stack's state, as `pulumi stack export` prints it (with or
// without --show-secrets: nothing read here is secret).
func Parse(r io.Reader) (*Inventory, error) {
	raw, err := io.ReadAll(io.LimitReader(r, maxExport+1))
	if err != nil {
		return nil, fmt.Errorf("reading stack state: %w", err)
	}
	if len(raw) > maxExport {
		return nil, fmt.Errorf("reading stack state: larger than %d bytes", maxExport)
	}
	var ex export
	if err := json.Unmarshal(raw, &ex); err != nil {
		return nil, fmt.Errorf("parsing stack state: %w", err)
	}
	if ex.Deployment == nil {
		return nil, errors.New("parsing stack state: no deployment: not the output of `pulumi stack export`")
	}
	if ex.Version > 3 {
		return nil, fmt.Errorf("parsing stack state: deployment version %d, this airgap reads up to 3 (a newer pulumi wrote it)", ex.Version)
	}
	inv := &Inventory{blobs: map[v1.Hash]*Blob{}}
	from := map[v1.Hash]string{} // the first resource that recorded each digest's size
	for _, res := range ex.Deployment.Resources {
		var err error
		switch {
		case res.Delete:
		case res.Type == contract.ImageToken:
			err = inv.add(res, from)
		case res.Type == contract.RegistryUsageToken:
			err = inv.addMeasured(res, from)
		}
		if err != nil {
			return nil, fmt.Errorf("parsing stack state: resource %s: %w", res.URN, err)
		}
	}
	inv.sortRepositories()
	return inv, nil
}

// add records what the Image resource res of an exported state holds.
func (inv *Inventory) add(res resource, from map[v1.Hash]string) error {
	rec := Record{URN: res.URN}
	var err error
	if rec.Repository, err = stringOutput(res.Outputs, repositoryOutput); err != nil {
		return err
	}
	if rec.Tag, err = stringOutput(res.Outputs, tagOutput); err != nil {
		return err
	}
	if rec.Digest, err = stringOutput(res.Outputs, digestOutput); err != nil {
		return err
	}
	rawInv, ok := res.Outputs[inventoryOutput]
	if !ok || string(rawInv) == "null" {
		return inv.record(rec, from)
	}
	var sizes map[string]json.RawMessage
	if err := json.Unmarshal(rawInv, &sizes); err != nil {
		return fmt.Errorf("outputs.%s: want an object of digest: size: %w", inventoryOutput, err)
	}
	if _, secret := sizes[secretSig]; secret {
		return fmt.Errorf("outputs.%s: is a secret; it holds digests and sizes only", inventoryOutput)
	}
	rec.Inventory = map[string]int64{}
	for d, raw := range sizes {
		if rec.Inventory[d], err = sizeOf(raw); err != nil {
			return fmt.Errorf("outputs.%s[%q]: %w", inventoryOutput, d, err)
		}
	}
	return inv.record(rec, from)
}

// addMeasured records what the last measure of the registry usage res found each repository
// links (its output held).
func (inv *Inventory) addMeasured(res resource, from map[v1.Hash]string) error {
	raw, ok := res.Outputs[heldOutput]
	if !ok || string(raw) == "null" {
		return nil // a state of provider 0.7, or never measured
	}
	var sizes map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sizes); err != nil {
		return fmt.Errorf("outputs.%s: want an object of repository@digest: size: %w", heldOutput, err)
	}
	held := make(map[string]int64, len(sizes))
	for key, v := range sizes {
		n, err := sizeOf(v)
		if err != nil {
			return fmt.Errorf("outputs.%s[%q]: %w", heldOutput, key, err)
		}
		held[key] = n
	}
	for _, rec := range Measured(res.URN, held) {
		if err := inv.record(rec, from); err != nil {
			return err
		}
	}
	return nil
}

// Measured are the records of what a measure of the registry found each repository links
// (contract.RegistryUsageOutputs.Held: repository@digest -> size, the kept versions'
// included), one per repository. urn names the measure in errors.
func Measured(urn string, held map[string]int64) []Record {
	byRepo := map[string]map[string]int64{}
	for key, size := range held {
		repo, d, ok := strings.Cut(key, "@")
		if !ok {
			continue
		}
		if byRepo[repo] == nil {
			byRepo[repo] = map[string]int64{}
		}
		byRepo[repo][d] = size
	}
	var out []Record
	for _, repo := range slices.Sorted(maps.Keys(byRepo)) {
		out = append(out, Record{URN: urn, Repository: repo, Inventory: byRepo[repo], Measured: true})
	}
	return out
}

// Record is what one Image resource holds, as its outputs say, or what one repository links by
// the last measure (Measured).
type Record struct {
	// URN is the resource's.
	URN string
	// Repository, Tag and Digest are its outputs of those names.
	Repository, Tag, Digest string
	// Inventory is its output inventory: digest -> size; nil when its state predates
	// inventories.
	Inventory map[string]int64
	// Measured: the record is a measure's (Measured), not an image's: its blobs count as held,
	// it is no image, and its sizes never override an image's.
	Measured bool
}

// Of is the inventory of the Image resources records, for whoever holds their outputs rather
// than an exported state (the provider, during a preview).
func Of(records []Record) (*Inventory, error) {
	inv := &Inventory{blobs: map[v1.Hash]*Blob{}}
	from := map[v1.Hash]string{}
	for _, rec := range records {
		if err := inv.record(rec, from); err != nil {
			return nil, fmt.Errorf("resource %s: %w", rec.URN, err)
		}
	}
	inv.sortRepositories()
	return inv, nil
}

// record adds what rec holds; from is the first resource that recorded each digest's size.
func (inv *Inventory) record(rec Record, from map[v1.Hash]string) error {
	img := Image{Name: rec.URN, Repository: rec.Repository, Tag: rec.Tag, Digest: rec.Digest}
	if i := strings.LastIndex(rec.URN, "::"); i >= 0 {
		img.Name = rec.URN[i+len("::"):]
	}
	if rec.Inventory == nil {
		inv.without = append(inv.without, img)
		return nil
	}
	if img.Repository == "" {
		return fmt.Errorf("outputs.%s: missing, and outputs.%s names no repository to hold it", repositoryOutput, inventoryOutput)
	}
	for _, d := range slices.Sorted(maps.Keys(rec.Inventory)) {
		h, err := v1.NewHash(d)
		if err != nil {
			return fmt.Errorf("outputs.%s: key %q: %w", inventoryOutput, d, err)
		}
		size := rec.Inventory[d]
		if size < 0 {
			return fmt.Errorf("outputs.%s[%q]: want a size in bytes, not %d", inventoryOutput, d, size)
		}
		b, ok := inv.blobs[h]
		if !ok {
			b = &Blob{Digest: h, Size: size}
			inv.blobs[h] = b
			from[h] = rec.URN
		} else if b.Size != size {
			if rec.Measured {
				continue // a measure never overrides what an image recorded
			}
			return fmt.Errorf("outputs.%s[%q]: %d bytes, but %s records %d", inventoryOutput, d, size, from[h], b.Size)
		}
		b.Repositories = append(b.Repositories, img.Repository)
	}
	if !rec.Measured {
		inv.images = append(inv.images, img)
	}
	return nil
}

// sortRepositories sorts each digest's repositories, each once.
func (inv *Inventory) sortRepositories() {
	for _, b := range inv.blobs {
		slices.Sort(b.Repositories)
		b.Repositories = slices.Compact(b.Repositories)
	}
}

// stringOutput is the string output name; "" when absent.
func stringOutput(outputs map[string]json.RawMessage, name string) (string, error) {
	raw, ok := outputs[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("outputs.%s: want a string: %w", name, err)
	}
	return s, nil
}

// sizeOf is a size in bytes: a whole, non-negative JSON number (Pulumi keeps numbers as
// float64, exact up to 2^53 bytes).
func sizeOf(raw json.RawMessage) (int64, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, fmt.Errorf("want a size in bytes: %w", err)
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want a size in bytes, not %s", raw)
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f != math.Trunc(f) || f > 1<<53 {
		return 0, fmt.Errorf("want a size in bytes, not %s", n)
	}
	return int64(f), nil
}
