package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"airgap-site/provider/blobupload"
	"airgap-site/provider/contract"
	"airgap-site/provider/imagesync"
	"airgap-site/provider/siteregistry"
)

// Logger is what the server reports progress through: the engine's host in the plugin, a
// recorder in tests.
type Logger interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
	LogStatus(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
}

// Server implements the provider's gRPC interface. It only dispatches: each request goes to
// the kind of its resource (kind.go), with the properties decoded and the operation's context.
type Server struct {
	pulumirpc.UnimplementedResourceProviderServer
	log   Logger
	kinds map[string]kind

	// mu guards cfg, the provider's configuration (Configure), and what is made of it once
	// per process: the rate cap of every upload and where upload sessions are kept.
	mu       sync.Mutex
	cfg      *siteConfig
	limiter  *rate.Limiter
	sessions *blobupload.Sessions
	// bundles opens each bundle verified once per process (config.go); contents are its
	// images' blobs, for mount candidates (image.go).
	bundles  bundles
	contents contentsCache

	known *imagesync.Known
	// health remembers failed endpoints across the operations of the process.
	health *siteregistry.Health
	// backoff bounds the waits between tries (Initial, Max); the retryFor setting gives For.
	backoff siteregistry.Policy
	// written are the tags this process wrote, with the syncedAt of each write: see Delete.
	written *writes
	// plan is what a preview's images send, said by the RegistryUsage after them (plan.go).
	plan plan
	// stop ends every operation in flight when the engine calls Cancel.
	stop   context.Context
	cancel context.CancelCauseFunc
}

// New returns a provider server reporting through log (nil: silent).
func New(log Logger) *Server {
	stop, cancel := context.WithCancelCause(context.Background())
	s := &Server{
		log: log, known: imagesync.NewKnown(), health: siteregistry.NewHealth(),
		backoff: siteregistry.Policy{Initial: siteregistry.DefaultInitial, Max: siteregistry.DefaultMax},
		written: &writes{}, stop: stop, cancel: cancel, cfg: &siteConfig{},
	}
	s.kinds = map[string]kind{
		contract.ImageToken:                &image{s},
		contract.AcceptedBundleToken:       &accepted{s},
		contract.CertificateAuthorityToken: certificateAuthority.on(s),
		contract.CertificateToken:          certificate.on(s),
		contract.PasswordToken:             password.on(s),
		contract.RetentionToken:            &retentionKind{s},
		contract.RegistryUsageToken:        &usageKind{s},
		contract.GarbageCollectionToken:    &collection{s},
	}
	return s
}

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

// oldsAndNews decodes the old and new properties of a Diff or Update request.
func oldsAndNews(req interface {
	GetOlds() *structpb.Struct
	GetNews() *structpb.Struct
}) (olds, news resource.PropertyMap, err error) {
	if olds, err = unmarshal(req.GetOlds()); err != nil {
		return nil, nil, err
	}
	if news, err = unmarshal(req.GetNews()); err != nil {
		return nil, nil, err
	}
	return olds, news, nil
}

func (s *Server) info(ctx context.Context, urn, format string, args ...any) {
	if s.log != nil {
		_ = s.log.Log(ctx, diag.Info, resource.URN(urn), fmt.Sprintf(format, args...))
	}
}

func (s *Server) warn(ctx context.Context, urn, format string, args ...any) {
	if s.log != nil {
		_ = s.log.Log(ctx, diag.Warning, resource.URN(urn), fmt.Sprintf(format, args...))
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

// CheckConfig validates the provider's configuration (contract.Provider), naming the bad
// setting, before any resource of the provider is touched.
func (s *Server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	f := parseConfig(news).validate()
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: f.checkFailures()}, nil
}

// DiffConfig reports the settings that changed. None replaces the provider: a replaced
// provider would replace every image it manages, and every setting is the site's, not an
// image's identity. A new password or trusted key is an update of the provider alone.
func (s *Server) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, news, err := oldsAndNews(req)
	if err != nil {
		return nil, err
	}
	if len(olds) == 0 {
		// Olds are the old provider's outputs; the engine sends its inputs apart.
		if olds, err = unmarshal(req.GetOldInputs()); err != nil {
			return nil, err
		}
	}
	o, n := parseConfig(olds), parseConfig(news)
	return configChanges(o, n).response(), nil
}

// Configure takes the provider's configuration; it accepts secrets and previews.
func (s *Server) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	args, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	cfg := parseConfig(args)
	if f := cfg.validate(); len(f) > 0 {
		return nil, fmt.Errorf("configuring the airgap provider: %v", map[string]string(f))
	}
	s.mu.Lock()
	s.cfg = &cfg
	s.limiter = blobupload.NewLimiter(int64(cfg.MaxBytesPerSecond))
	s.sessions = nil
	if cfg.UploadSessions != "" {
		s.sessions = blobupload.NewSessions(cfg.UploadSessions)
	}
	s.mu.Unlock()
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

