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
}

// imageItem is one images.yaml entry: "ref" or {image: ref, build: {...}}.
type imageItem struct {
	Image string          `json:"image"`
	Build json.RawMessage `json:"build,omitempty"`
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
// {image: ref, build: {...}} objects. Each reference is checked and normalized (mirror.Normalize);
// duplicates are dropped.
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
	list := &List{}
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
		if it.hasBuild() {
			list.Build = append(list.Build, norm)
			continue
		}
		if !seen[norm] {
			seen[norm] = true
			list.Refs = append(list.Refs, norm)
		}
	}
	return list, nil
}
