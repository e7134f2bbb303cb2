package provider

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/provider/contract"
)

// The provider's side of the contract: what it reads, writes, checks and publishes is named by
// package contract. The binding's side is components/images/contract_test.go.

// sample is a value of p's type that names p, so that a value read under the wrong key shows.
func sample(p contract.Property) (resource.PropertyValue, any) {
	switch p.Type {
	case "boolean":
		return resource.NewBoolProperty(true), true
	case "integer":
		return resource.NewNumberProperty(7), 7
	case "number":
		return resource.NewNumberProperty(7.5), 7.5
	case "array":
		return resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("a-" + p.Name)}), []string{"a-" + p.Name}
	}
	return resource.NewStringProperty("v-" + p.Name), "v-" + p.Name
}

func TestParserReadsContractKeys(t *testing.T) {
	m := resource.PropertyMap{}
	var want contract.ImageArgs
	for _, p := range contract.Image.Inputs {
		pv, v := sample(p)
		if p.Secret {
			pv = resource.MakeSecret(pv)
		}
		m[resource.PropertyKey(p.Name)] = pv
		reflect.ValueOf(&want).Elem().FieldByIndex(p.Field).Set(reflect.ValueOf(v))
	}
	in := parseInputs(m)
	if !reflect.DeepEqual(in.ImageArgs, want) || len(in.unknown) > 0 {
		t.Errorf("parsed %+v (unknown %v), want %+v", in.ImageArgs, in.unknown, want)
	}
	for _, p := range contract.Image.Inputs {
		m := m.Copy()
		m[resource.PropertyKey(p.Name)] = resource.MakeComputed(resource.NewStringProperty(""))
		if u := parseInputs(m).unknown; !slices.Equal(u, []string{p.Name}) {
			t.Errorf("%s unknown: parser reports %v", p.Name, u)
		}
	}
}

func TestCheckNamesContractInputs(t *testing.T) {
	bad := []resource.PropertyMap{
		{}, // the required inputs and a source
		{"sourceRef": resource.NewStringProperty("a:1"), "sourceRemote": resource.NewStringProperty("x")},
		{"sourceRef": resource.NewStringProperty("a:1")}, // no bundle configured
		{"sourceRemote": resource.NewStringProperty("Bad Ref"), "repository": resource.NewStringProperty("Bad Repo"), "tag": resource.NewStringProperty("1")},
	}
	srv := New(nil)
	inputs := names(contract.Image.Inputs)
	for _, m := range bad {
		f, _ := srv.kinds[contract.ImageToken].check(context.Background(), request{}, m)
		if len(f) == 0 {
			t.Errorf("%v: no failure", m)
		}
		for k := range f {
			if !slices.Contains(inputs, k) {
				t.Errorf("check failure names %q, not an input of the contract", k)
			}
		}
	}
	// And the provider's settings name settings.
	cfg := resource.PropertyMap{
		"endpoints": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("https://r:5000")}),
		"jobs":      resource.NewNumberProperty(-1), "retryFor": resource.NewNumberProperty(-1), "requestTimeout": resource.NewNumberProperty(-1),
		"ca": resource.NewStringProperty("x"), "trustedKeys": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("x")}),
	}
	f := parseConfig(cfg).validate()
	for k := range cfg {
		if _, ok := f[string(k)]; !ok {
			t.Errorf("setting %s: no failure in %v", k, f)
		}
	}
	settings := names(contract.Provider.Inputs)
	for k := range f {
		if !slices.Contains(settings, k) {
			t.Errorf("config failure names %q, not a setting of the contract", k)
		}
	}
}

func TestStateHasContractProperties(t *testing.T) {
	f := newFixture(t)
	all := names(contract.Image.All())
	for _, preview := range []bool{true, false} {
		state := f.create(t, preview)
		for _, p := range contract.Image.Outputs {
			if _, ok := state[resource.PropertyKey(p.Name)]; !ok {
				t.Errorf("preview=%v: no output %s", preview, p.Name)
			}
		}
		for k := range state {
			// create checked that the state it got held no setting; the tests keep them beside.
			if !slices.Contains(all, string(k)) && !slices.Contains(names(contract.Provider.Inputs), string(k)) {
				t.Errorf("preview=%v: state has %s, not in the contract", preview, k)
			}
		}
	}
}

