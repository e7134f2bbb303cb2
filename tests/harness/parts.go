package harness

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

func (s *Site) startEtcd(ctx context.Context, _ Options) error {
	client, peer := "http://"+addr(s.Ports["etcd"]), "http://"+addr(s.Ports["etcd-peer"])
	p, err := s.start("etcd", []string{"ETCD_UNSUPPORTED_ARCH="}, s.tool("etcd"),
		"--name", "airgap", "--data-dir", s.path("data", "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "airgap="+peer, "--quota-backend-bytes", "2147483648")
	if err != nil {
		return err
	}
	return s.waitFor(ctx, p, time.Minute, httpOK(http.DefaultClient, client+"/health"))
}

func (s *Site) startAPIServer(ctx context.Context, _ Options) error {
	pki, err := EnsurePKI(s.path("pki"))
	if err != nil {
		return fmt.Errorf("creating PKI: %w", err)
	}
	port := s.Ports["apiserver"]
	p, err := s.start("kube-apiserver", nil, s.tool("kube-apiserver"),
		"--etcd-servers=http://"+addr(s.Ports["etcd"]),
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port), "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+pki.ServerCert(), "--tls-private-key-file="+pki.ServerKey(),
		"--client-ca-file="+pki.CACert(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki.ServiceAccountPub(),
		"--service-account-signing-key-file="+pki.ServiceAccountKey(),
		"--service-cluster-ip-range=10.96.0.0/12", "--service-node-port-range=30000-32767",
		"--authorization-mode=Node,RBAC", "--enable-priority-and-fairness=false", "--profiling=false",
		"--cert-dir="+s.path("data", "apiserver-certs"))
	if err != nil {
		return err
	}
	s.APIServer = "https://" + addr(port)
	s.Kubeconfig = s.path("kubeconfig")
	if err := writeKubeconfig(s.Kubeconfig, s.APIServer, pki); err != nil {
		return err
	}
	client, err := adminHTTPClient(pki)
	if err != nil {
		return err
	}
	return s.waitFor(ctx, p, 2*time.Minute, httpOK(client, s.APIServer+"/readyz"))
}

func writeKubeconfig(path, server string, pki PKI) error {
	read := func(p string) []byte { b, _ := os.ReadFile(p); return b }
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local-site"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: read(pki.CACert())}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: read(pki.AdminCert()), ClientKeyData: read(pki.AdminKey())}
	cfg.Contexts["local-site"] = &clientcmdapi.Context{Cluster: "local-site", AuthInfo: "admin"}
	cfg.CurrentContext = "local-site"
	return clientcmd.WriteToFile(*cfg, path)
}

func adminHTTPClient(pki PKI) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(pki.AdminCert(), pki.AdminKey())
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(pki.CACert())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool},
	}}, nil
}

