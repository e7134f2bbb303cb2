package provider

import (
	"context"
	"fmt"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"airgap-site/provider/contract"
)

// engine drives a Server as the Pulumi engine drives a provider, for tests that keep an
// image's inputs and its provider's settings in one map: the settings (contract.Provider's
// inputs) go to CheckConfig and Configure first, the rest to the resource's own call. Check
// failures of the settings are returned with the resource's, by property.
type engine struct{ *Server }

func split(s *structpb.Struct) (cfg, ins *structpb.Struct) {
	cfg, ins = &structpb.Struct{Fields: map[string]*structpb.Value{}}, &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for k, v := range s.GetFields() {
		if slices.ContainsFunc(contract.Provider.Inputs, func(p contract.Property) bool { return p.Name == k }) {
			cfg.Fields[k] = v
		} else {
			ins.Fields[k] = v
		}
	}
	return cfg, ins
}

// configure checks and sets the settings; failures are returned, not set.
func (e *engine) configure(ctx context.Context, cfg *structpb.Struct) ([]*pulumirpc.CheckFailure, error) {
	resp, err := e.Server.CheckConfig(ctx, &pulumirpc.CheckRequest{News: cfg})
	if err != nil || len(resp.GetFailures()) > 0 {
		return resp.GetFailures(), err
	}
	_, err = e.Server.Configure(ctx, &pulumirpc.ConfigureRequest{Args: cfg})
	return nil, err
}

func (e *engine) configured(ctx context.Context, s *structpb.Struct) (*structpb.Struct, error) {
	cfg, ins := split(s)
	f, err := e.configure(ctx, cfg)
	if err == nil && len(f) > 0 {
		err = fmt.Errorf("provider settings: %v", f)
	}
	return ins, err
}

func (e *engine) Check(ctx context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	cfg, ins := split(req.GetNews())
	f, err := e.configure(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if len(f) > 0 {
		return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: f}, nil
	}
	r := proto.Clone(req).(*pulumirpc.CheckRequest)
	r.News = ins
	return e.Server.Check(ctx, r)
}

func (e *engine) Diff(ctx context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	news, err := e.configured(ctx, req.GetNews())
	if err != nil {
		return nil, err
	}
	r := proto.Clone(req).(*pulumirpc.DiffRequest)
	r.News = news
	_, r.Olds = split(req.GetOlds())
	return e.Server.Diff(ctx, r)
}

func (e *engine) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	ins, err := e.configured(ctx, req.GetProperties())
	if err != nil {
		return nil, err
	}
	r := proto.Clone(req).(*pulumirpc.CreateRequest)
	r.Properties = ins
	return e.Server.Create(ctx, r)
}

func (e *engine) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	news, err := e.configured(ctx, req.GetNews())
	if err != nil {
		return nil, err
	}
	r := proto.Clone(req).(*pulumirpc.UpdateRequest)
	r.News = news
	_, r.Olds = split(req.GetOlds())
	return e.Server.Update(ctx, r)
}

// Read and Delete take the settings from the state: the tests' states are made with them.
func (e *engine) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	state, err := e.configured(ctx, req.GetProperties())
	if err != nil {
		return nil, err
	}
	r := proto.Clone(req).(*pulumirpc.ReadRequest)
	r.Properties = state
	return e.Server.Read(ctx, r)
}

func (e *engine) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, err := e.configured(ctx, req.GetProperties())
	if err != nil {
		return nil, err
	}
	r := proto.Clone(req).(*pulumirpc.DeleteRequest)
	r.Properties = state
	return e.Server.Delete(ctx, r)
}

// withSettings are the provider's settings of m added to state, as the tests keep them.
func withSettings(state, m resource.PropertyMap) resource.PropertyMap {
	out := state.Copy()
	for _, p := range contract.Provider.Inputs {
		if v, ok := m[resource.PropertyKey(p.Name)]; ok {
			out[resource.PropertyKey(p.Name)] = v
		}
	}
	return out
}
