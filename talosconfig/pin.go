package talosconfig

import (
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Keeping the images a site needs to start its own registry on every node, whatever kubelet's
// image garbage collection removes. Kubelet never removes an image the runtime reports as
// pinned; containerd pins its sandbox (pause) image, and from 2.0 every image named in its CRI
// pinned_images table (label io.cri-containerd.pinned, set when the image is pulled).
//
// What each Talos version offers (looked up in Talos' sources and docs):
//   - v1.7 ships containerd 1.7: no pinned_images; only the sandbox image is pinned. No
//     patch is rendered (ErrNoPinnedImages); the Image Cache does not exist before v1.9 either.
//   - v1.8 to v1.13 ship containerd 2.0 to 2.2 and merge /etc/cri/conf.d/*.part into the CRI
//     config; the user's part is /etc/cri/conf.d/20-customization.part, created through
//     machine.files (op: create), which Talos applies at boot: a node takes it on its next
//     reboot (talos.applyMode reboot or staged).
//   - v1.14 (not rendered by this release) replaces that file with CRICustomizationConfig
//     documents, applied by restarting CRI.
const (
	// FirstPinnedImagesMinor is the first Talos minor whose containerd (2.0) takes CRI
	// pinned_images.
	FirstPinnedImagesMinor = 8
	// CRICustomizationPath is the CRI customization part Talos v1.8 to v1.13 merge into the
	// CRI config.
	CRICustomizationPath = "/etc/cri/conf.d/20-customization.part"
	// PinPrefix starts the key of every pinned image this project writes, so that it never
	// replaces containerd's own sandbox key or a user's.
	PinPrefix = "airgap-site-"
)

// ErrNoPinnedImages is returned for a Talos version whose containerd cannot pin images.
var ErrNoPinnedImages = errors.New("the containerd of this Talos version has no CRI pinned_images (Talos v1.8 and later have): only the sandbox image is pinned, and kubelet's image garbage collection may remove the registry image (see docs/RUNBOOK.md)")

// Pin is one image kept on every node.
type Pin struct {
	// Name ends the key in pinned_images (after PinPrefix), e.g. registry.
	Name string
	// Image is the reference the pods name, with its digest.
	Image string
}

// PinnedRef is the name containerd's CRI stores a pulled image under, which pinned_images
// must match exactly: the repository and digest of a digest reference (a tag beside the
// digest is dropped, as the CRI does). The reference must name its registry and carry a
// digest: a tag alone could move to an image that is not pinned.
func PinnedRef(ref string) (string, error) {
	repo, digest, ok := strings.Cut(ref, "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
		return "", fmt.Errorf("pinning %q: not a reference with a sha256 digest (registry/repository[:tag]@sha256:<digest>)", ref)
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	domain, _, found := strings.Cut(repo, "/")
	if !found || !strings.ContainsAny(domain, ".:") && domain != "localhost" {
		return "", fmt.Errorf("pinning %q: the reference must start with its registry (docker.io/library/registry@sha256:...), as the CRI names the image", ref)
	}
	return repo + "@" + digest, nil
}

// CRICustomizationPart is the TOML part that pins the images: a pinned_images table of the
// containerd 2 CRI images plugin, keys PinPrefix+Name in order. Talos merges it key by key
// with its own CRI config, so containerd's sandbox key stays.
func CRICustomizationPart(pins []Pin) (string, error) {
	if len(pins) == 0 {
		return "", errors.New("no image to pin")
	}
	var b strings.Builder
	b.WriteString("# Written by airgap-site: the images a node needs to start the site registry with no laptop.\n")
	b.WriteString("[plugins]\n  [plugins.\"io.containerd.cri.v1.images\"]\n    [plugins.\"io.containerd.cri.v1.images\".pinned_images]\n")
	seen := map[string]bool{}
	for _, p := range pins {
		if p.Name == "" || strings.ContainsAny(p.Name, " \"'.=[]\n") {
			return "", fmt.Errorf("pin name %q: use letters, digits and dashes", p.Name)
		}
		if seen[p.Name] {
			return "", fmt.Errorf("pin name %q is used twice", p.Name)
		}
		seen[p.Name] = true
		ref, err := PinnedRef(p.Image)
		if err != nil {
			return "", fmt.Errorf("pin %s: %w", p.Name, err)
		}
		fmt.Fprintf(&b, "      %s%s = %q\n", PinPrefix, p.Name, ref)
	}
	return b.String(), nil
}

// pinFile is one machine.files entry.
type pinFile struct {
	Content     string `json:"content"`
	Permissions int    `json:"permissions"`
	Path        string `json:"path"`
	Op          string `json:"op"`
}

type pinPatch struct {
	Machine struct {
		Files []pinFile `json:"files"`
	} `json:"machine"`
}

// PinPatch is the machine config patch that pins the images on the nodes of a Talos version:
// machine.files creating CRICustomizationPath (v1.8 to v1.13). A version whose containerd
// cannot pin images gets ErrNoPinnedImages.
func PinPatch(pins []Pin, version string) ([]byte, error) {
	minor, err := CheckVersion(version)
	if err != nil {
		return nil, fmt.Errorf("rendering the image pin patch: %w", err)
	}
	if minor < FirstPinnedImagesMinor {
		return nil, fmt.Errorf("Talos %s: %w", version, ErrNoPinnedImages)
	}
	part, err := CRICustomizationPart(pins)
	if err != nil {
		return nil, fmt.Errorf("rendering the image pin patch: %w", err)
	}
	var p pinPatch
	p.Machine.Files = []pinFile{{Content: part, Permissions: 0o644, Path: CRICustomizationPath, Op: "create"}}
	return yaml.Marshal(p)
}

// ParsePinPatch reads the CRI customization part back from a rendered pin patch, as a node
// writes it, and the references it pins in key order.
func ParsePinPatch(patch []byte) (part string, pinned []string, err error) {
	var p pinPatch
	if err := yaml.UnmarshalStrict(patch, &p); err != nil {
		return "", nil, fmt.Errorf("parsing the image pin patch: %w", err)
	}
	for _, f := range p.Machine.Files {
		if f.Path != CRICustomizationPath {
			continue
		}
		for _, line := range strings.Split(f.Content, "\n") {
			key, value, ok := strings.Cut(strings.TrimSpace(line), " = ")
			if ok && strings.HasPrefix(key, PinPrefix) {
				pinned = append(pinned, strings.Trim(value, `"`))
			}
		}
		return f.Content, pinned, nil
	}
	return "", nil, fmt.Errorf("the image pin patch writes no %s", CRICustomizationPath)
}

// PinsSupported reports whether the nodes of a Talos version can pin images.
func PinsSupported(version string) bool {
	minor, err := CheckVersion(version)
	return err == nil && minor >= FirstPinnedImagesMinor
}
