package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"airgap-site/talosconfig"
)

// The real node: kubelet, kube-proxy and a containerd of its own, inside the node network
// namespace (see netns.go). It is tainted and labelled so that only workloads that ask for it
// land on it; everything else keeps running on the kwok nodes.
const (
	// RealNodeTaint keeps pods off the real node unless they tolerate it.
	RealNodeTaint = "airgap-site.dev/real-node"
	// RealNodeLabel marks the real node.
	RealNodeLabel = "airgap-site.dev/real-node"
	// PodCIDR is the pod network of the real node (a CNI bridge).
	PodCIDR = "10.244.0.0/24"
	// SandboxImage is the pause image the node's containerd runs every pod in. It is pulled
	// through the node's registry mirrors like any other image.
	SandboxImage = "registry.k8s.io/pause:3.10"
	// NodeRegistryPort is the NodePort relayed to 127.0.0.1 (Site.Ports["node-registry"]) for
	// people and scripts on this machine: the dev stack's registry.nodePort.
	NodeRegistryPort = 32000
)

// realNodeStopOrder is the order the node's daemons stop in: the kubelet first (or it
// restarts what is stopped), then the pods, the proxy, the runtime, and the relays last.
var realNodeStopOrder = []string{"kubelet", "kube-proxy", "node-containerd", "relay"}

