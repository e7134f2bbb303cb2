//go:build e2e

package tests

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"airgap-site/components/registry"
)

// envValue is the value of name in a KEY=VALUE environment.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// testS3LeastPrivilege checks the S3 identities the deployed endpoints use: the pull
// Deployment's key is the test bed's read-only user, which the S3 server lets read the
// bucket and refuses every write; only the push Deployment's key writes. The attacker is a
// compromised pull pod: it holds the pull key and tries to put, overwrite and delete blobs.
func testS3LeastPrivilege(t *testing.T, pull, push deployed) {
	t.Helper()
	ctx := context.Background()
	site := e2e.site
	pullKey, pushKey := envValue(pull.env, registry.EnvAccessKey), envValue(push.env, registry.EnvAccessKey)
	if pullKey != site.PullAccessKey || pushKey == pullKey {
		t.Fatalf("pull Deployment's S3 key %q, push Deployment's %q: want the read-only user %q for pulls alone", pullKey, pushKey, site.PullAccessKey)
	}
	asPull, err := site.S3ClientAs(pullKey, envValue(pull.env, registry.EnvSecretKey))
	if err != nil {
		t.Fatal(err)
	}
	asPush, err := site.S3ClientAs(pushKey, envValue(push.env, registry.EnvSecretKey))
	if err != nil {
		t.Fatal(err)
	}
	// A blob the push endpoint wrote: the pull identity reads it.
	var blob string
	for o := range asPull.ListObjects(ctx, site.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("the pull identity cannot list the bucket: %v", o.Err)
		}
		if strings.HasSuffix(o.Key, "/data") {
			blob = o.Key
			break
		}
	}
	if blob == "" {
		t.Fatal("no blob in the bucket to read")
	}
	obj, err := asPull.GetObject(ctx, site.Bucket, blob, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	original, err := io.ReadAll(obj)
	if err != nil || len(original) == 0 {
		t.Fatalf("the pull identity cannot read %s: %v", blob, err)
	}

	denied := func(what string, err error) {
		t.Helper()
		if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
			t.Errorf("%s with the pull identity: %v (code %q), want AccessDenied from S3", what, err, code)
		}
	}
	probe := "airgap-pull-write-probe"
	_, err = asPull.PutObject(ctx, site.Bucket, probe, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
	denied("PUT of a new object", err)
	_, err = asPull.PutObject(ctx, site.Bucket, blob, bytes.NewReader([]byte("tampered")), 8, minio.PutObjectOptions{})
	denied("overwriting a blob", err)
	denied("deleting a blob", asPull.RemoveObject(ctx, site.Bucket, blob, minio.RemoveObjectOptions{}))
	obj, err = asPush.GetObject(ctx, site.Bucket, blob, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after, err := io.ReadAll(obj); err != nil || !bytes.Equal(after, original) {
		t.Errorf("blob %s changed after the refused writes (%v)", blob, err)
	}
	// Control: the same PUT with the push identity goes through, so the refusal above is the
	// policy's, not a broken request.
	if _, err := asPush.PutObject(ctx, site.Bucket, probe, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Errorf("PUT with the push identity: %v", err)
	} else if err := asPush.RemoveObject(ctx, site.Bucket, probe, minio.RemoveObjectOptions{}); err != nil {
		t.Errorf("removing the probe: %v", err)
	}
}

// testNetworkPolicies checks that the API server accepted the registry's NetworkPolicy as
// rendered: the registry port open, the debug port only to the nodes' addresses. Whether the
// policy binds depends on the CNI (the test bed's real node runs the bridge plugin, which
// enforces none): this proves the object, not the enforcement.
func testNetworkPolicies(t *testing.T, cs *kubernetes.Clientset, nodeIPs []string) {
	t.Helper()
	np, err := cs.NetworkingV1().NetworkPolicies(namespace).Get(context.Background(), registry.NetworkPolicyName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the registry's NetworkPolicy is not in the cluster: %v", err)
	}
	want, err := registry.RenderNetworkPolicy(registry.NetworkPolicyInput{Site: np.Labels["app.kubernetes.io/instance"], Namespace: namespace, NodeIPs: nodeIPs})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(np.Spec, want.Spec) {
		t.Errorf("NetworkPolicy in the cluster:\n%+v\nwant:\n%+v", np.Spec, want.Spec)
	}
}
