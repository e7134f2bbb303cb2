package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"airgap-site/provider/contract"
	"airgap-site/provider/imagesync"
)

// Logger is what the server reports progress through: the engine's host in the plugin, a
// recorder in tests.
type Logger interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
	LogStatus(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
}

// Server implements the provider's gRPC interface.
type Server struct {
	pulumirpc.UnimplementedResourceProviderServer
	log   Logger
	known *imagesync.Known
}

// New returns a provider server reporting through log (nil: silent).
func New(log Logger) *Server { return &Server{log: log, known: imagesync.NewKnown()} }

// Main serves the provider as a plugin.
func Main() error {
	return provider.Main(contract.Name, func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return New(host), nil
	})
}

var mopts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, mopts)
}
func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, mopts)
}

func (s *Server) info(ctx context.Context, urn, format string, args ...any) {
	if s.log != nil {
		_ = s.log.Log(ctx, diag.Info, resource.URN(urn), fmt.Sprintf(format, args...))
	}
}

func (s *Server) status(ctx context.Context, urn, format string, args ...any) {
	if s.log != nil {
		_ = s.log.LogStatus(ctx, diag.Info, resource.URN(urn), fmt.Sprintf(format, args...))
	}
}

// GetPluginInfo implements the plugin interface.
func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: contract.Version}, nil
}

// GetSchema returns the package schema.
func (s *Server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	b, err := json.Marshal(Schema())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

// CheckConfig accepts any provider config: the provider has none.
func (s *Server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig reports no change: there is no provider config.
func (s *Server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure accepts secrets and previews.
func (s *Server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

// Cancel is a no-op: copies stop with their request contexts.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func checkType(t string) error {
	if t != contract.ImageToken {
		return status.Errorf(codes.InvalidArgument, "unknown resource type %q", t)
	}
	return nil
}

// Check validates references and that the bundle holds the image, before anything is copied.
func (s *Server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	failures := parseInputs(news).validate()
	var out []*pulumirpc.CheckFailure
	for _, k := range slices.Sorted(maps.Keys(failures)) {
		out = append(out, &pulumirpc.CheckFailure{Property: k, Reason: failures[k]})
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: out}, nil
}

// Diff compares the source's digest, read offline from the bundle, with the digest in state.
func (s *Server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	newIn := parseInputs(news)
	detailed := map[string]*pulumirpc.PropertyDiff{}
	var replaces []string
	for _, p := range contract.Image.Inputs {
		k := resource.PropertyKey(p.Name)
		if p.Replace {
			// The target's values, not their wrapping: a registry that became a secret is
			// the same registry.
			oldV, _ := resolve(olds[k])
			newV, known := resolve(news[k])
			if !known || !oldV.DeepEquals(newV) {
				detailed[p.Name] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE_REPLACE, InputDiff: true}
				replaces = append(replaces, p.Name)
			}
		} else if !news[k].DeepEquals(olds[k]) {
			detailed[p.Name] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE, InputDiff: true}
		}
	}
	// The content: the bundle's digest against the digest the registry had at the last
	// up or refresh. A refresh that found the tag moved makes this differ.
	if newIn.known() {
		opts, err := newIn.remoteOptions()
		if err != nil {
			return nil, err
		}
		want, err := newIn.sourceDigest(opts)
		if err != nil {
			return nil, err
		}
		if v, _ := resolve(olds["digest"]); !v.IsString() || v.StringValue() != want {
			detailed["digest"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE}
		}
	} else {
		detailed["digest"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE}
	}
	if len(detailed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: slices.Sorted(maps.Keys(detailed)), Replaces: replaces,
		DetailedDiff: detailed, HasDetailedDiff: true,
	}, nil
}

// Create copies the image.
func (s *Server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	ins, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs, id, err := s.sync(ctx, req.GetUrn(), ins, req.GetPreview())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: outs}, nil
}

// Update copies the image again; only what the registry lacks is sent.
func (s *Server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	outs, _, err := s.sync(ctx, req.GetUrn(), news, req.GetPreview())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: outs}, nil
}