func TestSchemaIsContract(t *testing.T) {
	s := Schema()
	if s["name"] != contract.Name || s["version"] != contract.Version {
		t.Errorf("schema names %v %v", s["name"], s["version"])
	}
	res := s["resources"].(map[string]any)
	if got := slices.Sorted(maps.Keys(res)); len(got) != len(contract.Resources) {
		t.Errorf("schema resources %v, contract has %d", got, len(contract.Resources))
	}
	for _, r := range contract.Resources {
		rs, ok := res[r.Token].(map[string]any)
		if !ok {
			t.Errorf("schema has no %s", r.Token)
			continue
		}
		check := func(key string, props []contract.Property) {
			got := rs[key].(map[string]any)
			if k, want := slices.Sorted(maps.Keys(got)), slices.Sorted(slices.Values(names(props))); !slices.Equal(k, want) {
				t.Errorf("%s %s = %v, want %v", r.Token, key, k, want)
			}
			for _, p := range props {
				ps, _ := got[p.Name].(map[string]any)
				items, _ := ps["items"].(map[string]any)
				if p.Type == "object" {
					items, _ = ps["additionalProperties"].(map[string]any)
				}
				if ps["type"] != p.Type || (p.Items != "" && items["type"] != p.Items) ||
					(ps["secret"] == true) != p.Secret || (ps["replaceOnChanges"] == true) != p.Replace {
					t.Errorf("%s %s.%s = %v, contract %+v", r.Token, key, p.Name, ps, p)
				}
			}
		}
		check("inputProperties", r.Inputs)
		check("properties", r.All())
		req := func(key string, props []contract.Property) {
			var want []string
			for _, p := range props {
				if p.Required {
					want = append(want, p.Name)
				}
			}
			if got := rs[key].([]string); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
				t.Errorf("%s %s = %v, want %v", r.Token, key, got, want)
			}
		}
		req("requiredInputs", r.Inputs)
		req("required", r.All())
	}
}

func names(props []contract.Property) []string {
	out := make([]string, len(props))
	for i, p := range props {
		out[i] = p.Name
	}
	return out
}

// TestEveryResourceIsServed: a resource of the contract that the server does not dispatch
// would be in the schema and fail at its first Check.
func TestEveryResourceIsServed(t *testing.T) {
	srv := New(nil)
	for _, r := range contract.Resources {
		if _, err := srv.kindOf(r.Token, ""); err != nil {
			t.Errorf("%s is not served: %v", r.Token, err)
		}
		if _, err := srv.kindOf("", urnOf(r.Token, "x")); err != nil {
			t.Errorf("%s is not served by its URN: %v", r.Token, err)
		}
	}
	if _, err := srv.kindOf("airgap:index:Nothing", ""); err == nil {
		t.Error("an unknown type is served")
	}
}

// TestAccessStateHasContractProperties: the state of a generated resource, in a preview and
// after a create, holds every output and nothing the contract does not name; check failures
// name inputs of the contract.
func TestAccessStateHasContractProperties(t *testing.T) {
	f := newAccessFixture()
	_, ca := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	inputs := map[string]resource.PropertyMap{
		contract.CertificateAuthorityToken: caInputs(),
		contract.CertificateToken:          certInputs(t, ca),
		contract.PasswordToken:             {"username": resource.NewStringProperty("u")},
	}
	for token, ins := range inputs {
		l := locals[token]
		all := names(l.All())
		for _, preview := range []bool{true, false} {
			_, state := f.create(t, token, ins, preview)
			for _, p := range l.Outputs {
				if _, ok := state[resource.PropertyKey(p.Name)]; !ok {
					t.Errorf("%s preview=%v: no output %s", token, preview, p.Name)
				}
			}
			for k := range state {
				if !slices.Contains(all, string(k)) {
					t.Errorf("%s preview=%v: state has %s, not in the contract", token, preview, k)
				}
			}
		}
		bad := resource.PropertyMap{}
		for _, p := range l.Inputs {
			bad[resource.PropertyKey(p.Name)] = resource.NewNumberProperty(-1)
		}
		f, _ := l.on(New(nil)).check(context.Background(), request{}, bad)
		for k := range f {
			if !slices.Contains(names(l.Inputs), k) {
				t.Errorf("%s: check failure names %q, not an input of the contract", token, k)
			}
		}
	}
}
