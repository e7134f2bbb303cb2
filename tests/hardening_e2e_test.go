//go:build e2e

package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"airgap-site/components/objectstore"
	"airgap-site/components/registry"
	"airgap-site/siteconfig"
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
	// A blob the push endpoint wrote: the pull identity reads it. A committed blob
	// (blobs/sha256/…/data, content-addressed) never changes, while the tests running beside
	// this one write uploads (_uploads/…/data) that come and go.
	var blob string
	for o := range asPull.ListObjects(ctx, site.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("the pull identity cannot list the bucket: %v", o.Err)
		}
		if strings.Contains(o.Key, "/blobs/sha256/") && strings.HasSuffix(o.Key, "/data") {
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
func testNetworkPolicies(t *testing.T, cs *kubernetes.Clientset, namespace string, nodeIPs []string) {
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

// Flood parameters: what one unauthenticated host on the LAN sends (issue 17: at bcrypt cost
// 10, ~15 requests/s filled a core).
const (
	floodRate     = 200 // requests per second
	floodDuration = 6 * time.Second
	floodInFlight = 64
)

// testAuthFlood is the attack of an unauthenticated LAN host on the pull endpoint: floodRate
// requests/s, each with a Basic header naming the real pull user and a wrong password (an
// unknown user costs the registry no bcrypt), through the NodePort from the site network.
// During the flood a pull with the right password must keep working, quickly; every flood
// request is refused with 401. It measures the pull pods' CPU (crictl stats on the real node)
// and logs it. At bcrypt cost 10 the flood asks ~13 cores of the registry, which its CPU limit
// caps at one per pod: the pulls then time out.
func testAuthFlood(t *testing.T, cs *kubernetes.Clientset, pullPassword string) {
	t.Helper()
	pods := registryPods(t, cs)
	before := registryCPU(t, pods)
	start := time.Now()

	tr := nodeTransport()
	tr.DisableKeepAlives, tr.MaxIdleConnsPerHost = false, floodInFlight // a real attacker keeps its connections
	client := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	var sent, refused, failed atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		slots := make(chan struct{}, floodInFlight)
		tick := time.NewTicker(time.Second / floodRate)
		defer tick.Stop()
		deadline := time.After(floodDuration)
		for {
			select {
			case <-deadline:
				return
			case <-tick.C:
			}
			select {
			case slots <- struct{}{}:
			default:
				continue // the registry is not keeping up: this request is not sent
			}
			sent.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				req, _ := http.NewRequest(http.MethodGet, nodeRegistryURL("/v2/"), nil)
				req.SetBasicAuth(siteconfig.PullUser, "not-the-password-0123456789abcdef")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					refused.Add(1)
				} else {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, resp.Status)
				}
			}()
		}
	}()

	// Pulls during the flood, as a node's containerd starts one.
	time.Sleep(time.Second)
	var pulls []time.Duration
	for time.Since(start) < floodDuration-time.Second {
		t0 := time.Now()
		if err := pullThroughNodePort(appImage, pullPassword); err != nil {
			t.Errorf("pull during the flood: %v", err)
		}
		pulls = append(pulls, time.Since(t0).Round(time.Millisecond))
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := registryCPU(t, pods)

	var slowest time.Duration
	for _, d := range pulls {
		slowest = max(slowest, d)
	}
	rate := float64(sent.Load()) / floodDuration.Seconds()
	cores := float64(after-before) / float64(elapsed.Nanoseconds())
	t.Logf("flood: %d requests in %s (%.0f/s), %d refused with 401, %d failed (first: %v); pull pods' CPU %.3f cores over %s (%d pods); %d pulls during it, the slowest %s",
		sent.Load(), floodDuration, rate, refused.Load(), failed.Load(), firstFailure.Load(), cores, elapsed.Round(time.Millisecond), len(pods), len(pulls), slowest)
	if rate < 0.9*floodRate {
		t.Errorf("only %.0f requests/s were sent: the registry did not keep up with %d/s", rate, floodRate)
	}
	if failed.Load() > 0 {
		t.Errorf("%d flood requests were not answered 401 (first: %v)", failed.Load(), firstFailure.Load())
	}
	if len(pulls) == 0 {
		t.Error("no pull ran during the flood")
	}
	if slowest > 5*time.Second {
		t.Errorf("a pull during the flood took %s", slowest)
	}
}

// registryCPU is the CPU time, in nanoseconds, the registry containers of pods have used,
// from the real node's CRI (crictl stats: the containers' cgroup accounting).
func registryCPU(t *testing.T, pods []corev1.Pod) int64 {
	t.Helper()
	names := map[string]bool{}
	for _, p := range pods {
		names[p.Name] = true
	}
	out, err := crictlAt(e2e.site.NodeContainerdSocket, "stats", "-o", "json")
	if err != nil {
		t.Fatalf("crictl stats: %v: %s", err, out)
	}
	var doc struct {
		Stats []struct {
			Attributes struct {
				Labels map[string]string `json:"labels"`
			} `json:"attributes"`
			CPU struct {
				UsageCoreNanoSeconds struct {
					Value json.Number `json:"value"`
				} `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("crictl stats: %v: %s", err, out)
	}
	var total int64
	found := 0
	for _, s := range doc.Stats {
		l := s.Attributes.Labels
		if !names[l["io.kubernetes.pod.name"]] || l["io.kubernetes.container.name"] != registry.AppName {
			continue
		}
		n, err := strconv.ParseInt(strings.Trim(string(s.CPU.UsageCoreNanoSeconds.Value), `"`), 10, 64)
		if err != nil {
			t.Fatalf("crictl stats: CPU usage %q: %v", s.CPU.UsageCoreNanoSeconds.Value, err)
		}
		total += n
		found++
	}
	if found != len(pods) {
		t.Fatalf("crictl stats shows %d of the %d registry containers:\n%s", found, len(pods), out)
	}
	return total
}

// testTenantNetworkPolicy checks that the API server accepted the MinIO tenant's
// NetworkPolicy as rendered (S3 port only to the registry pods, the tenant, the operator and
// the nodes). Like the registry's, it proves the object, not its enforcement.
func testTenantNetworkPolicy(t *testing.T, cs *kubernetes.Clientset, site string, tenant siteconfig.Tenant, registryNamespace string, nodeIPs []string) {
	t.Helper()
	np, err := cs.NetworkingV1().NetworkPolicies(tenant.Namespace).Get(context.Background(), objectstore.TenantNetworkPolicyName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the tenant's NetworkPolicy is not in the cluster: %v", err)
	}
	want, err := objectstore.RenderTenantNetworkPolicy(objectstore.TenantPolicyInput{Site: site, Tenant: &tenant, RegistryNamespace: registryNamespace, NodeIPs: nodeIPs})
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(np.Spec, want.Spec) {
		t.Errorf("tenant NetworkPolicy in the cluster:\n%+v\nwant:\n%+v", np.Spec, want.Spec)
	}
}
