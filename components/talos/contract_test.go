package talos

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/components/internal/pulumischema"
	"airgap-site/sitecontract"
)

// TestBindingsMatchPulumiTalosSchema checks every property our bindings send, by name and
// type, against pulumi-talos v0.8.1's schema, and that every required input is sent.
func TestBindingsMatchPulumiTalosSchema(t *testing.T) {
	schema := pulumischema.Load(t, "testdata/schemas/pulumi-talos-v0.8.1-schema.json")
	rec, _ := deployTalos(t, managedSite(t, ""))

	sent := map[string][]resource.PropertyMap{}
	for _, r := range rec.Resources {
		sent[r.TypeToken] = append(sent[r.TypeToken], r.Inputs)
	}
	for _, c := range rec.Calls {
		sent[c.Token] = append(sent[c.Token], c.Args)
	}
	for _, tok := range []string{sitecontract.TalosSecrets, sitecontract.TalosConfigurationApply, sitecontract.TalosBootstrap, sitecontract.TalosKubeconfig, sitecontract.TalosGetConfiguration} {
		schema.Check(t, tok, sent[tok])
	}
}
