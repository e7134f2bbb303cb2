package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"airgap-site/bundle"
	"airgap-site/capacity"
	"airgap-site/inventory"
	"airgap-site/siteconfig"
)

// State is what ForStack reads of a stack: its state, from the backend, not the site
// (*auto.Stack; a fake in tests).
type State interface {
	Export(ctx context.Context) (apitype.UntypedDeployment, error)
}

// ForStack estimates what the next up of the stack sends to its site registry: the images its
// config takes from the bundle, from the bundle (opened verified with images.trustedKeys, as
// the provider opens it; relative paths from projectDir) and the stack's state. It reaches no
// site. nil, nil when the site takes no image from a bundle.
func ForStack(ctx context.Context, st State, cfg *siteconfig.Config, projectDir string) (*Estimate, error) {
	refs, err := cfg.Images.Bundled()
	if err != nil || len(refs) == 0 {
		return nil, err
	}
	_, trust, err := cfg.Images.Trust(projectDir)
	if err != nil {
		return nil, err
	}
	b, _, err := bundle.OpenVerified(cfg.BundleDir(projectDir), trust)
	if err != nil {
		return nil, fmt.Errorf("images.bundle: %w", err)
	}
	dep, err := st.Export(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the stack's state: %w", err)
	}
	inv, err := stateInventory(dep)
	if err != nil {
		return nil, err
	}
	est, err := Of(inv, b, refs)
	if err != nil {
		return nil, err
	}
	if est.Usage, err = capacity.FromDeployment(dep.Deployment); err != nil {
		return nil, err
	}
	return est, nil
}

// stateInventory reads what the site holds from an exported state; nil for a stack that was
// never deployed (no deployment yet).
func stateInventory(dep apitype.UntypedDeployment) (*inventory.Inventory, error) {
	if d := bytes.TrimSpace(dep.Deployment); len(d) == 0 || string(d) == "null" {
		return nil, nil
	}
	raw, err := json.Marshal(dep)
	if err != nil {
		return nil, err
	}
	return inventory.Parse(bytes.NewReader(raw))
}
