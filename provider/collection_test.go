package provider

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/provider/contract"
)

var collectionURN = urnOf(contract.GarbageCollectionToken, "gc")

// nowhere is a kubeconfig of a cluster that does not answer: a collection that ran would fail.
const nowhere = `apiVersion: v1
kind: Config
clusters: [{name: site, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: admin, user: {token: t}}]
contexts: [{name: site, context: {cluster: site, user: admin}}]
current-context: site
`

func collectionInputs(after int) resource.PropertyMap {
	return resource.PropertyMap{
		"kubeconfig": resource.MakeSecret(resource.NewStringProperty(nowhere)),
		"namespace":  resource.NewStringProperty("airgap-registry"),
		"after":      resource.NewNumberProperty(float64(after)),
	}
}

// TestCollectionRunsOnlyWhenDue: a collection runs when after went up, and only then; a
// preview of one plans it without reaching the cluster.
func TestCollectionRunsOnlyWhenDue(t *testing.T) {
	srv, ctx := &engine{New(nil)}, context.Background()
	create, err := srv.Create(ctx, &pulumirpc.CreateRequest{Type: contract.GarbageCollectionToken, Urn: collectionURN, Properties: props(t, collectionInputs(0))})
	if err != nil {
		t.Fatalf("a collection not due reached the cluster: %v", err)
	}
	olds, err := unmarshal(create.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		after int
		want  pulumirpc.DiffResponse_DiffChanges
	}{{"same", 0, pulumirpc.DiffResponse_DIFF_NONE}, {"deleted versions", 1, pulumirpc.DiffResponse_DIFF_SOME}} {
		resp, err := srv.Diff(ctx, &pulumirpc.DiffRequest{Type: contract.GarbageCollectionToken, Urn: collectionURN, Olds: props(t, olds), News: props(t, collectionInputs(tc.after))})
		if err != nil || resp.GetChanges() != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, resp.GetChanges(), err, tc.want)
		}
	}
	preview, err := srv.Update(ctx, &pulumirpc.UpdateRequest{Type: contract.GarbageCollectionToken, Urn: collectionURN, Olds: props(t, olds), News: props(t, collectionInputs(1)), Preview: true})
	if err != nil {
		t.Fatalf("the preview of a collection reached the cluster: %v", err)
	}
	planned, _ := unmarshal(preview.GetProperties())
	if !planned["collectedAt"].IsComputed() {
		t.Errorf("the preview of a due collection: collectedAt = %v, want unknown", planned["collectedAt"])
	}
	if _, err := srv.Update(ctx, &pulumirpc.UpdateRequest{Type: contract.GarbageCollectionToken, Urn: collectionURN, Olds: props(t, olds), News: props(t, collectionInputs(1))}); err == nil {
		t.Error("a due collection against a cluster that does not answer succeeded")
	}
}

func TestCollectionCheckNamesBadInputs(t *testing.T) {
	srv := &engine{New(nil)}
	bad := collectionInputs(0)
	bad["kubeconfig"] = resource.NewStringProperty("not: [a kubeconfig")
	delete(bad, "namespace")
	resp, err := srv.Check(context.Background(), &pulumirpc.CheckRequest{Type: contract.GarbageCollectionToken, Urn: collectionURN, News: props(t, bad)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range resp.GetFailures() {
		got[f.GetProperty()] = true
	}
	if !got["kubeconfig"] || !got["namespace"] {
		t.Errorf("failures %v, want kubeconfig and namespace", resp.GetFailures())
	}
}
