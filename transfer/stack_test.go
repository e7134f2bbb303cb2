package transfer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"airgap-site/internal/bundletest"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
	"airgap-site/transfer"
)

// exported is a stack's state as the Automation API exports it.
type exported struct {
	dep   apitype.UntypedDeployment
	err   error
	calls int
}

func (e *exported) Export(context.Context) (apitype.UntypedDeployment, error) {
	e.calls++
	return e.dep, e.err
}

// stackOf is the export of a state that holds refs as an up of the bundle in dir left them.
func stackOf(t *testing.T, dir string, refs ...string) *exported {
	t.Helper()
	var resources []map[string]any
	b := bundletest.Open(t, dir)
	for _, img := range deployedImages(t, b, refs...) {
		repo, tag, _ := strings.Cut(img.ref, ":")
		inv := map[string]float64{}
		for h, n := range img.inventory {
			inv[h.String()] = float64(n)
		}
		resources = append(resources, map[string]any{"urn": "urn:x::" + img.ref, "type": "airgap:index:Image",
			"outputs": map[string]any{"repository": repo, "tag": tag, "digest": img.digest.String(), "inventory": inv}})
	}
	raw, err := json.Marshal(map[string]any{"resources": resources})
	if err != nil {
		t.Fatal(err)
	}
	return &exported{dep: apitype.UntypedDeployment{Version: 3, Deployment: raw}}
}

// siteWithBundle is the fixture site taking nginx and app from the signed bundle at ./bundle
// of a project, and building one image at the site.
func siteWithBundle(t *testing.T) (cfg *siteconfig.Config, project string, s *site) {
	t.Helper()
	project = t.TempDir()
	s = newSite(t)
	if err := os.Rename(s.dir, filepath.Join(project, "bundle")); err != nil {
		t.Fatal(err)
	}
	s.dir = filepath.Join(project, "bundle")
	pub := bundletest.Sign(t, s.dir)
	if err := os.WriteFile(filepath.Join(project, "site.pub"), []byte(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	src := siteconfigtest.Source(siteconfigtest.ThreeNodes)
	src.Values[siteconfig.KeyImages] = `{"bundle":"./bundle","trustedKeys":["site.pub"],"docker":{"host":"unix:///var/run/docker.sock"},
		"list":["nginx:1.27",{"image":"ghcr.io/org/built:1","build":{"context":"./app"}},"ghcr.io/org/app:2"]}`
	return siteconfigtest.Load(t, src), project, s
}

// TestForStack: the bundled images of the list, from the verified bundle and the exported
// state; a stack never deployed sends everything; without bundled images nothing is read.
func TestForStack(t *testing.T) {
	cfg, project, s := siteWithBundle(t)
	ctx := context.Background()
	never := &exported{dep: apitype.UntypedDeployment{Version: 3}}
	est, err := transfer.ForStack(ctx, never, cfg, project)
	if err != nil {
		t.Fatal(err)
	}
	if got := refsOf(est.Images); strings.Join(got, ",") != nginx+","+app {
		t.Errorf("images %v, want the bundled ones in list order", got)
	}
	if want := own(t, s.nginx, s.base, s.top1) + own(t, s.app, s.top2); est.Bytes != want {
		t.Errorf("never deployed: %d bytes, want %d", est.Bytes, want)
	}
	after, err := transfer.ForStack(ctx, stackOf(t, s.dir, nginx, app), cfg, project)
	if err != nil || after.Bytes != 0 {
		t.Errorf("after the up: %+v, %v; want 0 bytes", after, err)
	}
	if _, err := transfer.ForStack(ctx, &exported{err: errors.New("incorrect passphrase")}, cfg, project); err == nil || !strings.Contains(err.Error(), "incorrect passphrase") {
		t.Errorf("export failing: err = %v", err)
	}
	// A bundle no trusted key signed is not read.
	other := *cfg
	other.Images.TrustedKeys = []string{signOther(t)}
	if _, err := transfer.ForStack(ctx, never, &other, project); err == nil || !strings.Contains(err.Error(), "images.bundle") {
		t.Errorf("a bundle signed by another key: err = %v, want one naming images.bundle", err)
	}
	none := *cfg
	none.Images.List = nil
	if est, err := transfer.ForStack(ctx, never, &none, project); est != nil || err != nil || never.calls != 1 {
		t.Errorf("no bundled image: %+v, %v (%d exports)", est, err, never.calls)
	}
}

// signOther is the public key of another signer (PEM).
func signOther(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bundletest.Write(t, dir)
	return bundletest.Sign(t, dir)
}
