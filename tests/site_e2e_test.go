//go:build e2e

package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"airgap-site/components/registry"
	"airgap-site/siteconfig"
)

const (
	namespace = "airgap-registry"
	nodePort  = 32000
)

// TestKwokStack converges the dev stack on the kwok nodes and checks each promise of the skeleton, in
// order: up, what the cluster holds, the registry config working against real S3, a no-op
// second preview, no plaintext secret in state, and destroy.
func TestKwokStack(t *testing.T) {
	s := &e2e
	// The dev stack on the kwok nodes (makeProject): registries run by hand on its loopback
	// node addresses, against this run's S3 server.
	s.mustPulumi(t, "stack", "init", "kwok")
	s.mustPulumi(t, "config", "set", "-s", "kwok", "--path", "objectStore.endpoint", s.site.S3Endpoint)

	ok := t.Run("up", func(t *testing.T) {
		out := s.mustPulumi(t, "up", "-s", "kwok", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		t.Log(lastLines(out, 12))
		outputs := s.outputs(t, "kwok")
		endpoints, _ := outputs["registryEndpoints"].([]any)
		want := []any{"127.0.0.11:32000", "127.0.0.12:32000", "127.0.0.13:32000"}
		if fmt.Sprint(endpoints) != fmt.Sprint(want) {
			t.Errorf("registryEndpoints = %v, want %v", endpoints, want)
		}
		if outputs["registryNamespace"] != namespace || !strings.HasPrefix(fmt.Sprint(outputs["registryConfigDigest"]), "sha256:") {
			t.Errorf("outputs = %v", outputs)
		}
	})
	if !ok {
		t.FailNow()
	}
	cs := clientset(t)

	t.Run("cluster", func(t *testing.T) {
		ctx := context.Background()
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, "registry", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dep.Status.ReadyReplicas != 2 || *dep.Spec.Replicas != 2 {
			t.Errorf("deployment ready %d of %d, want 2 of 2", dep.Status.ReadyReplicas, *dep.Spec.Replicas)
		}
		svc, err := cs.CoreV1().Services(namespace).Get(ctx, "registry", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort != nodePort {
			t.Errorf("service %s nodePort %d, want NodePort %d", svc.Spec.Type, svc.Spec.Ports[0].NodePort, nodePort)
		}
		cfg := mountedConfig(t, cs, dep)
		for _, want := range []string{"disable: true", "forcepathstyle: true"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("ConfigMap config.yml lacks %q:\n%s", want, cfg)
			}
		}
		if strings.Contains(cfg, s.site.SecretKey) || strings.Contains(cfg, s.site.AccessKey) {
			t.Errorf("S3 credentials in the ConfigMap")
		}
		testNetworkPolicies(t, cs, []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"})
		pdb, err := cs.PolicyV1().PodDisruptionBudgets(namespace).Get(ctx, "registry", metav1.GetOptions{})
		if err != nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget: %v %v", err, pdb)
		}
	})

	access := readAccess(t, "kwok")

	t.Run("registry-on-s3", func(t *testing.T) {
		pull, push := deployedEndpoint(t, cs, registry.AppName), deployedEndpoint(t, cs, registry.PushName)
		pullAddr, pushAddr := startRegistryOnNode(t, pull.config, pull.env), startRegistryOnNode(t, push.config, push.env)
		img := pushRandom(t, pushAddr+"/docker.io/library/demo:1", access.push().options()...)
		// One bucket: what the push endpoint wrote, the pull endpoint serves.
		ref := pullAddr + "/docker.io/library/demo:1"
		assertPullable(t, ref, img, access.pull().options()...)
		assertBlobServedDirectly(t, access.pull(), pullAddr, "docker.io/library/demo", img, http.StatusOK)

		// Negative control: the same config with redirects on sends clients to presigned S3
		// URLs, which nodes outside the cluster network cannot reach.
		redirecting := startRegistryOnNode(t, strings.Replace(pull.config, "disable: true", "disable: false", 1), pull.env)
		assertBlobServedDirectly(t, access.pull(), redirecting, "docker.io/library/demo", img, http.StatusTemporaryRedirect)

		testRegistryAccess(t, access, pullAddr, pushAddr)
		testS3LeastPrivilege(t, pull, push)
	})

	t.Run("containerd-pulls-through-mirrors", func(t *testing.T) {
		testContainerdPulls(t, cs, s.secretOutputs(t, "kwok"), access)
	})

	t.Run("preview-no-changes", func(t *testing.T) {
		out, err := s.pulumi(t, "preview", "-s", "kwok", "--expect-no-changes", "--diff", "--policy-pack", s.policyPack)
		if err != nil {
			t.Fatalf("second preview reports changes or failed: %v\n%s", err, out)
		}
	})

	t.Run("no-plaintext-secrets-in-state", func(t *testing.T) {
		state := s.mustPulumi(t, "stack", "export", "-s", "kwok")
		for what, secret := range map[string]string{"the S3 secret key": s.site.SecretKey, "the S3 access key": s.site.AccessKey,
			"the S3 pull secret key": s.site.PullSecretKey,
			"the pull password":      access.pullPassword, "the push password": access.pushPassword, "a private key": "PRIVATE KEY"} {
			if strings.Contains(state, secret) {
				t.Errorf("state holds %s in plaintext", what)
			}
		}
		if !strings.Contains(state, "4dabf18193072939515e22adb298388d") { // the secret signature
			t.Errorf("state holds no secret value at all; were the credentials declared?")
		}
	})

	t.Run("preview-with-site-unreachable", func(t *testing.T) {
		// At the office: the API server is away, and the registry gets a third replica.
		if err := s.site.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		// The address must refuse connections before the preview: one run saw the site
		// reachable right after the stop (not reproduced since). Wait for it, then say who
		// still listens if it does not go away.
		addr := strings.TrimPrefix(s.site.APIServer, "https://")
		refused := waitFor(t, 15*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		if !refused {
			out, _ := exec.Command("ss", "-ltnp").CombinedOutput()
			t.Fatalf("the API server's address %s still answers 15 s after it was stopped:\n%s", addr, out)
		}
		defer func() {
			if err := s.site.StartAPIServer(context.Background()); err != nil {
				t.Fatalf("restarting the API server: %v", err)
			}
		}()
		s.mustPulumi(t, "config", "set", "-s", "kwok", "--path", "registry.replicas", "3")
		defer s.mustPulumi(t, "config", "set", "-s", "kwok", "--path", "registry.replicas", "2")
		out, err := s.pulumi(t, "preview", "-s", "kwok", "--diff", "--policy-pack", s.policyPack)
		if err != nil {
			t.Fatalf("preview with the site unreachable failed: %v\n%s", err, lastLines(out, 25))
		}
		for _, want := range []string{"the site is not reachable", "client-side", "replicas", "1 to update"} {
			if !strings.Contains(out, want) {
				t.Errorf("preview output lacks %q:\n%s", want, lastLines(out, 40))
			}
		}
		if t.Failed() {
			listening, _ := exec.Command("ss", "-ltnp").CombinedOutput()
			t.Logf("listening sockets after the preview (the API server was %s):\n%s", s.site.APIServer, listening)
		}
	})

	t.Run("destroy", func(t *testing.T) {
		s.mustPulumi(t, "destroy", "-s", "kwok", "--yes", "--skip-preview")
		ctx := context.Background()
		if _, err := cs.AppsV1().Deployments(namespace).Get(ctx, "registry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("deployment still there after destroy: %v", err)
		}
		if _, err := cs.CoreV1().Services(namespace).Get(ctx, "registry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("service still there after destroy: %v", err)
		}
		ns, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp == nil {
			t.Errorf("namespace %s still active after destroy", namespace)
		}
		out := s.mustPulumi(t, "stack", "export", "-s", "kwok")
		if strings.Contains(out, "kubernetes:apps/v1:Deployment") {
			t.Errorf("state still holds resources after destroy")
		}
	})
}

// TestTenantStack deploys a minio-tenant site: the real API server must accept the Tenant the
// renderer produces (the MinIO operator does not run here, so it is not awaited).
func TestTenantStack(t *testing.T) {
	// Parallel: its own stack, namespace, ports and registry; it stops nothing shared (see tests/doc.go).
	t.Parallel()
	s := &e2e
	s.mustPulumi(t, "stack", "init", "tenant")
	// Plain values go straight into the stack file `stack init` wrote; secrets go through
	// `config set --secret`, as a user would set them.
	stackFile := filepath.Join(s.project, "Pulumi.tenant.yaml")
	head, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	tenantConfig := `config:
  airgap-site:nodes:
    - {name: node-1, ip: 127.0.0.11, role: controlplane}
    - {name: node-2, ip: 127.0.0.12, role: worker}
    - {name: node-3, ip: 127.0.0.13, role: worker}
  airgap-site:registry: {namespace: tenant-registry, nodePort: 32006, image: ` + pinnedRegistryImage + `}
  airgap-site:objectStore:
    kind: minio-tenant
    tenant: {servers: 3, volumesPerServer: 2, size: 1Gi, image: ` + pinnedMinioImage + `}
`
	if err := os.WriteFile(stackFile, append(head, []byte(tenantConfig)...), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"s3AccessKey": "registry", "s3SecretKey": "registry-secret",
		"minioRootUser": "minio-admin", "minioRootPassword": "minio-root-password"} {
		s.mustPulumi(t, "config", "set", "-s", "tenant", "--secret", "airgap-site:"+k, v)
	}
	s.mustPulumi(t, "up", "-s", "tenant", "--yes", "--skip-preview")
	defer s.mustPulumi(t, "destroy", "-s", "tenant", "--yes", "--skip-preview")

	cfg, err := clientcmd.BuildConfigFromFlags("", s.site.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dc := dynamic.NewForConfigOrDie(cfg)
	tenant, err := dc.Resource(schema.GroupVersionResource{Group: "minio.min.io", Version: "v2", Resource: "tenants"}).
		Namespace("minio-tenant").Get(context.Background(), "minio", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Tenant not in the cluster: %v", err)
	}
	pools, _, _ := unstructured.NestedSlice(tenant.Object, "spec", "pools")
	if len(pools) != 1 || pools[0].(map[string]any)["servers"] != int64(3) || pools[0].(map[string]any)["volumesPerServer"] != int64(2) {
		t.Errorf("tenant pools = %v", pools)
	}
	autoCert, found, _ := unstructured.NestedBool(tenant.Object, "spec", "requestAutoCert")
	if !found || autoCert {
		t.Errorf("requestAutoCert = %v (found %v), want false", autoCert, found)
	}
	cs := clientset(t)
	for _, name := range []string{"minio-env-configuration", "minio-registry-user"} {
		if _, err := cs.CoreV1().Secrets("minio-tenant").Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("tenant secret %s: %v", name, err)
		}
	}
	dep, err := cs.AppsV1().Deployments("tenant-registry").Get(context.Background(), "registry", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg := mountedConfig(t, cs, dep); !strings.Contains(cfg, "regionendpoint: http://minio.minio-tenant.svc.cluster.local:80") {
		t.Errorf("registry is not pointed at the tenant:\n%s", cfg)
	}
	testTenantNetworkPolicy(t, cs, "tenant", siteconfig.DefaultTenant(), "tenant-registry", []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"})
}

func clientset(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := e2e.site.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// mountedConfig returns the config.yml of the ConfigMap the Deployment mounts.
func mountedConfig(t *testing.T, cs *kubernetes.Clientset, dep *appsv1.Deployment) string {
	t.Helper()
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm, err := cs.CoreV1().ConfigMaps(dep.Namespace).Get(context.Background(), v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["config.yml"]
	}
	t.Fatal("deployment mounts no ConfigMap")
	return ""
}

// secretEnv resolves the container's secretKeyRef environment the way the kubelet would.
func secretEnv(t *testing.T, cs *kubernetes.Clientset, dep *appsv1.Deployment) []string {
	t.Helper()
	var env []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			env = append(env, e.Name+"="+e.Value)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		sec, err := cs.CoreV1().Secrets(dep.Namespace).Get(context.Background(), ref.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, e.Name+"="+string(sec.Data[ref.Key]))
	}
	return env
}

// startRegistry runs the real registry binary with config.yml exactly as deployed, listening
// on a loopback port instead of the pod's :5000.
func startRegistry(t *testing.T, configYAML string, env []string) string {
	t.Helper()
	return startRegistryAt(t, configYAML, env, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
}

// startRegistryOnNode is startRegistry on a free port of the first kwok node's address, which
// the stack's serving certificate names.
func startRegistryOnNode(t *testing.T, configYAML string, env []string) string {
	t.Helper()
	return startRegistryAt(t, configYAML, env, fmt.Sprintf("127.0.0.11:%d", freePort(t)))
}

// startRegistryAt is startRegistry on a given address (a node's NodePort in the mirror tests).
func startRegistryAt(t *testing.T, configYAML string, env []string, addr string) string {
	t.Helper()
	runRegistry(t, configYAML, env, addr)
	return addr
}

// runRegistry starts the real registry binary with config.yml exactly as deployed, listening
// on addr instead of the pod's :5000 (and its debug listener on a free loopback port instead
// of :5001), waits until the health endpoint kubelet probes answers 200, and returns its stop
// function (safe to call twice). It is stopped when the test ends in any case.
func runRegistry(t *testing.T, configYAML string, env []string, addr string) (stop func()) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(configYAML), &doc); err != nil {
		t.Fatalf("config.yml does not parse: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(e2e.bin, "registry"), "serve", path)
	debugAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd.Env = append(cleanEnv(), append(env, "REGISTRY_HTTP_ADDR="+addr, "REGISTRY_HTTP_DEBUG_ADDR="+debugAddr)...)
	logPath := filepath.Join(dir, "registry.log")
	logFile, _ := os.Create(logPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Dies with the test binary, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logFile.Close() }) }
	// Stopped when the test ends, failed or not; callers may stop it earlier (a fault).
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + debugAddr + registry.HealthPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		if time.Now().After(deadline) {
			stop()
			b, _ := os.ReadFile(logPath)
			t.Fatalf("registry not ready on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pushRandom(t *testing.T, ref string, opts ...remote.Option) v1.Image {
	t.Helper()
	img, err := random.Image(6<<20, 3) // > one S3 multipart chunk per layer
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, opts...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return img
}

func assertPullable(t *testing.T, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	r, _ := name.ParseReference(ref, name.Insecure)
	got, err := remote.Image(r, opts...)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	want, _ := img.Digest()
	gotDigest, _ := got.Digest()
	if want != gotDigest {
		t.Errorf("digest pulled %s, pushed %s", gotDigest, want)
	}
	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil { // verifies the digest while reading
			t.Errorf("reading layer: %v", err)
		}
		rc.Close()
	}
}

// assertBlobServedDirectly GETs a layer blob without following redirects: containerd would
// silently follow one, so the status and Location header are checked at the HTTP level.
func assertBlobServedDirectly(t *testing.T, c siteClient, registry, repo string, img v1.Image, wantStatus int) {
	t.Helper()
	layers, _ := img.Layers()
	digest, _ := layers[0].Digest()
	client := &http.Client{Transport: c.transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s://%s/v2/%s/blobs/%s", c.scheme(), registry, repo, digest), nil)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("blob GET: %s, want %d (Location %q)", resp.Status, wantStatus, resp.Header.Get("Location"))
	}
	loc := resp.Header.Get("Location")
	if wantStatus == http.StatusOK {
		if loc != "" {
			t.Errorf("blob GET 200 carries Location %q", loc)
		}
		h := sha256.New()
		if _, err := io.Copy(h, resp.Body); err != nil {
			t.Fatal(err)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest.String() {
			t.Errorf("blob body digest %s, want %s", got, digest)
		}
	} else if !strings.Contains(loc, "X-Amz-Signature") {
		t.Errorf("redirect Location %q is not a presigned S3 URL", loc)
	}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") && !strings.HasPrefix(strings.ToUpper(kv), "HTTP") {
			env = append(env, kv)
		}
	}
	return env
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
