package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"

	"airgap-site/bundle"
	"airgap-site/provider/contract"
)

// contract.AcceptedBundle keeps, in the stack's state and nowhere else, the highest bundle
// sequence an up accepted. Its Diff compares the bundle's sequence (read from the verified
// bundle.json) with the state's highestSequence: a lower one fails the Diff, so a preview
// fails, and so does an up before its Update (and before any Image, which all depend on it);
// allowDowngrade turns the failure into a warning for that up. The rules themselves are
// bundle.Stamp.Accept's.

// isAccepted reports whether a request is for an AcceptedBundle, by its type or, when the
// engine sends none (Read, Delete), its URN.
func isAccepted(typ, urn string) bool {
	if typ == "" && resource.URN(urn).IsValid() {
		typ = string(resource.URN(urn).Type())
	}
	return typ == contract.AcceptedBundleToken
}

// acceptedInputs are the decoded inputs of contract.AcceptedBundle.
type acceptedInputs struct {
	contract.AcceptedBundleArgs
	unknown []string
}

func parseAccepted(m resource.PropertyMap) acceptedInputs {
	var in acceptedInputs
	in.unknown = decode(m, contract.AcceptedBundle.Inputs, &in.AcceptedBundleArgs)
	return in
}

func (in acceptedInputs) known() bool { return len(in.unknown) == 0 }

// now is the clock expiry is judged by; tests set it.
var now = time.Now

// accept opens the bundle verified and applies bundle.Stamp.Accept against highest, the
// highest sequence accepted before (0: none). A downgrade with allowDowngrade set passes,
// with a warning; notes are for the log.
func (in acceptedInputs) accept(highest int64) (out contract.AcceptedBundleOutputs, warning, note string, err error) {
	trust, err := trustOf(in.TrustedKeys, in.AllowUnsigned)
	if err != nil {
		return out, "", "", err
	}
	b, key, err := bundle.OpenVerified(in.SourceLayout, trust)
	if err != nil {
		return out, "", "", err
	}
	st := b.Stamp()
	err = st.Accept(in.Site, highest, now())
	var down *bundle.DowngradeError
	switch {
	case errors.As(err, &down) && in.AllowDowngrade:
		warning = fmt.Sprintf("accepting the bundle %s with sequence %d, lower than %d, the highest this site accepted, because images.allowDowngrade is set: "+
			"images may go back to older digests; %d stays the highest, so unset images.allowDowngrade after this up", in.SourceLayout, down.Sequence, down.Highest, down.Highest)
	case err != nil:
		return out, "", "", fmt.Errorf("bundle %s: %w", in.SourceLayout, err)
	}
	if st.Sequence == 0 {
		note = fmt.Sprintf("the bundle %s carries no sequence (made by airgap bundle before 0.4): it counts as sequence 0, below every bundle that has one; make a new bundle", in.SourceLayout)
	}
	out = contract.AcceptedBundleOutputs{
		Sequence:        int(st.Sequence),
		HighestSequence: int(max(highest, st.Sequence)),
		Manifest:        b.ManifestDigest(),
		SignedBy:        key.ID,
	}
	if !st.CreatedAt.IsZero() {
		out.CreatedAt = st.CreatedAt.UTC().Format(time.RFC3339)
	}
	return out, warning, note, nil
}

// highestOf is the highest sequence a state recorded; 0 for none.
func highestOf(state resource.PropertyMap) int64 {
	v, _ := resolve(state["highestSequence"])
	if !v.IsNumber() {
		return 0
	}
	return int64(v.NumberValue())
}