// config is the provider's configuration.
func (s *Server) config() *siteConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// errCancelled is why operations stop after Cancel.
var errCancelled = errors.New("cancelled: the engine asked the provider to stop")

// Cancel stops every operation in flight, and any that starts later: the engine is shutting
// the provider down.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	s.cancel(errCancelled)
	return &emptypb.Empty{}, nil
}

// operation is the context of one engine request: it ends with the request, at Cancel, and at
// the customTimeouts deadline the engine sends (timeout seconds; 0 for none).
func (s *Server) operation(ctx context.Context, timeout float64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	unhook := context.AfterFunc(s.stop, func() { cancel(context.Cause(s.stop)) })
	release := func() { unhook(); cancel(nil) }
	if timeout <= 0 {
		return ctx, release
	}
	d := time.Duration(timeout * float64(time.Second))
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, d, fmt.Errorf("the operation's deadline of %s (customTimeouts) passed", d))
	return ctx, func() { cancelTimeout(); release() }
}

// kindOf finds the kind of a request by its type or, when the engine sends none (Read,
// Delete of older engines), its URN.
func (s *Server) kindOf(typ, urn string) (kind, error) {
	if typ == "" && resource.URN(urn).IsValid() {
		typ = string(resource.URN(urn).Type())
	}
	k, ok := s.kinds[typ]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown resource type %q", typ)
	}
	return k, nil
}

// begin finds the kind of a request and starts its operation (see operation).
func (s *Server) begin(ctx context.Context, typ, urn string, timeout float64) (kind, context.Context, context.CancelFunc, error) {
	k, err := s.kindOf(typ, urn)
	if err != nil {
		return nil, ctx, nil, err
	}
	ctx, done := s.operation(ctx, timeout)
	return k, ctx, done, nil
}

// Check validates the inputs before anything is touched.
func (s *Server) Check(ctx context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	k, ctx, done, err := s.begin(ctx, req.GetType(), req.GetUrn(), 0)
	if err != nil {
		return nil, err
	}
	defer done()
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	f, err := k.check(ctx, request{urn: req.GetUrn()}, news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: f.checkFailures()}, nil
}

// Diff compares the state with the new inputs.
func (s *Server) Diff(ctx context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	k, ctx, done, err := s.begin(ctx, req.GetType(), req.GetUrn(), 0)
	if err != nil {
		return nil, err
	}
	defer done()
	olds, news, err := oldsAndNews(req)
	if err != nil {
		return nil, err
	}
	c, err := k.diff(ctx, request{urn: req.GetUrn(), id: req.GetId()}, olds, news)
	if err != nil {
		return nil, err
	}
	return c.response(), nil
}

// Create makes the resource (in preview: says what it will be).
func (s *Server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	k, ctx, done, err := s.begin(ctx, req.GetType(), req.GetUrn(), req.GetTimeout())
	if err != nil {
		return nil, err
	}
	defer done()
	ins, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	state, id, err := k.create(ctx, request{urn: req.GetUrn(), preview: req.GetPreview()}, ins)
	if err != nil {
		return nil, err
	}
	st, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: st}, nil
}

// Update changes the resource in place.
func (s *Server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	k, ctx, done, err := s.begin(ctx, req.GetType(), req.GetUrn(), req.GetTimeout())
	if err != nil {
		return nil, err
	}
	defer done()
	olds, news, err := oldsAndNews(req)
	if err != nil {
		return nil, err
	}
	state, err := k.update(ctx, request{urn: req.GetUrn(), id: req.GetId(), preview: req.GetPreview()}, olds, news)
	if err != nil {
		return nil, err
	}
	st, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: st}, nil
}

// Read reports the resource as found: gone (empty id) or its state.
func (s *Server) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	k, ctx, done, err := s.begin(ctx, req.GetType(), req.GetUrn(), req.GetTimeout())
	if err != nil {
		return nil, err
	}
	defer done()
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	inputs, err := unmarshal(req.GetInputs())
	if err != nil {
		return nil, err
	}
	state, inputs, err = k.read(ctx, request{urn: req.GetUrn(), id: req.GetId()}, state, inputs)
	if err != nil || state == nil {
		return &pulumirpc.ReadResponse{}, err
	}
	st, err := marshal(state)
	if err != nil {
		return nil, err
	}
	in, err := marshal(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: st, Inputs: in}, nil
}

// Delete removes the resource.
func (s *Server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	k, ctx, done, err := s.begin(ctx, req.GetType(), req.GetUrn(), req.GetTimeout())
	if err != nil {
		return nil, err
	}
	defer done()
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, k.delete(ctx, request{urn: req.GetUrn(), id: req.GetId()}, state)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func stringOf(v resource.PropertyValue) string {
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
