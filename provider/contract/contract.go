package contract

import (
	_ "embed"
	"fmt"
	"reflect"
	"strings"
)

// Name is the package name: the first part of every type token, and the plugin is
// pulumi-resource-<Name>.
const Name = "airgap"

// Version is the plugin version: what the plugin reports, what the program asks the engine for
// and what scripts/setup.sh and scripts/kit.sh install the plugin as. It lives in the file
// VERSION so that the scripts read the same value.
var Version = strings.TrimSpace(version)

//go:embed VERSION
var version string

// Resource is one resource type of the package.
type Resource struct {
	// Token is the type token, <Name>:index:<Type>.
	Token       string
	Description string
	// Inputs are what a program sets; Outputs are what the provider adds to them in the
	// resource's state.
	Inputs  []Property
	Outputs []Property
}

// Property is one property of a resource, as declared by a field of its inputs or outputs
// struct:
//
//	Field T `prop:"name[,required][,secret][,replace]" doc:"Description."`
//
// required: the resource is invalid without it (an output: always set after a create).
// secret: the engine keeps it encrypted. replace: a change replaces the resource.
type Property struct {
	Name        string
	Description string
	// Type is the schema type: string, boolean, integer, number, array or object (a map by
	// string keys); Items is the type of an array's elements or of a map's values.
	Type  string
	Items string
	// Field locates the Go field in its struct (reflect.Value.FieldByIndex).
	Field []int

	Required bool
	Secret   bool
	Replace  bool
}

// define declares a resource from its inputs and outputs structs. The structs are constants
// of the program, so a malformed tag is a bug found by the first test that loads the package.
func define[Inputs, Outputs any](token, description string) Resource {
	r := Resource{Token: token, Description: description}
	var err error
	if r.Inputs, err = properties(reflect.TypeFor[Inputs]()); err != nil {
		panic(fmt.Sprintf("contract: %s: %v", token, err))
	}
	if r.Outputs, err = properties(reflect.TypeFor[Outputs]()); err != nil {
		panic(fmt.Sprintf("contract: %s: %v", token, err))
	}
	seen := map[string]bool{}
	for _, p := range r.All() {
		if seen[p.Name] {
			// The state is one map: an output may not shadow an input.
			panic(fmt.Sprintf("contract: %s: property %q declared twice", token, p.Name))
		}
		seen[p.Name] = true
	}
	return r
}

// All returns the inputs then the outputs: every property of the resource's state.
func (r Resource) All() []Property {
	return append(append([]Property(nil), r.Inputs...), r.Outputs...)
}

// Secrets names the secret properties, for pulumi.AdditionalSecretOutputs.
func (r Resource) Secrets() []string {
	var out []string
	for _, p := range r.All() {
		if p.Secret {
			out = append(out, p.Name)
		}
	}
	return out
}

// properties reads the declarations of a struct, in field order.
func properties(t reflect.Type) ([]Property, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", t)
	}
	var out []Property
	for f := range t.Fields() {
		tag, ok := f.Tag.Lookup("prop")
		if !ok {
			return nil, fmt.Errorf("field %s: no prop tag", f.Name)
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			return nil, fmt.Errorf("field %s: empty property name", f.Name)
		}
		p := Property{Name: name, Description: f.Tag.Get("doc"), Field: f.Index}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "":
			case "required":
				p.Required = true
			case "secret":
				p.Secret = true
			case "replace":
				p.Replace = true
			default:
				return nil, fmt.Errorf("field %s: unknown option %q", f.Name, o)
			}
		}
		var err error
		if p.Type, err = schemaType(f.Type); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		switch f.Type.Kind() {
		case reflect.Slice:
			if p.Items, err = schemaType(f.Type.Elem()); err != nil || p.Items == "array" || p.Items == "object" {
				return nil, fmt.Errorf("field %s: arrays hold strings, booleans or numbers, not %s", f.Name, f.Type.Elem())
			}
		case reflect.Map:
			if f.Type.Key().Kind() != reflect.String {
				return nil, fmt.Errorf("field %s: maps are keyed by strings, not %s", f.Name, f.Type.Key())
			}
			if p.Items, err = schemaType(f.Type.Elem()); err != nil || p.Items == "array" || p.Items == "object" {
				return nil, fmt.Errorf("field %s: maps hold strings, booleans or numbers, not %s", f.Name, f.Type.Elem())
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// schemaType maps the Go types a contract may use to schema types; the binding's plain args
// struct uses the same Go types, so the two can be compared.
func schemaType(t reflect.Type) (string, error) {
	switch t.Kind() {
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "boolean", nil
	case reflect.Int:
		return "integer", nil
	case reflect.Float64:
		return "number", nil
	case reflect.Slice:
		return "array", nil
	case reflect.Map:
		return "object", nil
	}
	return "", fmt.Errorf("unsupported type %s", t)
}

// Resources are the package's resources; the schema lists exactly these.
// The provider's own configuration (Provider) is not among them: the schema has it apart.
var Resources = []Resource{Image, AcceptedBundle, CertificateAuthority, Certificate, Password, Retention, GarbageCollection, RegistryUsage}