func (s *Server) checkAccepted(req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	in := parseAccepted(news)
	var failures []*pulumirpc.CheckFailure
	switch {
	case in.SourceLayout == "" && !slices.Contains(in.unknown, "sourceLayout"):
		failures = append(failures, &pulumirpc.CheckFailure{Property: "sourceLayout", Reason: "required: the bundle directory"})
	case in.known():
		// What needs no state: the signature, the expiry and the sites. The sequence is
		// compared with the state's in Diff.
		if _, _, _, err := in.accept(0); err != nil {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "sourceLayout", Reason: err.Error()})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// diffAccepted refuses a bundle below the state's highest sequence: the error fails a preview,
// and an up before anything that depends on the bundle runs.
func (s *Server) diffAccepted(ctx context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, news, err := oldsAndNews(req)
	if err != nil {
		return nil, err
	}
	oldIn, newIn := parseAccepted(olds), parseAccepted(news)
	detailed := map[string]*pulumirpc.PropertyDiff{}
	oldV, newV := reflect.ValueOf(oldIn.AcceptedBundleArgs), reflect.ValueOf(newIn.AcceptedBundleArgs)
	for _, p := range contract.AcceptedBundle.Inputs {
		if slices.Contains(newIn.unknown, p.Name) || !reflect.DeepEqual(oldV.FieldByIndex(p.Field).Interface(), newV.FieldByIndex(p.Field).Interface()) {
			detailed[p.Name] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE, InputDiff: true}
		}
	}
	if newIn.known() {
		out, warning, note, err := newIn.accept(highestOf(olds))
		if err != nil {
			return nil, err
		}
		if warning != "" {
			s.warn(ctx, req.GetUrn(), "%s", warning)
		}
		if note != "" {
			s.info(ctx, req.GetUrn(), "%s", note)
		}
		if v, _ := resolve(olds["manifest"]); stringOf(v) != out.Manifest {
			detailed["manifest"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE}
		}
		if v, _ := resolve(olds["sequence"]); !v.IsNumber() || int(v.NumberValue()) != out.Sequence {
			detailed["sequence"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE}
		}
	} else {
		detailed["sequence"] = &pulumirpc.PropertyDiff{Kind: pulumirpc.PropertyDiff_UPDATE}
	}
	if len(detailed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: slices.Sorted(maps.Keys(detailed)),
		DetailedDiff: detailed, HasDetailedDiff: true,
	}, nil
}

// acceptedOutputs accepts the bundle of ins against highest and returns the state: the inputs
// and the outputs; a preview with inputs not known yet leaves the outputs unknown.
func (s *Server) acceptedOutputs(ctx context.Context, urn string, ins resource.PropertyMap, highest int64, preview bool) (resource.PropertyMap, error) {
	in := parseAccepted(ins)
	outs := ins.Copy()
	if !in.known() {
		if !preview {
			return nil, fmt.Errorf("accepting the bundle: inputs not known: %v", in.unknown)
		}
		for _, p := range contract.AcceptedBundle.Outputs {
			outs[resource.PropertyKey(p.Name)] = resource.MakeComputed(resource.NewStringProperty(""))
		}
		return outs, nil
	}
	out, warning, note, err := in.accept(highest)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		s.warn(ctx, urn, "%s", warning)
	}
	if note != "" {
		s.info(ctx, urn, "%s", note)
	}
	if !preview {
		s.info(ctx, urn, "accepted the bundle %s: sequence %d (the highest accepted: %d)", in.SourceLayout, out.Sequence, out.HighestSequence)
	}
	maps.Copy(outs, encode(contract.AcceptedBundle.Outputs, out))
	return outs, nil
}

func (s *Server) createAccepted(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	ins, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs, err := s.acceptedOutputs(ctx, req.GetUrn(), ins, 0, req.GetPreview())
	if err != nil {
		return nil, err
	}
	st, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	id := ""
	if !req.GetPreview() {
		id = "accepted-bundle"
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: st}, nil
}

// updateAccepted checks the bundle against the state's highest sequence again (the bundle may
// have changed since the Diff) and records it.
func (s *Server) updateAccepted(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, news, err := oldsAndNews(req)
	if err != nil {
		return nil, err
	}
	outs, err := s.acceptedOutputs(ctx, req.GetUrn(), news, highestOf(olds), req.GetPreview())
	if err != nil {
		return nil, err
	}
	st, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: st}, nil
}

// readAccepted returns the state: it lives nowhere else.
func (s *Server) readAccepted(req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// deleteAccepted forgets the state.
func (s *Server) deleteAccepted() (*emptypb.Empty, error) { return &emptypb.Empty{}, nil }
