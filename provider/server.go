package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
	"airgap-site/provider/siteregistry"
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
	// health remembers failed endpoints across the operations of the process.
	health *siteregistry.Health
	// backoff bounds the waits between tries (Initial, Max); each image's retryFor gives For.
	backoff siteregistry.Policy
	// written are the tags this process wrote, with the syncedAt of each write: see Delete.
	written *writes
	// stop ends every operation in flight when the engine calls Cancel.
	stop   context.Context
	cancel context.CancelCauseFunc
}

// New returns a provider server reporting through log (nil: silent).
func New(log Logger) *Server {
	stop, cancel := context.WithCancelCause(context.Background())
	return &Server{
		log: log, known: imagesync.NewKnown(), health: siteregistry.NewHealth(),
		backoff: siteregistry.Policy{Initial: siteregistry.DefaultInitial, Max: siteregistry.DefaultMax},
		written: &writes{}, stop: stop, cancel: cancel,
	}
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

// retrying runs an operation of the resource urn against addrs, with in's retry budget.
// Failed tries show in the status line as they happen; one that was ridden out is reported
// once, as a warning, by done.
func (s *Server) retrying(ctx context.Context, urn string, in imageInputs, addrs []string) (siteregistry.Endpoints, func(what, ep string)) {
	p := s.backoff
	p.For = in.retryFor()
	var failed int
	var last error
	e := siteregistry.Endpoints{Addrs: addrs, Policy: p, Health: s.health, OnFailure: func(ep string, err error) {
		failed, last = failed+1, &siteregistry.Error{Endpoint: ep, Err: err}
		s.status(ctx, urn, "%v; trying again", last)
	}}
	done := func(what, ep string) {
		if failed > 0 {
			s.warn(ctx, urn, "%s: served by %s after %d failed %s; the last: %v", what, ep, failed, plural(failed, "try", "tries"), last)
		}
	}
	return e, done
}

// atSite runs op against the site registry's endpoints, in order, with in's retry budget: op
// gets the image's tag at one endpoint and the options to reach it. It returns the endpoint
// that served; failures ridden out on the way are reported once, as a warning about
// what (a verb: "copying") and the image's label.
func (s *Server) atSite(ctx context.Context, urn string, in imageInputs, what string, op func(ctx context.Context, t name.Tag, opts []remote.Option) error) (string, error) {
	endpoints, done := s.retrying(ctx, urn, in, in.Endpoints)
	ep, err := endpoints.Do(ctx, func(ctx context.Context, ep string) error {
		t, err := in.target(ep)
		if err != nil {
			return err
		}
		opts, err := in.remoteOptions(ctx)
		if err != nil {
			return err
		}
		return op(ctx, t, opts)
	})
	if err != nil {
		return "", err
	}
	done(what+" "+in.label(), ep)
	return ep, nil
}

// atSource runs op against the source registry of a sourceRemote, with in's retry budget: op
// gets the source's reference and the options to reach it.
func (s *Server) atSource(ctx context.Context, urn string, in imageInputs, op func(ref name.Reference, opts []remote.Option) error) error {
	ref, err := in.sourceRef()
	if err != nil {
		return err
	}
	endpoints, _ := s.retrying(ctx, urn, in, []string{ref.Context().RegistryStr()})
	_, err = endpoints.Do(ctx, func(ctx context.Context, _ string) error {
		opts, err := in.remoteOptions(ctx)
		if err != nil {
			return err
		}
		return op(ref, opts)
	})
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// checkType admits an Image; the access resources are dispatched before (localOf).
func checkType(t string) error {
	if t != contract.ImageToken {
		return status.Errorf(codes.InvalidArgument, "unknown resource type %q", t)
	}
	return nil
}

// Check validates references and that the bundle holds the image, before anything is copied.
func (s *Server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if isAccepted(req.GetType(), req.GetUrn()) {
		return s.checkAccepted(req)
	}
	if l, ok := localOf(req.GetType(), req.GetUrn()); ok {
		return s.checkLocal(l, req)
	}
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

// Diff compares the inputs as they act (defaults applied, a state of provider 0.1 read as
// today's), and the source's digest, read offline from the bundle, with the digest in state.
// Only a new repository or tag replaces: the endpoints are addresses of the same registry.
func (s *Server) Diff(ctx context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if isAccepted(req.GetType(), req.GetUrn()) {
		return s.diffAccepted(ctx, req)
	}
	if l, ok := localOf(req.GetType(), req.GetUrn()); ok {
		return s.diffLocal(ctx, l, req)
	}
	ctx, done := s.operation(ctx, 0)
	defer done()
	olds, news, err := oldsAndNews(req)
	if err != nil {
		return nil, err
	}
	oldIn, newIn := parseInputs(olds), parseInputs(news)
	oldV, newV := reflect.ValueOf(oldIn.effective()), reflect.ValueOf(newIn.effective())
	detailed := map[string]*pulumirpc.PropertyDiff{}
	var replaces []string
	for _, p := range contract.Image.Inputs {
		if !newIn.isUnknown(p.Name) && reflect.DeepEqual(oldV.FieldByIndex(p.Field).Interface(), newV.FieldByIndex(p.Field).Interface()) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		if p.Replace {
			kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
			replaces = append(replaces, p.Name)
		}
		detailed[p.Name] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	// The content: the bundle's digest against the digest the registry had at the last
	// up or refresh. A refresh that found the tag moved makes this differ.
	if newIn.sourceKnown() {
		want, err := s.sourceDigest(ctx, req.GetUrn(), newIn)
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
	if isAccepted(req.GetType(), req.GetUrn()) {
		return s.createAccepted(ctx, req)
	}
	if l, ok := localOf(req.GetType(), req.GetUrn()); ok {
		return s.createLocal(ctx, l, req)
	}
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	ctx, done := s.operation(ctx, req.GetTimeout())
	defer done()
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

// Update copies the image again; only what the registry lacks is sent. New endpoints land
// here too: the image is re-verified through them, and nothing is deleted.
func (s *Server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if isAccepted(req.GetType(), req.GetUrn()) {
		return s.updateAccepted(ctx, req)
	}
	if l, ok := localOf(req.GetType(), req.GetUrn()); ok {
		return s.updateLocal(l, req)
	}
	ctx, done := s.operation(ctx, req.GetTimeout())
	defer done()
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
		if in.sourceKnown() {
			if d, err := s.sourceDigest(ctx, urn, in); err == nil {
				outs["digest"] = resource.NewStringProperty(d)
			}
		}
		st, err := marshal(outs)
		return st, "", err
	}
	if failures := in.validate(); len(failures) > 0 {
		return nil, "", fmt.Errorf("invalid inputs: %v", failures)
	}
	src, err := s.source(ctx, urn, in)
	if err != nil {
		return nil, "", fmt.Errorf("opening source of %s: %w", in.label(), err)
	}
	attached, err := bundleAttachments(in, src)
	if err != nil {
		return nil, "", fmt.Errorf("opening source of %s: %w", in.label(), err)
	}
	syncedAt := time.Now().UTC().Format(time.RFC3339Nano)
	// Before the copy: a tag this process may have written must not be deleted by another
	// resource's Delete, even if the copy fails after the tag was put.
	s.written.add(in.label(), syncedAt)
	start := time.Now()
	res, target, ep, err := s.copy(ctx, urn, in, src, attached)
	if err != nil {
		return nil, "", fmt.Errorf("copying %s to the site registry: %w", in.label(), err)
	}
	s.info(ctx, urn, "%s@%s via %s: %d blobs uploaded, %d mounted, %d already there; %s sent of %s in %.1fs",
		in.label(), res.Digest, ep, res.BlobsUploaded, res.BlobsMounted, res.BlobsExisting, mb(res.SentBytes), mb(res.TotalBytes),
		time.Since(start).Seconds())
	if len(attached) > 0 {
		s.info(ctx, urn, "%s: %d attached %s (signatures, attestations, referrers) copied beside it, kept when it is deleted",
			in.label(), len(attached), plural(len(attached), "artifact", "artifacts"))
	}
	maps.Copy(outs, encode(contract.Image.Outputs, contract.ImageOutputs{
		Digest:     res.Digest.String(),
		MediaType:  string(res.MediaType),
		Platforms:  res.Platforms,
		TotalBytes: float64(res.TotalBytes),
		SentBytes:  float64(res.SentBytes),
		Ref:        target.String(),
		Endpoint:   ep,
		SyncedAt:   syncedAt,
	}))
	st, err := marshal(outs)
	return st, target.String(), err
}

// copy copies src, then what is attached to it, through the first endpoint that serves. The
// result's SentBytes and BlobsUploaded cover every try, each blob sent by several tries counted
// once.
func (s *Server) copy(ctx context.Context, urn string, in imageInputs, src imagesync.Source, attached []imagesync.Attachment) (*imagesync.Result, name.Tag, string, error) {
	sent := imagesync.Sizes{}
	var uploaded int
	var res *imagesync.Result
	var target name.Tag
	ep, err := s.atSite(ctx, urn, in, "copying", func(ctx context.Context, t name.Tag, opts []remote.Option) error {
		s.status(ctx, urn, "copying to %s ...", t)
		o := imagesync.Options{
			Jobs:      in.jobs(),
			MountFrom: in.mountRepos(),
			Remote:    opts,
			Known:     s.known,
			Site:      in.site(),
			Progress: func(streamed, total int64) {
				s.status(ctx, urn, "copying to %s: %s of at most %s sent", t, mb(streamed), mb(total))
			},
		}
		r, err := imagesync.Copy(ctx, src, t, o)
		if r != nil {
			sent.Add(r.Sent)
			uploaded += r.BlobsUploaded
		}
		res, target = r, t
		if err != nil || len(attached) == 0 {
			return err
		}
		// After the image, in the same try: a retry copies both, skipping what is there.
		a, err := imagesync.CopyAttached(ctx, attached, t, r.Digest, o)
		if a != nil {
			sent.Add(a.Sent)
			uploaded += a.BlobsUploaded
		}
		return err
	})
	if err != nil {
		return nil, name.Tag{}, "", err
	}
	res.Sent, res.SentBytes, res.BlobsUploaded = sent, sent.Bytes(), uploaded
	return res, target, ep, nil
}

// bundleAttachments reads what the bundle carries beside the image (imagesync.BundleAttachments);
// a source registry's are not copied.
func bundleAttachments(in imageInputs, src imagesync.Source) ([]imagesync.Attachment, error) {
	if in.SourceRemote != "" {
		return nil, nil
	}
	d, err := src.Digest()
	if err != nil {
		return nil, err
	}
	b, err := in.openBundle()
	if err != nil {
		return nil, err
	}
	return imagesync.AttachmentsOf(b, in.SourceRef, d)
}

// source opens what to copy: the bundle, offline, or a source registry, with retries.
func (s *Server) source(ctx context.Context, urn string, in imageInputs) (imagesync.Source, error) {
	if in.SourceRemote == "" {
		return in.bundleSource()
	}
	var src imagesync.Source
	err := s.atSource(ctx, urn, in, func(ref name.Reference, opts []remote.Option) error {
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return fmt.Errorf("reading %s: %w", ref, err)
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			src = imagesync.Source{Index: idx}
			return err
		}
		img, err := desc.Image()
		src = imagesync.Source{Image: img}
		return err
	})
	return src, err
}

// sourceDigest is the source's digest: read offline from the bundle (or with one HEAD from a
// source registry, with retries).
func (s *Server) sourceDigest(ctx context.Context, urn string, in imageInputs) (string, error) {
	if in.SourceRemote == "" {
		return in.bundleDigest()
	}
	var digest string
	err := s.atSource(ctx, urn, in, func(ref name.Reference, opts []remote.Option) error {
		desc, err := remote.Head(ref, opts...)
		if err != nil {
			return fmt.Errorf("reading %s: %w", ref, err)
		}
		digest = desc.Digest.String()
		return nil
	})
	return digest, err
}

// Read reports what the registry holds under the tag: gone (empty id) or its digest, which a
// following up compares with the bundle.
func (s *Server) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if isAccepted("", req.GetUrn()) {
		return s.readAccepted(req)
	}
	if _, ok := localOf(req.GetType(), req.GetUrn()); ok {
		return s.readLocal(req)
	}
	ctx, done := s.operation(ctx, req.GetTimeout())
	defer done()
	state, in, err := fromState(req.GetProperties())
	if err != nil {
		return nil, err
	}
	var desc *v1.Descriptor
	var target name.Tag
	ep, err := s.atSite(ctx, req.GetUrn(), in, "reading", func(_ context.Context, t name.Tag, opts []remote.Option) error {
		d, err := remote.Head(t, opts...)
		if err != nil && !notFound(err) {
			return fmt.Errorf("reading %s: %w", t, err)
		}
		desc, target = d, t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", in.label(), err)
	}
	if desc == nil {
		s.info(ctx, req.GetUrn(), "%s is gone from the registry", target)
		return &pulumirpc.ReadResponse{}, nil
	}
	if old, _ := resolve(state["digest"]); old.IsString() && old.StringValue() != desc.Digest.String() {
		s.info(ctx, req.GetUrn(), "%s now points at %s (was %s)", target, desc.Digest, old.StringValue())
	}
	state["digest"] = resource.NewStringProperty(desc.Digest.String())
	state["endpoint"] = resource.NewStringProperty(ep)
	state["ref"] = resource.NewStringProperty(target.String())
	outs, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: outs, Inputs: req.GetInputs()}, nil
}

// Delete removes the tag, and nothing else, unless retain is set or the tag is not this
// resource's any more:
//   - this process wrote the same repository:tag for another instance (a forced replacement,
//     which the engine creates before it deletes the old one, or a renamed resource): the
//     delete would remove what the create just wrote;
//   - the tag points at another digest than the one recorded: someone else wrote it.
//
// What remains: a renamed resource whose up was interrupted between the create and the
// delete of the old name deletes, in the next up, a tag the new one holds with the same
// digest; a refresh shows it gone and the following up restores it.
func (s *Server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if isAccepted("", req.GetUrn()) {
		return s.deleteAccepted()
	}
	if _, ok := localOf(req.GetType(), req.GetUrn()); ok {
		return s.deleteLocal()
	}
	ctx, done := s.operation(ctx, req.GetTimeout())
	defer done()
	state, in, err := fromState(req.GetProperties())
	if err != nil {
		return nil, err
	}
	urn := req.GetUrn()
	if in.Retain {
		s.info(ctx, urn, "retaining %s in the registry", in.label())
		return &emptypb.Empty{}, nil
	}
	syncedAt, _ := resolve(state["syncedAt"])
	if s.written.byOther(in.label(), stringOf(syncedAt)) {
		s.warn(ctx, urn, "keeping %s: this update wrote it for another resource (a replacement or a renamed resource with the same repository and tag)", in.label())
		return &emptypb.Empty{}, nil
	}
	recorded, _ := resolve(state["digest"])
	var d imagesync.Deletion
	_, err = s.atSite(ctx, urn, in, "deleting", func(_ context.Context, t name.Tag, opts []remote.Option) error {
		var err error
		d, err = imagesync.DeleteTag(t, stringOf(recorded), opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deleting %s: %w", in.label(), err)
	}
	switch {
	case d.Kept != "":
		s.warn(ctx, urn, "keeping %s: %s", in.label(), d.Kept)
	case d.Gone:
		s.info(ctx, urn, "%s was already gone from the registry", in.label())
	case d.ByDigest:
		s.info(ctx, urn, "deleted %s by digest: the registry does not delete tags, and no other tag pointed at its manifest", in.label())
	default:
		s.info(ctx, urn, "deleted %s", in.label())
	}
	return &emptypb.Empty{}, nil
}

// fromState decodes a resource's state and its inputs.
func fromState(props *structpb.Struct) (resource.PropertyMap, imageInputs, error) {
	state, err := unmarshal(props)
	if err != nil {
		return nil, imageInputs{}, err
	}
	return state, parseInputs(state), nil
}

func stringOf(v resource.PropertyValue) string {
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// writes are the tags this process wrote, each with the syncedAt of its writes in order.
type writes struct {
	mu sync.Mutex
	m  map[string][]string
}

func (w *writes) add(label, syncedAt string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string][]string{}
	}
	w.m[label] = append(w.m[label], syncedAt)
}

// byOther reports whether the last write of label in this process was not the one at
// syncedAt: the instance being deleted is not the one that holds the tag now.
func (w *writes) byOther(label, syncedAt string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	stamps := w.m[label]
	return len(stamps) > 0 && stamps[len(stamps)-1] != syncedAt
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
