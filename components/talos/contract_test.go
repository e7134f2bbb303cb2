package talos

import (
	"encoding/json"
	"os"
	"sort"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// schemaProperty is a property of the pulumi-talos schema.
type schemaProperty struct {
	Type string `json:"type"`
	Ref  string `json:"$ref"`
}

type schemaObject struct {
	InputProperties map[string]schemaProperty `json:"inputProperties"`
	RequiredInputs  []string                  `json:"requiredInputs"`
	Inputs          struct {
		Properties map[string]schemaProperty `json:"properties"`
		Required   []string                  `json:"required"`
	} `json:"inputs"`
}

// TestBindingsMatchPulumiTalosSchema checks every property our bindings send, by name and
// type, against pulumi-talos v0.8.1's schema, and that every required input is sent.
func TestBindingsMatchPulumiTalosSchema(t *testing.T) {
	b, err := os.ReadFile("testdata/schemas/pulumi-talos-v0.8.1-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Resources map[string]schemaObject `json:"resources"`
		Functions map[string]schemaObject `json:"functions"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	rec, _ := deployTalos(t, managedSite(t, ""))

	sent := map[string][]resource.PropertyMap{}
	for _, r := range rec.Resources {
		sent[r.TypeToken] = append(sent[r.TypeToken], r.Inputs)
	}
	for _, c := range rec.Calls {
		sent[c.Token] = append(sent[c.Token], c.Args)
	}
	for _, tok := range []string{TokenSecrets, TokenConfigurationApply, TokenBootstrap, TokenKubeconfig, TokenGetConfiguration} {
		if len(sent[tok]) == 0 {
			t.Errorf("%s was never sent", tok)
			continue
		}
		props, required := schema.Resources[tok].InputProperties, schema.Resources[tok].RequiredInputs
		if tok == TokenGetConfiguration {
			props, required = schema.Functions[tok].Inputs.Properties, schema.Functions[tok].Inputs.Required
		}
		if props == nil {
			t.Errorf("%s is not in the pulumi-talos schema", tok)
			continue
		}
		for _, inputs := range sent[tok] {
			for _, key := range sortedPropertyKeys(inputs) {
				p, ok := props[string(key)]
				if !ok {
					t.Errorf("%s: property %q is not an input in the schema", tok, key)
					continue
				}
				if !typeMatches(p, inputs[key]) {
					t.Errorf("%s.%s: sent %s, schema says %s%s", tok, key, inputs[key].TypeString(), p.Type, p.Ref)
				}
			}
			for _, req := range required {
				if _, ok := inputs[resource.PropertyKey(req)]; !ok {
					t.Errorf("%s: required input %q not sent", tok, req)
				}
			}
		}
	}
}

func typeMatches(p schemaProperty, v resource.PropertyValue) bool {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsComputed() || v.IsOutput() {
		return true
	}
	switch {
	case p.Ref != "":
		return v.IsObject()
	case p.Type == "string":
		return v.IsString()
	case p.Type == "boolean":
		return v.IsBool()
	case p.Type == "integer", p.Type == "number":
		return v.IsNumber()
	case p.Type == "array":
		return v.IsArray()
	case p.Type == "object":
		return v.IsObject()
	}
	return false
}

func sortedPropertyKeys(m resource.PropertyMap) []resource.PropertyKey {
	keys := m.StableKeys()
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
