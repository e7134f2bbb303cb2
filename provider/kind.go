package provider

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/provider/contract"
)

// kind is one resource type of the provider. The server decodes each request, finds its kind
// by type token (or URN) and calls it, then encodes the answer: a kind sees property maps,
// never the wire, and every kind answers the same way.
type kind interface {
	// check returns the failures of the inputs by property, skipping inputs not known yet.
	check(ctx context.Context, r request, news resource.PropertyMap) (failures, error)
	// diff returns what changed between the state and the new inputs.
	diff(ctx context.Context, r request, olds, news resource.PropertyMap) (changes, error)
	// create returns the state (the inputs and the outputs) and the id; in preview, with the
	// outputs not known yet unknown, and no id.
	create(ctx context.Context, r request, ins resource.PropertyMap) (state resource.PropertyMap, id string, err error)
	// update returns the new state.
	update(ctx context.Context, r request, olds, news resource.PropertyMap) (resource.PropertyMap, error)
	// read returns the state and inputs as found; a nil state: the resource is gone.
	read(ctx context.Context, r request, state, inputs resource.PropertyMap) (resource.PropertyMap, resource.PropertyMap, error)
	// delete removes what the resource holds outside the state.
	delete(ctx context.Context, r request, state resource.PropertyMap) error
}

// request is what a kind knows of the engine's request beyond the properties.
type request struct {
	urn     string
	id      string
	preview bool
}

// changes are the properties a Diff found changed, and which of them replace.
type changes struct {
	detailed map[string]*pulumirpc.PropertyDiff
	replaces []string
}

func newChanges() changes { return changes{detailed: map[string]*pulumirpc.PropertyDiff{}} }

// output marks an output as changed (an update: outputs never replace by themselves).
func (c changes) output(name string) {
	c.detailed[name] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE}
}

// replace marks a property as changed in a way that replaces the resource.
func (c *changes) replace(name string) {
	c.detailed[name] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE_REPLACE}
	c.replaces = append(c.replaces, name)
}

// response is the engine's form of the changes.
func (c changes) response() *pulumirpc.DiffResponse {
	if len(c.detailed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}
	}
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: slices.Sorted(maps.Keys(c.detailed)), Replaces: c.replaces,
		DetailedDiff: c.detailed, HasDetailedDiff: true,
	}
}

// inputChanges compares the inputs props of two values of their contract struct, as they act
// (defaults applied by the caller): an input that differs, or is not known yet, changed; a
// replace-on-change one replaces. Properties that are not inputs any more (an older
// provider's) are not compared: they are not in props.
func inputChanges(props []contract.Property, old, new reflect.Value, unknown []string) changes {
	c := newChanges()
	for _, p := range props {
		if !slices.Contains(unknown, p.Name) && reflect.DeepEqual(old.FieldByIndex(p.Field).Interface(), new.FieldByIndex(p.Field).Interface()) {
			continue
		}
		if p.Replace {
			c.replace(p.Name)
			c.detailed[p.Name].InputDiff = true
			continue
		}
		c.detailed[p.Name] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE, InputDiff: true}
	}
	return c
}

// failures are check failures by property; the first one of a property is kept.
type failures map[string]string

func (f failures) add(prop, format string, args ...any) {
	if _, ok := f[prop]; !ok {
		f[prop] = fmt.Sprintf(format, args...)
	}
}

// checkFailures is the engine's form of f, by property name.
func (f failures) checkFailures() []*pulumirpc.CheckFailure {
	var out []*pulumirpc.CheckFailure
	for _, k := range slices.Sorted(maps.Keys(f)) {
		out = append(out, &pulumirpc.CheckFailure{Property: k, Reason: f[k]})
	}
	return out
}

// required adds a failure for each required input of props that is empty and known.
func (f failures) required(props []contract.Property, v reflect.Value, unknown []string) {
	for _, p := range props {
		if p.Required && v.FieldByIndex(p.Field).IsZero() && !slices.Contains(unknown, p.Name) {
			f.add(p.Name, "required")
		}
	}
}

// computedOutputs sets every output of r to unknown, for a preview.
func computedOutputs(state resource.PropertyMap, r contract.Resource) {
	for _, p := range r.Outputs {
		state[resource.PropertyKey(p.Name)] = resource.MakeComputed(resource.NewStringProperty(""))
	}
}