// sync copies (or, in preview, plans) the image and returns its outputs.
func (s *Server) sync(ctx context.Context, urn string, ins resource.PropertyMap, preview bool) (*structpb.Struct, string, error) {
	in := parseInputs(ins)
	outs := ins.Copy()
	computed := resource.MakeComputed(resource.NewStringProperty(""))
	if preview {
		for _, p := range contract.Image.Outputs {
			outs[resource.PropertyKey(p.Name)] = computed
		}
		if in.known() {
			if opts, err := in.remoteOptions(); err == nil {
				if d, err := in.sourceDigest(opts); err == nil {
					outs["digest"] = resource.NewStringProperty(d)
				}
			}
		}
		st, err := marshal(outs)
		return st, "", err
	}
	if failures := in.validate(); len(failures) > 0 {
		return nil, "", fmt.Errorf("invalid inputs: %v", failures)
	}
	target, err := in.target()
	if err != nil {
		return nil, "", err
	}
	opts, err := in.remoteOptions()
	if err != nil {
		return nil, "", err
	}
	src, err := in.source(opts)
	if err != nil {
		return nil, "", fmt.Errorf("opening source of %s: %w", target, err)
	}
	start := time.Now()
	s.status(ctx, urn, "copying to %s ...", target)
	res, err := imagesync.Copy(ctx, src, target, imagesync.Options{
		Jobs:      in.Jobs,
		MountFrom: in.MountFrom,
		Remote:    opts,
		Known:     s.known,
		Progress: func(sent, total int64) {
			s.status(ctx, urn, "copying to %s: %s of at most %s sent", target, mb(sent), mb(total))
		},
	})
	if err != nil {
		return nil, "", fmt.Errorf("copying to %s: %w", target, err)
	}
	s.info(ctx, urn, "%s@%s: %d blobs uploaded, %d mounted, %d already there; %s sent of %s in %.1fs",
		target, res.Digest, res.BlobsUploaded, res.BlobsMounted, res.BlobsExisting, mb(res.SentBytes), mb(res.TotalBytes),
		time.Since(start).Seconds())
	maps.Copy(outs, encode(contract.Image.Outputs, contract.ImageOutputs{
		Digest:     res.Digest.String(),
		MediaType:  string(res.MediaType),
		Platforms:  res.Platforms,
		TotalBytes: float64(res.TotalBytes),
		SentBytes:  float64(res.SentBytes),
		Ref:        target.String(),
	}))
	st, err := marshal(outs)
	return st, target.String(), err
}

// Read reports what the registry holds under the tag: gone (empty id) or its digest, which a
// following up compares with the bundle.
func (s *Server) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	state, _, target, opts, err := fromState(ctx, req.GetProperties())
	if err != nil {
		return nil, err
	}
	desc, err := remote.Head(target, opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		s.info(ctx, req.GetUrn(), "%s is gone from the registry", target)
		return &pulumirpc.ReadResponse{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", target, err)
	}
	if old, _ := resolve(state["digest"]); old.IsString() && old.StringValue() != desc.Digest.String() {
		s.info(ctx, req.GetUrn(), "%s now points at %s (was %s)", target, desc.Digest, old.StringValue())
	}
	state["digest"] = resource.NewStringProperty(desc.Digest.String())
	outs, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: outs, Inputs: req.GetInputs()}, nil
}

// Delete removes the tag unless retain is set.
func (s *Server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	state, in, target, opts, err := fromState(ctx, req.GetProperties())
	if err != nil {
		return nil, err
	}
	if in.Retain {
		s.info(ctx, req.GetUrn(), "retaining %s in the registry", target)
		return &emptypb.Empty{}, nil
	}
	err = remote.Delete(target, opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return &emptypb.Empty{}, nil
	}
	if err != nil {
		// Registries that cannot delete a tag delete the manifest by digest.
		if d, _ := resolve(state["digest"]); d.IsString() {
			err = remote.Delete(target.Context().Digest(d.StringValue()), opts...)
			if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
				err = nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("deleting %s: %w", target, err)
	}
	s.info(ctx, req.GetUrn(), "deleted %s", target)
	return &emptypb.Empty{}, nil
}

// fromState decodes a resource's state into its inputs, target tag and registry options.
func fromState(ctx context.Context, props *structpb.Struct) (resource.PropertyMap, imageInputs, name.Tag, []remote.Option, error) {
	state, err := unmarshal(props)
	if err != nil {
		return nil, imageInputs{}, name.Tag{}, nil, err
	}
	in := parseInputs(state)
	target, err := in.target()
	if err != nil {
		return nil, in, name.Tag{}, nil, err
	}
	opts, err := in.remoteOptions()
	if err != nil {
		return nil, in, name.Tag{}, nil, err
	}
	return state, in, target, append(opts, remote.WithContext(ctx)), nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
