package main

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
)

func TestPlainUnwrapsSecretsAndMarksUnknowns(t *testing.T) {
	m := property.NewMap(map[string]property.Value{
		"s":   property.New("visible").WithSecret(true),
		"u":   property.New(property.Computed),
		"arr": property.New([]property.Value{property.New(1.0), property.New(true)}),
	})
	p := plainMap(m)
	if p["s"] != "visible" {
		t.Errorf("secret not unwrapped: %v", p["s"])
	}
	if _, ok := p["u"].(unknown); !ok {
		t.Errorf("computed value = %#v, want unknown", p["u"])
	}
	if arr := p["arr"].([]any); arr[0] != 1.0 || arr[1] != true {
		t.Errorf("array = %v", arr)
	}
}

func TestStackViewFindsPatches(t *testing.T) {
	patch := "apiVersion: v1alpha1\nkind: RegistryMirrorConfig\nname: docker.io\nendpoints: [{url: 'http://10.0.0.1:32000/v2/docker.io', overridePath: true}]\nskipFallback: true\n"
	s := newStackView([]policyx.AnalyzerResource{
		{Type: "pulumi:pulumi:Stack", URN: "stack", Properties: property.NewMap(map[string]property.Value{
			"talosMirrorPatch": property.New(patch).WithSecret(true),
		})},
		{Type: "talos:machine/configurationApply:ConfigurationApply", URN: "apply", Properties: property.NewMap(map[string]property.Value{
			"configPatches": property.New([]property.Value{property.New(patch), property.New("machine: {time: {disabled: true}}")}),
		})},
	})
	if len(s.patches) != 3 || len(s.mirrors) != 2 {
		t.Errorf("found %d patches, %d mirror sets; want 3 patches, 2 with mirrors", len(s.patches), len(s.mirrors))
	}
	// The preview of a new stack: the full patch waits for generated credentials; the
	// bootstrap patch gives the mirrors.
	s = newStackView([]policyx.AnalyzerResource{
		{Type: "pulumi:pulumi:Stack", URN: "stack", Properties: property.NewMap(map[string]property.Value{
			"talosMirrorPatch":    property.New(property.Computed),
			"talosBootstrapPatch": property.New(patch),
		})},
	})
	if len(s.mirrors) != 1 {
		t.Errorf("%d mirror sets from the bootstrap patch, want 1", len(s.mirrors))
	}
}

func TestEveryPolicyHasADescription(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Policies() {
		if p.Description() == "" || seen[p.Name()] {
			t.Errorf("policy %q: empty description or duplicate name", p.Name())
		}
		seen[p.Name()] = true
	}
	if len(seen) != 10 {
		t.Errorf("%d policies, want 8 mandatory + 2 advisory", len(seen))
	}
}
