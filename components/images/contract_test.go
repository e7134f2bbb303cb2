package images

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/provider/contract"
)

// TestBindingMatchesContract holds the hand-written binding to package contract: the engine
// passes properties by name, so a tag spelled differently here would be dropped silently.
// The provider's side is provider/contract_test.go.
func TestBindingMatchesContract(t *testing.T) {
	// Inputs: the SDK takes names and types from the plain struct, and copies ImageArgs
	// into it by Go field name.
	plain := reflect.TypeFor[imageArgs]()
	compare(t, "imageArgs", tags(plain, nil), declared(reflect.TypeFor[contract.ImageArgs](), contract.Image.Inputs))
	for f := range plain.Fields() {
		if _, ok := reflect.TypeFor[ImageArgs]().FieldByName(f.Name); !ok {
			t.Errorf("imageArgs.%s has no ImageArgs field", f.Name)
		}
	}
	// A required input is a plain value, an optional one a pointer (or a nil slice).
	required := map[string]bool{}
	for _, p := range contract.Image.Inputs {
		required[p.Name] = p.Required
	}
	for f := range plain.Fields() {
		name := f.Tag.Get("pulumi")
		if k := f.Type.Kind(); k != reflect.Slice && (k != reflect.Pointer) != required[name] {
			t.Errorf("imageArgs.%s is %s, but the contract has required=%v", f.Name, f.Type, required[name])
		}
	}

	// Outputs: a pulumi.XOutput field carries its element type.
	elem := func(t reflect.Type) reflect.Type {
		return reflect.Zero(t).Interface().(pulumi.Output).ElementType()
	}
	compare(t, "Image", tags(reflect.TypeFor[Image](), elem), declared(reflect.TypeFor[contract.ImageOutputs](), contract.Image.Outputs))
}

// tags maps the pulumi tags of a struct's fields to their Go types: through elem when given,
// else with pointers (optional inputs) dereferenced.
func tags(t reflect.Type, elem func(reflect.Type) reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("pulumi"), ",")
		if name == "" {
			continue // the embedded resource state
		}
		ft := f.Type
		if elem != nil {
			ft = elem(ft)
		} else if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		out[name] = ft
	}
	return out
}

// declared maps the contract's property names to their Go types in the contract struct t.
func declared(t reflect.Type, props []contract.Property) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, p := range props {
		out[p.Name] = t.FieldByIndex(p.Field).Type
	}
	return out
}

func compare(t *testing.T, what string, got, want map[string]reflect.Type) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[k]; {
		case !ok:
			t.Errorf("%s: no field tagged pulumi:%q", what, k)
		case g != want[k]:
			t.Errorf("%s: %s is %s, the contract says %s", what, k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: pulumi:%q is not in the contract", what, k)
		}
	}
}
