package pull

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"airgap-site/mirror"
)

// List is what an images file (images.yaml) names: the references to pull, and the entries
// skipped because they are built at the site.
type List struct {
	Refs  []string
	Build []string
	// Keys are the cosign public keys that must have signed an image, by reference: the
	// path as the file writes it, relative to the images file (LoadKeys reads them).
	Keys map[string]string
}

// imageItem is one images.yaml entry: "ref" or {image: ref, build: {...}} or
// {image: ref, key: cosign.pub}.
type imageItem struct {
	Image string          `json:"image"`
	Build json.RawMessage `json:"build,omitempty"`
	Key   string          `json:"key,omitempty"`
}

func (it *imageItem) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &it.Image); err == nil {
		return nil
	}
	type plain imageItem
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt key would otherwise drop an image silently
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*it = imageItem(p)
	return nil
}

func (it imageItem) hasBuild() bool {
	b := bytes.TrimSpace(it.Build)
	return len(b) > 0 && !bytes.Equal(b, []byte("null"))
}

// ParseList reads an images file: a YAML list, or {images: [...]}, of references or
// {image: ref, build: {...}} or {image: ref, key: path} objects. Each reference is checked and
// normalized (mirror.Normalize); duplicates are dropped, but not a second, different key.
func ParseList(data []byte) (*List, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parsing images: %w", err)
	}
	js = bytes.TrimSpace(js)
	var items []imageItem
	switch {
	case len(js) == 0 || bytes.Equal(js, []byte("null")): // an empty file
	case bytes.HasPrefix(js, []byte("[")):
		err = json.Unmarshal(js, &items)
	case bytes.HasPrefix(js, []byte("{")):
		var doc struct {
			Images []imageItem `json:"images"`
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		err = dec.Decode(&doc)
		items = doc.Images
	default:
		err = errors.New("want a list of images or {images: [...]}")
	}
	if err != nil {
		return nil, fmt.Errorf("parsing images: %w", err)
	}
	if len(items) == 0 {
		return nil, errors.New("parsing images: no images listed")
	}
	list := &List{Keys: map[string]string{}}
	seen := map[string]bool{}
	for i, it := range items {
		ref := strings.TrimSpace(it.Image)
		if ref == "" {
			return nil, fmt.Errorf("parsing images: entry %d: image is required", i+1)
		}
		norm, err := mirror.Normalize(ref)
		if err != nil {
			return nil, fmt.Errorf("parsing images: entry %d: %w", i+1, err)
		}
		key := strings.TrimSpace(it.Key)
		if it.hasBuild() {
			if key != "" {
				// Nothing is pulled, so there is no vendor signature to check.
				return nil, fmt.Errorf("parsing images: entry %d: %s is built at the site: it cannot have a key", i+1, norm)
			}
			list.Build = append(list.Build, norm)
			continue
		}
		if key != "" {
			if had := list.Keys[norm]; had != "" && had != key {
				return nil, fmt.Errorf("parsing images: entry %d: %s is listed with key %s and with key %s", i+1, norm, had, key)
			}
			list.Keys[norm] = key
		}
		if !seen[norm] {
			seen[norm] = true
			list.Refs = append(list.Refs, norm)
		}
	}
	return list, nil
}
