package site

import (
	"strings"
	"testing"
)

// TestImagePinPatch: the registry image (and MinIO's on a minio-tenant site) is pinned by the
// name the CRI gives it (repository@digest) for the nodes' Talos version; Talos v1.7 gets no
// patch (its containerd cannot pin).
func TestImagePinPatch(t *testing.T) {
	c := testConfig(t, `{"kind":"external","endpoint":"http://10.20.0.5:9000","bucket":"registry"}`)
	c.Talos.Version = "v1.12.11"
	patch, err := ImagePinPatch(c, registryRef, c.ObjectStore)
	if err != nil {
		t.Fatal(err)
	}
	want := `airgap-site-registry = "docker.io/library/registry@sha256:1111111111111111111111111111111111111111111111111111111111111111"`
	if !strings.Contains(patch, want) || strings.Contains(patch, "minio") || !strings.Contains(patch, "/etc/cri/conf.d/20-customization.part") {
		t.Errorf("pin patch:\n%s", patch)
	}
	tenant := testConfig(t, `{"kind":"minio-tenant","bucket":"registry","tenant":{"image":"`+minioRef+`"}}`)
	patch, err = ImagePinPatch(tenant, registryRef, tenant.ObjectStore)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(patch, `airgap-site-minio = "quay.io/minio/minio@sha256:2222`) {
		t.Errorf("a minio-tenant site does not pin MinIO's image:\n%s", patch)
	}
	c.Talos.Version = "v1.7.7"
	if patch, err := ImagePinPatch(c, registryRef, c.ObjectStore); err != nil || patch != "" {
		t.Errorf("Talos v1.7: %q, %v; want no patch", patch, err)
	}
	c.Talos.Version = "v1.12.11"
	if _, err := ImagePinPatch(c, "docker.io/library/registry:3.1.2", c.ObjectStore); err == nil {
		t.Errorf("a registry image without a digest was pinned")
	}
}
