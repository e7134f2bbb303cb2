package retention

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Version is one version of an image in the site registry: where it was (repository and tag)
// and what (the manifest's digest).
type Version struct {
	Repository, Tag, Digest string
}

// String is the version's form in the state and the stack's outputs: repository:tag@digest.
func (v Version) String() string { return Label(v.Repository, v.Tag) + "@" + v.Digest }

// ParseVersion reads Version.String's form.
func ParseVersion(s string) (Version, error) {
	label, digest, ok := strings.Cut(s, "@")
	if !ok || digest == "" {
		return Version{}, fmt.Errorf("parsing version %q: want repository:tag@digest", s)
	}
	repo, tag, err := SplitLabel(label)
	if err != nil {
		return Version{}, fmt.Errorf("parsing version %q: %w", s, err)
	}
	return Version{Repository: repo, Tag: tag, Digest: digest}, nil
}

// Label is an image's name in the site registry, repository:tag: the key of the image set
// Retire takes (SplitLabel is its inverse).
func Label(repository, tag string) string { return repository + ":" + tag }

// SplitLabel splits repository:tag at the last colon: a tag holds none, a repository may
// (a registry host with a port).
func SplitLabel(label string) (repository, tag string, err error) {
	i := strings.LastIndex(label, ":")
	if i <= 0 || i == len(label)-1 || strings.Contains(label[i+1:], "/") {
		return "", "", fmt.Errorf("parsing image %q: want repository:tag", label)
	}
	return label[:i], label[i+1:], nil
}

// KeptTag is the tag a previous version is kept under in its repository. It is not the
// mirror scheme's sha256-<hex> (the tag a digest-only reference is stored under), so a kept
// version never answers for a reference a node pulls.
func KeptTag(digest string) string { return "kept-" + strings.Replace(digest, ":", "-", 1) }

// Plan is what an update of the site's image set does to the registry.
type Plan struct {
	// Previous are the versions kept after the update, newest first.
	Previous []Version
	// Keep are the versions that left the image set in this update and are kept: each gets
	// its KeptTag before the tag it had is deleted.
	Keep []Version
	// Drop are the versions beyond the window, to delete by digest.
	Drop []Version
}

// Retire plans the update of the image set from old to now (repository:tag -> digest), with
// previous the versions kept before it (newest first) and keep versions kept per repository.
func Retire(old, now map[string]string, previous []Version, keep int) (Plan, error) {
	current, err := currentDigests(now)
	if err != nil {
		return Plan{}, err
	}
	left, err := leaving(old, now)
	if err != nil {
		return Plan{}, err
	}
	var p Plan
	perRepo := map[string]int{}
	seen := map[Version]bool{}
	isLeaving := map[Version]bool{}
	for _, v := range left {
		isLeaving[v] = true
	}
	for _, v := range append(left, previous...) {
		id := Version{Repository: v.Repository, Digest: v.Digest}
		if current[id] || seen[id] {
			// In use again (a rollback, or another tag holds it), or listed already.
			continue
		}
		seen[id] = true
		if perRepo[v.Repository] >= keep {
			p.Drop = append(p.Drop, v)
			continue
		}
		perRepo[v.Repository]++
		p.Previous = append(p.Previous, v)
		if isLeaving[v] {
			p.Keep = append(p.Keep, v)
		}
	}
	return p, nil
}

// Changes reports whether going from old to now retires a version or brings a previous one
// back: adding images alone changes nothing the retention keeps.
func Changes(old, now map[string]string, previous []Version) (bool, error) {
	left, err := leaving(old, now)
	if err != nil || len(left) > 0 {
		return len(left) > 0, err
	}
	current, err := currentDigests(now)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(previous, func(v Version) bool {
		return current[Version{Repository: v.Repository, Digest: v.Digest}]
	}), nil
}

// leaving are the versions of old that now does not hold: a tag gone or moved, in label order.
func leaving(old, now map[string]string) ([]Version, error) {
	var out []Version
	for _, label := range slices.Sorted(maps.Keys(old)) {
		if now[label] == old[label] {
			continue
		}
		repo, tag, err := SplitLabel(label)
		if err != nil {
			return nil, err
		}
		out = append(out, Version{Repository: repo, Tag: tag, Digest: old[label]})
	}
	return out, nil
}

// currentDigests are the repository and digest pairs the image set holds.
func currentDigests(now map[string]string) (map[Version]bool, error) {
	out := map[Version]bool{}
	for label, digest := range now {
		repo, _, err := SplitLabel(label)
		if err != nil {
			return nil, err
		}
		out[Version{Repository: repo, Digest: digest}] = true
	}
	return out, nil
}

// Strings are versions in their String form.
func Strings(vs []Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

// Parse reads versions in their String form.
func Parse(ss []string) ([]Version, error) {
	out := make([]Version, 0, len(ss))
	for _, s := range ss {
		v, err := ParseVersion(s)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
