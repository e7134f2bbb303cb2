package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Options configure a local site.
type Options struct {
	// Dir holds everything: pki/, data/, logs/, run/, kubeconfig, site.json. A directory that
	// already holds a stopped site is restarted with its data, identity and ports.
	Dir string
	// BinDir holds the binaries built by `make setup`.
	BinDir string
	// Nodes are the names of the fake (kwok) nodes; at least one.
	Nodes []string
	// S3Port is the S3 server's port; 0 picks a free one.
	S3Port int
	// Bucket is created on the S3 server.
	Bucket string
	// CRDs are manifest files of CustomResourceDefinitions to install and await.
	CRDs []string
	// Containerd starts a containerd with a private root and the hosts directory hosts.d/.
	Containerd bool
	// S3Only starts the S3 server alone (benchmarks need no cluster).
	S3Only bool
	// Log receives progress lines; nil means os.Stderr.
	Log io.Writer
	// RealNode, when set, is the name of a real node (kubelet, kube-proxy, containerd, CNI)
	// in a network namespace of its own, beside the kwok nodes (needs root); see node.go.
	RealNode string
	// Owned ties the daemons to this process: they are killed when it dies, however it dies
	// (a test run). make site-up leaves it false so the site outlives the command.
	Owned bool
}

// Site is a running local site. It is saved as site.json in its directory.
type Site struct {
	Dir        string `json:"dir"`
	Kubeconfig string `json:"kubeconfig"`
	APIServer  string `json:"apiServer"`
	S3Endpoint string `json:"s3Endpoint"`
	S3Region   string `json:"s3Region"`
	Bucket     string `json:"bucket"`
	AccessKey  string `json:"accessKey"`
	SecretKey  string `json:"secretKey"`
	// PullAccessKey and PullSecretKey are an S3 user that the bucket policy lets read the
	// bucket and nothing else: the registry's pull identity.
	PullAccessKey    string         `json:"pullAccessKey"`
	PullSecretKey    string         `json:"pullSecretKey"`
	ContainerdSocket string         `json:"containerdSocket,omitempty"`
	HostsDir         string         `json:"hostsDir,omitempty"`
	Ports            map[string]int `json:"ports"`
	// The real node (Options.RealNode) and the site network around it.
	RealNode             string `json:"realNode,omitempty"`
	NodeNamespace        string `json:"nodeNamespace,omitempty"`
	LaptopNamespace      string `json:"laptopNamespace,omitempty"`
	NodeHostsDir         string `json:"nodeHostsDir,omitempty"`
	NodeContainerdSocket string `json:"nodeContainerdSocket,omitempty"`
	// NodeS3Endpoint is the S3 server as pods on the real node reach it.
	NodeS3Endpoint string `json:"nodeS3Endpoint,omitempty"`
	// BinDir holds the tools the site runs.
	BinDir string `json:"binDir,omitempty"`

	bin   string
	owned bool
	log   io.Writer
	procs []*process
}

// Test-bed S3 credentials. They protect nothing: the server lives for one test run on loopback.
const (
	TestAccessKey = "airgap-test-access"
	TestSecretKey = "airgap-test-secret-key"
	TestRegion    = "us-east-1"
	// The read-only pull user (stacks/Pulumi.dev.yaml carries the same pair, encrypted).
	TestPullAccessKey = "airgap-test-pull"
	TestPullSecretKey = "airgap-test-pull-secret-key"
)

// stopOrder is the order daemons are stopped in: clients of the API server first, since
// kube-apiserver may not exit on SIGTERM while they are connected.
var stopOrder = []string{"containerd", "versitygw", "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"}

