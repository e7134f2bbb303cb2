// Package pulumischema checks what our typed bindings send against the schema of the Pulumi
// package whose resources they declare (pulumi-talos, pulumi-minio): every property by name
// and type, and every required input. Those SDKs are not served here, so the published schema
// is the contract our bindings are held to.
package pulumischema

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Property is a property of a schema: a type, or a reference to a type.
type Property struct {
	Type string `json:"type"`
	Ref  string `json:"$ref"`
}

// Inputs are what a resource, a function or the provider takes.
type Inputs struct {
	Properties map[string]Property
	Required   []string
}

type object struct {
	InputProperties map[string]Property `json:"inputProperties"`
	RequiredInputs  []string            `json:"requiredInputs"`
	Inputs          struct {
		Properties map[string]Property `json:"properties"`
		Required   []string            `json:"required"`
	} `json:"inputs"`
}

// Schema is a Pulumi package schema, read for its inputs.
type Schema struct {
	Name      string            `json:"name"`
	Provider  object            `json:"provider"`
	Resources map[string]object `json:"resources"`
	Functions map[string]object `json:"functions"`
}

// Load reads the schema at path.
func Load(t *testing.T, path string) *Schema {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s Schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("parsing schema %s: %v", path, err)
	}
	return &s
}

// InputsOf are the inputs of token: a resource, a function, or the provider itself
// (pulumi:providers:<name>); ok is false when the schema has no such token.
func (s *Schema) InputsOf(token string) (in Inputs, ok bool) {
	if token == "pulumi:providers:"+s.Name {
		return Inputs{s.Provider.InputProperties, s.Provider.RequiredInputs}, s.Provider.InputProperties != nil
	}
	if r, found := s.Resources[token]; found {
		return Inputs{r.InputProperties, r.RequiredInputs}, r.InputProperties != nil
	}
	if f, found := s.Functions[token]; found {
		return Inputs{f.Inputs.Properties, f.Inputs.Required}, f.Inputs.Properties != nil
	}
	return Inputs{}, false
}

// Reporter is what Check reports to: a *testing.T.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// Check fails t for each property of sent (every set of inputs sent for token) that the
// schema does not take or types otherwise, and for each required input not sent. A
// provider's `version` input is the engine's own and is not checked.
func (s *Schema) Check(t Reporter, token string, sent []resource.PropertyMap) {
	t.Helper()
	if len(sent) == 0 {
		t.Errorf("%s was never sent", token)
		return
	}
	in, ok := s.InputsOf(token)
	if !ok {
		t.Errorf("%s is not in the %s schema", token, s.Name)
		return
	}
	provider := token == "pulumi:providers:"+s.Name
	for _, inputs := range sent {
		keys := inputs.StableKeys()
		slices.Sort(keys)
		for _, key := range keys {
			if provider && key == "version" {
				continue
			}
			p, ok := in.Properties[string(key)]
			if !ok {
				t.Errorf("%s: property %q is not an input in the schema", token, key)
				continue
			}
			if !typeMatches(p, inputs[key]) {
				t.Errorf("%s.%s: sent %s, schema says %s%s", token, key, inputs[key].TypeString(), p.Type, p.Ref)
			}
		}
		for _, req := range in.Required {
			if _, ok := inputs[resource.PropertyKey(req)]; !ok {
				t.Errorf("%s: required input %q not sent", token, req)
			}
		}
	}
}

// typeMatches: a secret is checked by what it holds; an unknown matches anything.
func typeMatches(p Property, v resource.PropertyValue) bool {
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