// Clientset returns a client for the site's API server.
func (s *Site) Clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// startControllers starts kube-controller-manager and kube-scheduler: with kwok they make
// Deployments roll out and become Ready, which pulumi-kubernetes waits for.
func (s *Site) startControllers(ctx context.Context, _ Options) error {
	pki := PKI{Dir: s.path("pki")}
	cm, err := s.start("kube-controller-manager", nil, s.tool("kube-controller-manager"),
		"--kubeconfig="+s.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file="+pki.ServiceAccountKey(), "--root-ca-file="+pki.CACert(),
		"--use-service-account-credentials=false", "--cluster-name=local-site")
	if err != nil {
		return err
	}
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	if err := s.waitFor(ctx, cm, 2*time.Minute, func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	sched, err := s.start("kube-scheduler", nil, s.tool("kube-scheduler"),
		"--kubeconfig="+s.Kubeconfig, "--leader-elect=false", "--secure-port=0")
	if err != nil {
		return err
	}
	return s.waitFor(ctx, sched, time.Minute, logContains(sched.log, "Starting Kubernetes Scheduler", "informers synced"))
}

// startKwok starts kwok and registers the fake nodes it manages.
func (s *Site) startKwok(ctx context.Context, opts Options) error {
	p, err := s.start("kwok", nil, s.tool("kwok"),
		"--kubeconfig="+s.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--manage-nodes-with-label-selector=", "--cidr=10.0.0.1/24", "--node-ip=10.0.0.1",
		"--node-lease-duration-seconds=40", "--server-address="+addr(s.Ports["kwok"]))
	if err != nil {
		return err
	}
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	for _, name := range opts.Nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
				Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
					"kubernetes.io/arch": "amd64", "type": "kwok"},
			},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{"cpu": resource.MustParse("32"), "memory": resource.MustParse("256Gi"), "pods": resource.MustParse("110")},
				Capacity:    corev1.ResourceList{"cpu": resource.MustParse("32"), "memory": resource.MustParse("256Gi"), "pods": resource.MustParse("110")},
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
	}
	return s.waitFor(ctx, p, time.Minute, func(ctx context.Context) error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready < len(opts.Nodes) {
			return fmt.Errorf("%d of %d nodes Ready", ready, len(opts.Nodes))
		}
		return nil
	})
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs creates each CustomResourceDefinition and waits until it is Established.
func (s *Site) installCRDs(ctx context.Context, opts Options) error {
	if len(opts.CRDs) == 0 {
		return nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, file := range opts.CRDs {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(b, &obj.Object); err != nil {
			return fmt.Errorf("parsing CRD %s: %w", file, err)
		}
		if _, err := dc.Resource(crdGVR).Create(ctx, &obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", obj.GetName(), err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			got, err := dc.Resource(crdGVR).Get(ctx, obj.GetName(), metav1.GetOptions{})
			if err == nil && established(got) {
				s.progress("CRD %s established", obj.GetName())
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after 1m", obj.GetName())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// startS3 starts versitygw over a directory with its internal IAM, creates the bucket, the
// read-only pull user and the bucket policy that lets that user read and nothing else. The
// root key (AccessKey) is the push identity: root may do anything.
func (s *Site) startS3(ctx context.Context, opts Options) error {
	dataDir, iamDir := s.path("data", "s3"), s.path("data", "s3-iam")
	for _, d := range []string{dataDir, iamDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	s.AccessKey, s.SecretKey, s.S3Region, s.Bucket = TestAccessKey, TestSecretKey, TestRegion, opts.Bucket
	s.PullAccessKey, s.PullSecretKey = TestPullAccessKey, TestPullSecretKey
	s.S3Endpoint = "http://" + addr(s.Ports["s3"])
	p, err := s.start("versitygw", []string{"ROOT_ACCESS_KEY=" + s.AccessKey, "ROOT_SECRET_KEY=" + s.SecretKey},
		s.tool("versitygw"), "--port", addr(s.Ports["s3"]), "--region", s.S3Region, "--iam-dir", iamDir, "posix", dataDir)
	if err != nil {
		return err
	}
	mc, err := s.S3Client()
	if err != nil {
		return err
	}
	if err := s.waitFor(ctx, p, time.Minute, func(ctx context.Context) error {
		exists, err := mc.BucketExists(ctx, s.Bucket)
		if err != nil || exists {
			return err
		}
		return mc.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: s.S3Region})
	}); err != nil {
		return err
	}
	if err := s.createS3User(ctx, s.PullAccessKey, s.PullSecretKey); err != nil {
		return err
	}
	if err := mc.SetBucketPolicy(ctx, s.Bucket, ReadOnlyBucketPolicy(s.Bucket, s.PullAccessKey)); err != nil {
		return fmt.Errorf("setting the bucket policy of %s: %w", s.Bucket, err)
	}
	return nil
}

// createS3User creates an S3 user of role "user" (no access of its own: only what bucket
// policies grant it) through versitygw's admin API; a user that exists (a restarted S3
// server keeps its IAM directory) is kept.
func (s *Site) createS3User(ctx context.Context, access, secret string) error {
	out, err := exec.CommandContext(ctx, s.tool("versitygw"), "admin",
		"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.S3Region, "--endpoint-url", s.S3Endpoint,
		"create-user", "--access", access, "--secret", secret, "--role", "user").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "exists") {
		return fmt.Errorf("creating S3 user %s: %v: %s", access, err, out)
	}
	return nil
}

// ReadOnlyBucketPolicy is a bucket policy letting user (an access key: versitygw's internal
// IAM names principals by access key) list the bucket and read its objects, nothing else.
func ReadOnlyBucketPolicy(bucket, user string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"registry-pull-read-only","Effect":"Allow",`+
		`"Principal":{"AWS":[%q]},"Action":["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"],`+
		`"Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}`, user, bucket, bucket)
}

// S3ClientAs returns a client for the site's S3 server with another key pair.
func (s *Site) S3ClientAs(access, secret string) (*minio.Client, error) {
	return minio.New(addr(s.Ports["s3"]), &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Region:       s.S3Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    &http.Transport{Proxy: nil},
	})
}

// S3Client returns a client for the site's S3 server, as root.
func (s *Site) S3Client() (*minio.Client, error) { return s.S3ClientAs(s.AccessKey, s.SecretKey) }

// startContainerd starts containerd like a Talos node's CRI, with the registry hosts
// directory (one sub-directory per registry host, as Talos renders its mirrors).
func (s *Site) startContainerd(ctx context.Context, _ Options) error {
	s.HostsDir = s.path("hosts.d")
	s.ContainerdSocket = s.path("run", "containerd", "containerd.sock")
	for _, d := range []string{s.HostsDir, s.path("run", "containerd"), s.path("data", "containerd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	auth, err := readCRIAuth(s.HostsDir)
	if err != nil {
		return err
	}
	confPath := s.path("containerd.toml")
	err = writeContainerdConfig(confPath, containerdConfig{
		Root: s.path("data", "containerd"), State: s.path("run", "containerd", "state"),
		Socket: s.ContainerdSocket, HostsDir: s.HostsDir, Auth: auth,
	})
	if err != nil {
		return err
	}
	p, err := s.start("containerd", nil, s.tool("containerd"), "--config", confPath)
	if err != nil {
		return err
	}
	return s.waitFor(ctx, p, time.Minute, socketAnswers(s.ContainerdSocket))
}

// containerdConfig is what differs between the test bed's containerds: where they keep their
// data and socket, where their registry hosts directory is.
type containerdConfig struct {
	Root, State, Socket, HostsDir string
	// Auth is the CRI registry auth config (CRIAuth, or RegistriesPart for the node); it holds passwords.
	Auth string
}

// writeContainerdConfig writes a containerd config: private root, state and socket, no TCP
// or debug listeners, CRI pulling through the hosts directory (as Talos renders mirrors).
func writeContainerdConfig(path string, c containerdConfig) error {
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
%s`, c.Root, c.State, c.Socket, c.Socket+".ttrpc", c.HostsDir, c.Auth)
	return os.WriteFile(path, []byte(conf), 0o600)
}

// socketAnswers is a readiness probe: the unix socket accepts a connection.
func socketAnswers(socket string) func(context.Context) error {
	return func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", socket)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// unmountUnder removes mounts containerd left below dir (overlay snapshots of containers).
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && strings.HasPrefix(fields[1], dir+"/") {
			mounts = append(mounts, fields[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, 0); err != nil {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func logContains(path string, needles ...string) func(context.Context) error {
	return func(context.Context) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if strings.Contains(string(b), n) {
				return nil
			}
		}
		return fmt.Errorf("log has none of %q yet", needles)
	}
}