// startSiteNetwork creates the namespaces and the relays into them.
func (s *Site) startSiteNetwork(ctx context.Context, opts Options) error {
	s.NodeNamespace, s.LaptopNamespace = namespaceNames(s.Dir)
	if err := createSiteNetwork(s.NodeNamespace, s.LaptopNamespace); err != nil {
		return err
	}
	s.progress("site network: node %s (%s), laptop %s (%s)", s.NodeNamespace, NodeIP, s.LaptopNamespace, LaptopIP)
	// Saved now, so a failed start still finds the namespaces to delete.
	if err := s.save(); err != nil {
		return err
	}
	if s.Ports["node-registry"] == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.Ports["node-registry"] = port
	}
	api := addr(s.Ports["apiserver"])
	s.NodeS3Endpoint = fmt.Sprintf("http://%s:%d", S3IP, S3Port)
	rules := []relayRule{
		{s.NodeNamespace, api, "", api},
		{s.LaptopNamespace, api, "", api},
		{s.NodeNamespace, net.JoinHostPort(S3IP, strconv.Itoa(S3Port)), "", addr(s.Ports["s3"])},
		{"", addr(s.Ports["node-registry"]), s.NodeNamespace, net.JoinHostPort(NodeIP, strconv.Itoa(NodeRegistryPort))},
	}
	args := make([]string, len(rules))
	for i, r := range rules {
		args[i] = r.String()
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p, err := s.start("relay", []string{relayEnv + "=1"}, self, args...)
	if err != nil {
		return err
	}
	return s.waitFor(ctx, p, 30*time.Second, func(ctx context.Context) error {
		c, err := DialIn(ctx, s.NodeNamespace, api)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// inNode starts a daemon of the real node in the node's network namespace. nsenter switches
// only the network namespace: `ip netns exec` would also remount /sys and hide the cgroup
// hierarchies the kubelet and runc need.
func (s *Site) inNode(name string, bin string, args ...string) (*process, error) {
	return s.start(name, nil, "nsenter", append([]string{"--net=/run/netns/" + s.NodeNamespace, "--", bin}, args...)...)
}

// startNodeContainerd starts the node's containerd (2.x, configured as Talos does: see
// nodecri.go): CRI with a CNI bridge, the sandbox image from the mirrors, and the registry
// hosts directory the site's Talos patch is written into.
func (s *Site) startNodeContainerd(ctx context.Context, _ Options) error {
	base := s.path("node")
	s.NodeHostsDir = filepath.Join(base, "hosts.d")
	s.NodeContainerdSocket = filepath.Join(base, "run", "containerd.sock")
	cniDir := filepath.Join(base, "cni")
	for _, d := range []string{s.NodeHostsDir, filepath.Join(base, "run"), filepath.Join(base, "containerd"), cniDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	cni := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "site", "plugins": [
 {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
  "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
 {"type": "portmap", "capabilities": {"portMappings": true}}]}
`, filepath.Join(base, "cni-ipam"), PodCIDR)
	if err := os.WriteFile(filepath.Join(cniDir, "10-site.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	auth, err := readCRIAuth(s.NodeHostsDir)
	if err != nil {
		return err
	}
	bin, err := s.nodeContainerd()
	if err != nil {
		return err
	}
	confPath := filepath.Join(base, "containerd.toml")
	err = s.writeNodeContainerdConfig(confPath, containerdConfig{
		Root: filepath.Join(base, "containerd"), State: filepath.Join(base, "run", "state"),
		Socket: s.NodeContainerdSocket, HostsDir: s.NodeHostsDir, Auth: auth,
	}, cniDir)
	if err != nil {
		return err
	}
	if err := s.save(); err != nil {
		return err
	}
	// Its runc shim is found first on PATH (runc itself is Debian's).
	p, err := s.start("node-containerd", []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, "nsenter",
		"--net=/run/netns/"+s.NodeNamespace, "--", filepath.Join(bin, "containerd"), "--config", confPath)
	if err != nil {
		return err
	}
	return s.waitFor(ctx, p, time.Minute, socketAnswers(s.NodeContainerdSocket))
}

// startKubelet registers the real node and waits until it is Ready. The settings are what
// this kind of machine needs (hybrid cgroup v1, no swap accounting, no CAP_SYS_RESOURCE); see
// README "The local site".
func (s *Site) startKubelet(ctx context.Context, opts Options) error {
	base := s.path("node")
	root := filepath.Join(base, "kubelet")
	if err := os.MkdirAll(filepath.Join(base, "pod-logs"), 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
address: %s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
resolvConf: /etc/resolv.conf
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
imageGCHighThresholdPercent: 100
evictionHard: {}
localStorageCapacityIsolation: false
registerWithTaints:
  - {key: %s, value: "true", effect: NoSchedule}
`, NodeIP, s.NodeContainerdSocket, filepath.Join(base, "pod-logs"), RealNodeTaint)
	confPath := filepath.Join(base, "kubelet.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	p, err := s.inNode("kubelet", s.tool("kubelet"), "--config", confPath, "--kubeconfig", s.Kubeconfig,
		"--hostname-override", opts.RealNode, "--node-ip", NodeIP, "--root-dir", root,
		"--cert-dir", filepath.Join(root, "pki"), "--node-labels", RealNodeLabel+"=true")
	if err != nil {
		return err
	}
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	s.RealNode = opts.RealNode
	return s.waitFor(ctx, p, 2*time.Minute, func(ctx context.Context) error {
		n, err := cs.CoreV1().Nodes().Get(ctx, opts.RealNode, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready yet", opts.RealNode)
	})
}

// startKubeProxy programs the node's Service rules (iptables, inside the node namespace), so
// the registry's NodePort answers on the node's address.
func (s *Site) startKubeProxy(ctx context.Context, opts Options) error {
	base := s.path("node")
	conf := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
clusterCIDR: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["%s/32"]
# The conntrack table is the host's: a network namespace may not resize it.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, s.Kubeconfig, opts.RealNode, PodCIDR, NodeIP, NodeIP)
	confPath := filepath.Join(base, "kube-proxy.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	p, err := s.inNode("kube-proxy", s.tool("kube-proxy"), "--config", confPath)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, _, a string) (net.Conn, error) {
		return DialIn(ctx, s.NodeNamespace, a)
	}}}
	return s.waitFor(ctx, p, time.Minute, httpOK(client, "http://127.0.0.1:10256/healthz"))
}

// removeNodePods stops and removes every pod sandbox of the node's containerd: container
// shims run in sessions of their own and would outlive the runtime.
func removeNodePods(dir, crictl string) error {
	s, err := Load(dir)
	if err != nil || s.NodeContainerdSocket == "" {
		return nil
	}
	if _, running, _ := readPIDFile(filepath.Join(dir, "run", "node-containerd.pid")); !running {
		return nil
	}
	out, err := exec.Command(crictl, "--runtime-endpoint", "unix://"+s.NodeContainerdSocket, "--timeout", "30s",
		"rmp", "--all", "--force").CombinedOutput()
	if err != nil {
		return fmt.Errorf("removing the real node's pods: %v: %s", err, out)
	}
	return nil
}

// WriteNodeMirrors configures the real node's containerd from a rendered Talos mirror patch,
// as Talos does on a node: hosts directory (WriteTalosHosts, with each endpoint's CA) and the
// CRI registry part (RegistriesPart).
func (s *Site) WriteNodeMirrors(ctx context.Context, patch []byte) error {
	mirrors, err := talosconfig.Parse(patch)
	if err != nil {
		return fmt.Errorf("parsing the mirror patch: %w", err)
	}
	// Laid out as Talos writes it for containerd 2: with skipFallback nothing falls back to an
	// upstream (the last endpoint is the root entry).
	return s.applyMirrors(ctx, s.NodeHostsDir, mirrors, WriteTalosHosts, "node-containerd", s.startNodeContainerd,
		func(m *talosconfig.Mirrors) string { return RegistriesPart(s.NodeHostsDir, m) })
}

// RunOnRealNode starts a pod of image on the real node (port is its HTTP readiness port,
// serving /healthz) and waits until it is Ready. The image is pulled by its original name
// through the node's mirrors.
func (s *Site) RunOnRealNode(ctx context.Context, podName, image string, port int32) (*corev1.Pod, error) {
	cs, err := s.Clientset()
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:    s.RealNode,
			Tolerations: []corev1.Toleration{{Key: RealNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Ports: []corev1.ContainerPort{{ContainerPort: port}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(port)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating pod %s: %w", podName, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		p, err := cs.CoreV1().Pods("default").Get(ctx, podName, metav1.GetOptions{})
		if err == nil {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					return p, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if p != nil {
				return p, fmt.Errorf("pod %s of %s not Ready: %s %v", podName, image, p.Status.Phase, p.Status.ContainerStatuses)
			}
			return nil, fmt.Errorf("pod %s of %s not Ready: %w", podName, image, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
