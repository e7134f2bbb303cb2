// Package mocktest records what a Pulumi program registers under the SDK's mocks, for unit
// tests of component wiring.
package mocktest

import (
	"sync"
	"testing"

	"airgap-site/sitecontract"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Recorder is a mock resource monitor that keeps every resource and invoke. Outputs lets a
// test give a resource type outputs beyond its inputs; Invoke answers invokes.
type Recorder struct {
	Outputs func(args pulumi.MockResourceArgs) resource.PropertyMap
	Invoke  func(args pulumi.MockCallArgs) resource.PropertyMap

	mu        sync.Mutex
	Resources []pulumi.MockResourceArgs
	Calls     []pulumi.MockCallArgs
}

// NewResource implements pulumi.MockResourceMonitor.
func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r.mu.Lock()
	r.Resources = append(r.Resources, args)
	r.mu.Unlock()
	state := args.Inputs.Copy()
	if r.Outputs != nil {
		for k, v := range r.Outputs(args) {
			state[k] = v
		}
	}
	return args.Name + "-id", state, nil
}

// Call implements pulumi.MockResourceMonitor.
func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	r.mu.Lock()
	r.Calls = append(r.Calls, args)
	r.mu.Unlock()
	if r.Invoke != nil {
		return r.Invoke(args), nil
	}
	return resource.PropertyMap{}, nil
}

// Run runs program under the mocks and fails t on error.
func (r *Recorder) Run(t *testing.T, program pulumi.RunFunc) {
	t.Helper()
	if err := pulumi.RunErr(program, pulumi.WithMocks(sitecontract.Project, "test", r)); err != nil {
		t.Fatal(err)
	}
}

// OfType returns the resources registered with a type token, in registration order.
func (r *Recorder) OfType(token string) []pulumi.MockResourceArgs {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pulumi.MockResourceArgs
	for _, res := range r.Resources {
		if res.TypeToken == token {
			out = append(out, res)
		}
	}
	return out
}

// One returns the inputs of the only resource of a type, failing t otherwise.
func (r *Recorder) One(t *testing.T, token string) resource.PropertyMap {
	t.Helper()
	rs := r.OfType(token)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), token)
	}
	return rs[0].Inputs
}