// Start starts (or restarts) the site and waits until every part is ready. On error
// everything already started is stopped again.
func Start(ctx context.Context, opts Options) (s *Site, err error) {
	if len(opts.Nodes) == 0 && !opts.S3Only {
		return nil, errors.New("harness: at least one node is required")
	}
	if opts.Bucket == "" {
		opts.Bucket = "registry"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "run", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	s = &Site{Dir: dir, bin: opts.BinDir, BinDir: opts.BinDir, log: opts.Log, owned: opts.Owned}
	if s.log == nil {
		s.log = os.Stderr
	}
	if err := s.loadPorts(); err != nil {
		return nil, err
	}
	if opts.S3Port != 0 {
		s.Ports["s3"] = opts.S3Port
	}
	for _, name := range []string{"etcd", "etcd-peer", "apiserver", "kwok", "s3"} {
		if s.Ports[name] == 0 {
			if s.Ports[name], err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	defer func() {
		if err != nil {
			_ = Stop(dir)
		}
	}()
	steps := []func(context.Context, Options) error{
		s.startEtcd, s.startAPIServer, s.startControllers, s.startKwok, s.installCRDs, s.startS3,
	}
	if opts.S3Only {
		steps = []func(context.Context, Options) error{s.startS3}
	}
	if opts.Containerd {
		steps = append(steps, s.startContainerd)
	}
	if opts.RealNode != "" && !opts.S3Only {
		steps = append(steps, s.startSiteNetwork, s.startNodeContainerd, s.startKubelet, s.startKubeProxy)
	}
	for _, step := range steps {
		if err := step(ctx, opts); err != nil {
			return nil, err
		}
	}
	return s, s.save()
}

// Stop stops every daemon of the site in dir, by PID file. It is safe to call more than once
// and from another process than the one that started the site.
func Stop(dir string) error {
	var errs []error
	old, _ := Load(dir)
	// The real node: the kubelet first (or it restarts the pods removed next), then its pods.
	if _, err := stopByPIDFile(dir, "kubelet", 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	if old != nil {
		errs = append(errs, removeNodePods(dir, filepath.Join(old.BinDir, "crictl")))
	}
	for _, name := range realNodeStopOrder {
		if _, err := stopByPIDFile(dir, name, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range stopOrder {
		if _, err := stopByPIDFile(dir, name, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, unmountUnder(dir))
	if old != nil && old.NodeNamespace != "" {
		deleteSiteNetwork(old.NodeNamespace, old.LaptopNamespace)
	}
	return errors.Join(errs...)
}

// Load reads the description of a site started earlier in dir.
func Load(dir string) (*Site, error) {
	b, err := os.ReadFile(filepath.Join(dir, "site.json"))
	if err != nil {
		return nil, fmt.Errorf("reading local site in %s: %w", dir, err)
	}
	var s Site
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding %s/site.json: %w", dir, err)
	}
	return &s, nil
}

// Running reports whether the site's API server process is alive.
func Running(dir string) bool {
	_, running, err := readPIDFile(filepath.Join(dir, "run", "kube-apiserver.pid"))
	return err == nil && running
}

func (s *Site) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "site.json"), b, 0o644)
}

// loadPorts reuses the ports of an earlier run: the kubeconfig names the API server's port.
func (s *Site) loadPorts() error {
	s.Ports = map[string]int{}
	old, err := Load(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.Ports = old.Ports
	return nil
}

func (s *Site) progress(format string, args ...any) {
	fmt.Fprintf(s.log, "[site] "+format+"\n", args...)
}

func (s *Site) path(parts ...string) string {
	return filepath.Join(append([]string{s.Dir}, parts...)...)
}

func (s *Site) tool(name string) string {
	if s.bin == "" {
		return name
	}
	if p := filepath.Join(s.bin, name); fileExists(p) {
		return p
	}
	return name
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// StopAPIServer stops only kube-apiserver: the site becomes unreachable, as from the office.
func (s *Site) StopAPIServer() error { return s.stopPart("kube-apiserver") }

// StartAPIServer starts kube-apiserver again on its port, with its data and identity, and
// waits until it is ready; the controllers reconnect by themselves.
func (s *Site) StartAPIServer(ctx context.Context) error {
	return s.startPart(ctx, s.startAPIServer, Options{})
}

// StopS3 stops only the S3 server: the registry's storage is down, as when MinIO fails.
func (s *Site) StopS3() error { return s.stopPart("versitygw") }

// StartS3 starts the S3 server again on its port with its data, and waits until it serves
// the bucket.
func (s *Site) StartS3(ctx context.Context) error {
	return s.startPart(ctx, s.startS3, Options{Bucket: s.Bucket})
}

// stopPart stops one daemon of a running site, by its PID file.
func (s *Site) stopPart(name string) error {
	_, err := stopByPIDFile(s.Dir, name, 10*time.Second)
	return err
}

// startPart runs one start step again on a running site (a Site loaded from site.json has no
// log writer yet).
func (s *Site) startPart(ctx context.Context, step func(context.Context, Options) error, opts Options) error {
	if s.log == nil {
		s.log = os.Stderr
	}
	return step(ctx, opts)
}
