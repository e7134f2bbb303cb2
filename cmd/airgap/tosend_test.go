package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"airgap-site/internal/bundletest"
	"airgap-site/internal/imagetest"
	"airgap-site/internal/progress"
	"airgap-site/siteconfig"
	"airgap-site/siteconfig/siteconfigtest"
)

// fakeState is a stack's state as the Automation API exports it.
type fakeState struct {
	dep apitype.UntypedDeployment
	err error
}

func (f fakeState) Export(context.Context) (apitype.UntypedDeployment, error) { return f.dep, f.err }

// deployedState is the export of a stack after an up of images (reference -> image).
func deployedState(t *testing.T, images map[string]v1.Image) fakeState {
	t.Helper()
	var resources []map[string]any
	for ref, img := range images {
		repo, tag, _ := strings.Cut(ref, ":")
		resources = append(resources, map[string]any{"urn": "urn:pulumi:osaka::airgap-site::airgap-site:index:Images$airgap:index:Image::osaka-images-" + ref,
			"type": "airgap:index:Image", "outputs": map[string]any{"repository": repo, "tag": tag,
				"digest": imagetest.Digest(t, img).String(), "inventory": imageInventory(t, img)}})
	}
	raw, err := json.Marshal(map[string]any{"resources": resources})
	if err != nil {
		t.Fatal(err)
	}
	return fakeState{dep: apitype.UntypedDeployment{Version: 3, Deployment: raw}}
}

