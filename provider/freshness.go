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

	"airgap-site/bundle"
	"airgap-site/provider/contract"
)

// contract.AcceptedBundle keeps, in the stack's state and nowhere else, the highest bundle
// sequence an up accepted. Its Diff compares the bundle's sequence (read from the verified
// bundle.json) with the state's highestSequence: a lower one fails the Diff, so a preview
// fails, and so does an up before its Update (and before any Image, which all depend on it);
// allowDowngrade turns the failure into a warning for that up. The rules themselves are
// bundle.Stamp.Accept's.

// accepted is the kind of contract.AcceptedBundle.
type accepted struct{ s *Server }

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

func (k *accepted) check(_ context.Context, _ request, news resource.PropertyMap) (failures, error) {
	in := parseAccepted(news)
	f := failures{}
	switch {
	case in.SourceLayout == "" && !slices.Contains(in.unknown, "sourceLayout"):
		f.add("sourceLayout", "required: the bundle directory")
	case in.known():
		// What needs no state: the signature, the expiry and the sites. The sequence is
		// compared with the state's in Diff.
		if _, _, _, err := in.accept(0); err != nil {
			f.add("sourceLayout", "%v", err)
			break
		}
		// The images the stack takes from it, every byte: this runs on the default provider,
		// whose inputs are known at every preview, where the images' own Check may not run.
		b, _, err := k.s.bundles.open(in.SourceLayout, in.TrustedKeys, in.AllowUnsigned)
		if err != nil {
			f.add("sourceLayout", "%v", err)
			break
		}
		for _, ref := range in.Images {
			if err := verifyImage(b, ref); err != nil {
				f.add("images", "%v", err)
				break
			}
		}
	}
	return f, nil
}

// diff refuses a bundle below the state's highest sequence: the error fails a preview, and an
// up before anything that depends on the bundle runs.
func (k *accepted) diff(ctx context.Context, r request, olds, news resource.PropertyMap) (changes, error) {
	oldIn, newIn := parseAccepted(olds), parseAccepted(news)
	c := inputChanges(acceptedCompared, reflect.ValueOf(oldIn.AcceptedBundleArgs), reflect.ValueOf(newIn.AcceptedBundleArgs), newIn.unknown)
	if !newIn.known() {
		c.output("sequence")
		return c, nil
	}
	out, warning, note, err := newIn.accept(highestOf(olds))
	if err != nil {
		return c, err
	}
	k.report(ctx, r.urn, warning, note)
	if v, _ := resolve(olds["manifest"]); stringOf(v) != out.Manifest {
		c.output("manifest")
	}
	if v, _ := resolve(olds["sequence"]); !v.IsNumber() || int(v.NumberValue()) != out.Sequence {
		c.output("sequence")
	}
	return c, nil
}

// acceptedCompared are the inputs whose change is a change of the accepted bundle. The trust
// (trustedKeys, allowUnsigned) is how the bundle is verified, not what is accepted: Diff verifies
// with the new trust every time (a bundle it refuses fails the Diff), and a new key of the
// office is a change of the site's provider alone. The images are checked (Check), not compared:
// adding an image to a site is one create.
var acceptedCompared = slices.DeleteFunc(slices.Clone(contract.AcceptedBundle.Inputs), func(p contract.Property) bool {
	return p.Name == "trustedKeys" || p.Name == "allowUnsigned" || p.Name == "images"
})

func (k *accepted) report(ctx context.Context, urn, warning, note string) {
	if warning != "" {
		k.s.warn(ctx, urn, "%s", warning)
	}
	if note != "" {
		k.s.info(ctx, urn, "%s", note)
	}
}

// state accepts the bundle of ins against highest and returns the state: the inputs and the
// outputs; a preview with inputs not known yet leaves the outputs unknown.
func (k *accepted) state(ctx context.Context, r request, ins resource.PropertyMap, highest int64) (resource.PropertyMap, error) {
	in := parseAccepted(ins)
	outs := ins.Copy()
	if !in.known() {
		if !r.preview {
			return nil, fmt.Errorf("accepting the bundle: inputs not known: %v", in.unknown)
		}
		computedOutputs(outs, contract.AcceptedBundle)
		return outs, nil
	}
	out, warning, note, err := in.accept(highest)
	if err != nil {
		return nil, err
	}
	k.report(ctx, r.urn, warning, note)
	if !r.preview {
		k.s.info(ctx, r.urn, "accepted the bundle %s: sequence %d (the highest accepted: %d)", in.SourceLayout, out.Sequence, out.HighestSequence)
	}
	maps.Copy(outs, encode(contract.AcceptedBundle.Outputs, out))
	return outs, nil
}

func (k *accepted) create(ctx context.Context, r request, ins resource.PropertyMap) (resource.PropertyMap, string, error) {
	state, err := k.state(ctx, r, ins, 0)
	if err != nil || r.preview {
		return state, "", err
	}
	return state, "accepted-bundle", nil
}

// update checks the bundle against the state's highest sequence again (the bundle may have
// changed since the Diff) and records it.
func (k *accepted) update(ctx context.Context, r request, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	return k.state(ctx, r, news, highestOf(olds))
}

// read returns the state: it lives nowhere else.
func (k *accepted) read(_ context.Context, _ request, state, inputs resource.PropertyMap) (resource.PropertyMap, resource.PropertyMap, error) {
	return state, inputs, nil
}

// delete forgets the state.
func (k *accepted) delete(context.Context, request, resource.PropertyMap) error { return nil }
