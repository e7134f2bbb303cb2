//go:build e2e

package tests

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"airgap-site/components/registry"
	"airgap-site/siteconfig"
)

const (
	// The dev stack's registry, as TestRealNode deploys it.
	namespace = "airgap-registry"
	nodePort  = 32000
	// The kwok stack's: a namespace and NodePorts of its own, so TestKwokStack and
	// TestRealNode can run together.
	kwokNamespace = "kwok-registry"
	kwokNodePort  = 32010
)

// TestKwokStack converges the dev stack on the kwok nodes and checks each promise of the skeleton, in
// order: up, what the cluster holds, the registry config working against real S3, a no-op
// second preview, no plaintext secret in state, and destroy.
func TestKwokStack(t *testing.T) {
	// Parallel: its own namespace and NodePorts; the API server it takes away is a relay of
	// its own, and the containerd it configures is only its (see tests/doc.go).
	t.Parallel()
	s := &e2e
	// The dev stack on the kwok nodes (makeProject): registries run by hand on its loopback
	// node addresses, against this run's S3 server. It reaches the API server through a relay
	// that the test can take away.
	api := newRelay(t, strings.TrimPrefix(s.site.APIServer, "https://"))
	s.mustPulumi(t, "stack", "init", "kwok")
	for path, value := range map[string]string{"objectStore.endpoint": s.site.S3Endpoint, "kubernetes.kubeconfig": api.kubeconfig(t),
		"registry.namespace": kwokNamespace, "registry.nodePort": fmt.Sprint(kwokNodePort)} {
		s.mustPulumi(t, "config", "set", "-s", "kwok", "--path", path, value)
	}

	ok := t.Run("up", func(t *testing.T) {
		out := s.mustPulumi(t, "up", "-s", "kwok", "--yes", "--skip-preview", "--policy-pack", s.policyPack)
		t.Log(lastLines(out, 12))
		outputs := s.outputs(t, "kwok")
		endpoints, _ := outputs["registryEndpoints"].([]any)
		var want []any
		for _, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
			want = append(want, fmt.Sprintf("%s:%d", ip, kwokNodePort))
		}
		if fmt.Sprint(endpoints) != fmt.Sprint(want) {
			t.Errorf("registryEndpoints = %v, want %v", endpoints, want)
		}
		if outputs["registryNamespace"] != kwokNamespace || !strings.HasPrefix(fmt.Sprint(outputs["registryConfigDigest"]), "sha256:") {
			t.Errorf("outputs = %v", outputs)
		}
	})
	if !ok {
		t.FailNow()
	}
	cs := clientset(t)

	t.Run("cluster", func(t *testing.T) {
		ctx := context.Background()
		dep, err := cs.AppsV1().Deployments(kwokNamespace).Get(ctx, "registry", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dep.Status.ReadyReplicas != 2 || *dep.Spec.Replicas != 2 {
			t.Errorf("deployment ready %d of %d, want 2 of 2", dep.Status.ReadyReplicas, *dep.Spec.Replicas)
		}
		svc, err := cs.CoreV1().Services(kwokNamespace).Get(ctx, "registry", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort != kwokNodePort {
			t.Errorf("service %s nodePort %d, want NodePort %d", svc.Spec.Type, svc.Spec.Ports[0].NodePort, kwokNodePort)
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
		testNetworkPolicies(t, cs, kwokNamespace, []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"})
		pdb, err := cs.PolicyV1().PodDisruptionBudgets(kwokNamespace).Get(ctx, "registry", metav1.GetOptions{})
		if err != nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget: %v %v", err, pdb)
		}
	})

	access := readAccess(t, "kwok")

	t.Run("registry-on-s3", func(t *testing.T) {
		pull, push := deployedEndpoint(t, cs, kwokNamespace, registry.AppName), deployedEndpoint(t, cs, kwokNamespace, registry.PushName)
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
		// At the office: the API server is away (its address refuses connections), and the
		// registry gets a third replica.
		api.stop()
		defer api.start(t)
		addr := api.addr
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			out, _ := exec.Command("ss", "-ltnp").CombinedOutput()
			t.Fatalf("the API server's address %s still answers after the relay was stopped:\n%s", addr, out)
		}
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
			t.Logf("listening sockets after the preview (the API server was %s):\n%s", addr, listening)
		}
	})

	t.Run("destroy", func(t *testing.T) {
		s.mustPulumi(t, "destroy", "-s", "kwok", "--yes", "--skip-preview")
		ctx := context.Background()
		if _, err := cs.AppsV1().Deployments(kwokNamespace).Get(ctx, "registry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("deployment still there after destroy: %v", err)
		}
		if _, err := cs.CoreV1().Services(kwokNamespace).Get(ctx, "registry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("service still there after destroy: %v", err)
		}
		ns, err := cs.CoreV1().Namespaces().Get(ctx, kwokNamespace, metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp == nil {
			t.Errorf("namespace %s still active after destroy", kwokNamespace)
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