// TestPreviewSaysWhatWillCross: after the engine's preview, `airgap site preview` prints the
// bytes per image and in total from the state and the bundle: everything for a stack never
// deployed (the shared base once), the new image's own bytes after an image is added, with
// the time at images.linkBytesPerSecond; a state it cannot read is a warning.
func TestPreviewSaysWhatWillCross(t *testing.T) {
	project := t.TempDir()
	base, top1, top2 := imagetest.Layer(t, 200_000), imagetest.Layer(t, 30_000), imagetest.Layer(t, 40_000)
	one := imagetest.Image(t, "linux/amd64", base, top1)
	two := imagetest.Image(t, "linux/amd64", base, top2)
	dir := filepath.Join(project, "site-bundle")
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/one:1", Image: one}, bundletest.Entry{Ref: "ghcr.io/org/two:2", Image: two})
	if err := os.WriteFile(filepath.Join(project, "site.pub"), []byte(bundletest.Sign(t, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	src := siteconfigtest.Source(siteconfigtest.ThreeNodes)
	src.Values[siteconfig.KeyImages] = `{"bundle":"./site-bundle","trustedKeys":["site.pub"],"linkBytesPerSecond":25000,
		"list":["one:1","ghcr.io/org/two:2"]}`
	cfg := siteconfigtest.Load(t, src)
	var total int64
	for _, n := range imageInventory(t, one) {
		total += n
	}
	for h, n := range imageInventory(t, two) {
		if h != imagetest.Digest(t, base).String() {
			total += n
		}
	}

	var out, errOut bytes.Buffer
	reportToSend(context.Background(), &out, &errOut, fakeState{dep: apitype.UntypedDeployment{Version: 3}}, cfg, project)
	for _, want := range []string{"Bytes the up will send", "docker.io/library/one:1", "ghcr.io/org/two:2",
		fmt.Sprintf("Total: %s (%d bytes), by 2 of 2 images: about ", progress.Bytes(total), total), "at images.linkBytesPerSecond 25000 (25.0 kB/s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("never deployed: output lacks %q:\n%s", want, out.String())
		}
	}
	if errOut.Len() > 0 {
		t.Errorf("warnings: %s", errOut.String())
	}
	if strings.Contains(out.String(), "predates") {
		t.Errorf("a stack never deployed is said to predate inventories:\n%s", out.String())
	}

	out.Reset()
	reportToSend(context.Background(), &out, &errOut, deployedState(t, map[string]v1.Image{"docker.io/library/one:1": one}), cfg, project)
	var added int64
	for h, n := range imageInventory(t, two) {
		if h != imagetest.Digest(t, base).String() {
			added += n
		}
	}
	for _, want := range []string{"unchanged", fmt.Sprintf("Total: %s (%d bytes), by 1 of 2 images: about ", progress.Bytes(added), added)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("after an image is added: output lacks %q:\n%s", want, out.String())
		}
	}

	// An up capped below the link's rate goes at the cap.
	capped := *cfg
	capped.Images.MaxBytesPerSecond = 16384
	out.Reset()
	reportToSend(context.Background(), &out, &errOut, deployedState(t, map[string]v1.Image{"docker.io/library/one:1": one}), &capped, project)
	if want := "at images.maxBytesPerSecond 16384 (16.4 kB/s)"; !strings.Contains(out.String(), want) {
		t.Errorf("capped below the link: output lacks %q:\n%s", want, out.String())
	}

	out.Reset()
	reportToSend(context.Background(), &out, &errOut, fakeState{err: errors.New("incorrect passphrase")}, cfg, project)
	if out.Len() > 0 || !strings.Contains(errOut.String(), "warning: cannot say what the up will send to the site registry: reading the stack's state: incorrect passphrase") {
		t.Errorf("a state it cannot read: out %q, warnings %q", out.String(), errOut.String())
	}
}

// withUsage adds to st the RegistryUsage resource an up records: free bytes of capBytes.
func withUsage(t *testing.T, st fakeState, capBytes, free float64) fakeState {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(st.dep.Deployment, &d); err != nil {
		t.Fatal(err)
	}
	d["resources"] = append(d["resources"].([]any), map[string]any{"type": "airgap:index:RegistryUsage", "outputs": map[string]any{
		"capacityBytes": capBytes, "referencedBytes": capBytes - free, "totalBytes": capBytes - free, "freeBytes": free, "measuredAt": "2026-12-02T14:00:00Z"}})
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return fakeState{dep: apitype.UntypedDeployment{Version: 3, Deployment: raw}}
}

// TestPreviewHoldsTheUpdateToTheFreeSpace: `airgap site preview` fails when the bytes to send
// exceed the free space the last up measured, warns when they would leave under 10% of the
// capacity, and says how much stays free otherwise.
func TestPreviewHoldsTheUpdateToTheFreeSpace(t *testing.T) {
	project := t.TempDir()
	one := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 100_000))
	two := imagetest.Image(t, "linux/amd64", imagetest.Layer(t, 300_000))
	dir := filepath.Join(project, "site-bundle")
	bundletest.Write(t, dir, bundletest.Entry{Ref: "docker.io/library/one:1", Image: one}, bundletest.Entry{Ref: "docker.io/library/two:1", Image: two})
	if err := os.WriteFile(filepath.Join(project, "site.pub"), []byte(bundletest.Sign(t, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	src := siteconfigtest.Source(siteconfigtest.ThreeNodes)
	src.Values[siteconfig.KeyImages] = `{"bundle":"./site-bundle","trustedKeys":["site.pub"],"list":["one:1","two:1"]}`
	cfg := siteconfigtest.Load(t, src)
	deployed := deployedState(t, map[string]v1.Image{"docker.io/library/one:1": one})
	var toSend float64
	for _, n := range imageInventory(t, two) {
		toSend += float64(n)
	}
	for _, tc := range []struct {
		name           string
		capBytes, free float64
		fails          bool
		says           string
	}{
		{"room", 100e6, 50e6, false, "Store: the update sends"},
		{"tight", 10e6, toSend + 0.5e6, false, "warning: the site registry's store: the update sends"},
		{"too large", 10e6, toSend - 1, true, "cannot be stored"},
	} {
		var out, errOut bytes.Buffer
		c := *cfg
		c.ObjectStore.Capacity = fmt.Sprint(int64(tc.capBytes))
		err := reportToSend(context.Background(), &out, &errOut, withUsage(t, deployed, tc.capBytes, tc.free), &c, project)
		if (err != nil) != tc.fails {
			t.Errorf("%s: error %v, want failing %v", tc.name, err, tc.fails)
		}
		all := out.String() + errOut.String()
		if err != nil {
			all += err.Error()
		}
		if !strings.Contains(all, tc.says) {
			t.Errorf("%s: output lacks %q:\n%s", tc.name, tc.says, all)
		}
	}
}
