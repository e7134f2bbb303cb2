package site

import (
	"fmt"

	"airgap-site/siteconfig"
	"airgap-site/talosconfig"
)

// ImagePinPatch is the stack's talosImagePinPatch output: the machine config patch that keeps
// the images the site needs to start its own registry (the registry image, and MinIO's on a
// minio-tenant site, by the digests the pods name) on every node through kubelet's image
// garbage collection. It is "" for a Talos version whose containerd cannot pin images (v1.7;
// see talosconfig.PinPatch and docs/RUNBOOK.md). The pause image is containerd's sandbox
// image, which containerd pins itself.
func ImagePinPatch(c *siteconfig.Config, registryImage string, objectStore siteconfig.ObjectStore) (string, error) {
	if !talosconfig.PinsSupported(c.Talos.Version) {
		return "", nil
	}
	pins := []talosconfig.Pin{{Name: "registry", Image: registryImage}}
	if t := objectStore.Tenant; t != nil && objectStore.Kind == siteconfig.ObjectStoreMinioTenant {
		pins = append(pins, talosconfig.Pin{Name: "minio", Image: t.Image})
	}
	patch, err := talosconfig.PinPatch(pins, c.Talos.Version)
	if err != nil {
		return "", fmt.Errorf("talos.version %s: %w", c.Talos.Version, err)
	}
	return string(patch), nil
}
