package provider

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/provider/contract"
	"airgap-site/registrygc"
)

// collection is the kind of contract.GarbageCollection: whenever its after input increases
// (Retention deleted versions in this up), it runs registrygc.Collect in the site's cluster.
// Any other change of its inputs (a new kubeconfig) is an update that collects nothing.
type collection struct{ s *Server }

func parseCollection(m resource.PropertyMap) state[contract.GarbageCollectionArgs, contract.GarbageCollectionOutputs] {
	return decodeState[contract.GarbageCollectionArgs, contract.GarbageCollectionOutputs](m, contract.GarbageCollection)
}

func (k *collection) check(_ context.Context, _ request, news resource.PropertyMap) (failures, error) {
	st := parseCollection(news)
	f := failures{}
	f.required(contract.GarbageCollection.Inputs, reflect.ValueOf(st.In), st.unknown)
	if st.In.TimeoutSeconds < 0 {
		f.add("timeoutSeconds", "must be 0 (the default, %s) or more, not %d", registrygc.DefaultTimeout, st.In.TimeoutSeconds)
	}
	if st.In.Kubeconfig != "" {
		if _, err := registrygc.ClientFor(st.In.Kubeconfig, st.In.Context); err != nil {
			f.add("kubeconfig", "%v", err)
		}
	}
	return f, nil
}

func (k *collection) diff(_ context.Context, _ request, olds, news resource.PropertyMap) (changes, error) {
	o, n := parseCollection(olds), parseCollection(news)
	c := inputChanges(contract.GarbageCollection.Inputs, reflect.ValueOf(o.In), reflect.ValueOf(n.In), n.unknown)
	return c, nil
}

func (k *collection) create(ctx context.Context, r request, ins resource.PropertyMap) (resource.PropertyMap, string, error) {
	state, err := k.run(ctx, r, 0, contract.GarbageCollectionOutputs{}, ins)
	return state, "garbage-collection", err
}

func (k *collection) update(ctx context.Context, r request, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	o := parseCollection(olds)
	return k.run(ctx, r, o.In.After, o.Out, news)
}

// run collects when after went up from before, else keeps the last figures.
func (k *collection) run(ctx context.Context, r request, before int, last contract.GarbageCollectionOutputs, ins resource.PropertyMap) (resource.PropertyMap, error) {
	n := parseCollection(ins)
	state := ins.Copy()
	due := slices.Contains(n.unknown, "after") || n.In.After > before
	if !due {
		maps.Copy(state, encode(contract.GarbageCollection.Outputs, last))
		return state, nil
	}
	if r.preview {
		computedOutputs(state, contract.GarbageCollection)
		return state, nil
	}
	cs, err := registrygc.ClientFor(n.In.Kubeconfig, n.In.Context)
	if err != nil {
		return nil, err
	}
	res, err := registrygc.Collect(ctx, cs, registrygc.Options{
		Namespace: n.In.Namespace,
		Timeout:   time.Duration(n.In.TimeoutSeconds) * time.Second, // 0: registrygc's default
		Progress:  func(line string) { k.s.status(ctx, r.urn, "garbage collection: %s", line) },
	})
	if err != nil {
		return nil, fmt.Errorf("collecting the site registry's garbage: %w", err)
	}
	if res.Resumed {
		k.s.info(ctx, r.urn, "finished a garbage collection that had been interrupted")
	}
	k.s.info(ctx, r.urn, "garbage collection: %d blobs and %d manifests deleted in %.1fs; the push endpoint is back",
		res.BlobsDeleted, res.ManifestsDeleted, res.Duration.Seconds())
	maps.Copy(state, encode(contract.GarbageCollection.Outputs, contract.GarbageCollectionOutputs{
		CollectedAt:      time.Now().UTC().Format(time.RFC3339),
		BlobsDeleted:     max(res.BlobsDeleted, 0),
		ManifestsDeleted: max(res.ManifestsDeleted, 0),
		DurationSeconds:  res.Duration.Seconds(),
	}))
	return state, nil
}

func (k *collection) read(_ context.Context, _ request, state, inputs resource.PropertyMap) (resource.PropertyMap, resource.PropertyMap, error) {
	return state, inputs, nil
}

func (k *collection) delete(context.Context, request, resource.PropertyMap) error { return nil }
