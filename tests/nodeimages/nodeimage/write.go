package nodeimage

import (
	"fmt"

	"airgap-site/bundle"
)

// WriteBundle builds the images of specs and adds them to the bundle at dir (created if
// needed; other images already there are kept). The bundle is closed only when every image
// is in, so a failed run never leaves a bundle.json claiming a complete set.
func WriteBundle(dir string, specs []Spec) ([]bundle.Entry, error) {
	w, err := bundle.Create(dir)
	if err != nil {
		return nil, err
	}
	entries := make([]bundle.Entry, 0, len(specs))
	for _, s := range specs {
		img, err := Image(s)
		if err != nil {
			return nil, err
		}
		e, err := w.AddImage(s.Ref, img)
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", s.Ref, err)
		}
		entries = append(entries, e)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return entries, nil
}
