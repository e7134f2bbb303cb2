// Package bindingtest holds a hand-written Pulumi binding to its resource in package contract,
// for the binding's own tests: the engine passes properties by name, so a tag spelled
// differently in the binding would be dropped silently, not reported. The provider's side is
// provider/contract_test.go.
package bindingtest

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/provider/contract"
)

// Match checks a binding of r: In and Out are the contract's inputs and outputs structs;
// Plain is the binding's plain args struct (the one with pulumi tags that ElementType
// returns), Args the public args struct and State the resource struct.
//
//   - Plain has exactly the inputs, by name and Go type (a pointer for an optional input);
//   - every Plain field has an Args field of the same name: the SDK copies Args into Plain by
//     Go field name;
//   - a required input is a plain value, an optional one a pointer (or a nil slice);
//   - State's outputs are exactly the contract's, with the element types of their
//     pulumi.XOutput fields.
func Match[In, Out, Plain, Args, State any](t *testing.T, r contract.Resource) {
	t.Helper()
	plain := reflect.TypeFor[Plain]()
	compare(t, plain.Name(), tags(plain, nil), declared(reflect.TypeFor[In](), r.Inputs))
	args := reflect.TypeFor[Args]()
	for f := range plain.Fields() {
		if _, ok := args.FieldByName(f.Name); !ok {
			t.Errorf("%s.%s has no %s field", plain.Name(), f.Name, args.Name())
		}
	}
	required := map[string]bool{}
	for _, p := range r.Inputs {
		required[p.Name] = p.Required
	}
	for f := range plain.Fields() {
		name := f.Tag.Get("pulumi")
		if k := f.Type.Kind(); k != reflect.Slice && (k != reflect.Pointer) != required[name] {
			t.Errorf("%s.%s is %s, but the contract has required=%v", plain.Name(), f.Name, f.Type, required[name])
		}
	}
	elem := func(t reflect.Type) reflect.Type {
		return reflect.Zero(t).Interface().(pulumi.Output).ElementType()
	}
	state := reflect.TypeFor[State]()
	compare(t, state.Name(), tags(state, elem), declared(reflect.TypeFor[Out](), r.Outputs))
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
