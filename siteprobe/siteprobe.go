package siteprobe

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"airgap-site/siteconfig"
)

// APIServer returns the API server URL a kubeconfig's context points at (the current context
// when context is empty).
func APIServer(kubeconfig, context string) (string, error) {
	var kc struct {
		CurrentContext string `json:"current-context"`
		Contexts       []struct {
			Name    string `json:"name"`
			Context struct {
				Cluster string `json:"cluster"`
			} `json:"context"`
		} `json:"contexts"`
		Clusters []struct {
			Name    string `json:"name"`
			Cluster struct {
				Server string `json:"server"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	if err := yaml.Unmarshal([]byte(kubeconfig), &kc); err != nil {
		return "", fmt.Errorf("parsing kubeconfig: %w", err)
	}
	if context == "" {
		context = kc.CurrentContext
	}
	cluster := ""
	for _, c := range kc.Contexts {
		if c.Name == context {
			cluster = c.Context.Cluster
		}
	}
	for _, c := range kc.Clusters {
		if c.Name == cluster && c.Cluster.Server != "" {
			return c.Cluster.Server, nil
		}
	}
	return "", fmt.Errorf("kubeconfig has no cluster for context %q", context)
}

// Reachable dials the API server's address: enough to tell a site that is there from one that
// is not (an office laptop away from the factory network).
func Reachable(ctx context.Context, server string, timeout time.Duration) error {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return fmt.Errorf("parsing API server URL %q", server)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
}

// UnreachableWarning is what a preview says when the site cannot be reached: a first line that
// the progress display shows alone, then the explanation wrapped, which the diagnostics at the
// end show once in full (README, "Preview before the visit", quotes it).
func UnreachableWarning(server string, err error) string {
	return fmt.Sprintf("the site is not reachable (Kubernetes API %s: %v):\n%s", server, err, unreachableExplanation)
}

const unreachableExplanation = "this preview is planned client-side from the state of the last `up` only. It cannot see drift or\n" +
	"what the cluster would default or reject, and `pulumi preview --refresh` needs the site.\n" +
	"Run `pulumi up` at the site."

// Site tells whether a site's Kubernetes API answers, for every kind of site: the server
// of its kubeconfig, or talos.clusterEndpoint when the stack manages Talos (the kubeconfig then
// comes from Talos during the deployment, so the endpoint in the config is what to dial).
// kubeconfig is the file's text when talos.manage is false. An empty server means the site's
// address is unknown (a kubeconfig without a usable cluster): the provider reports that.
func Site(ctx context.Context, cfg *siteconfig.Config, kubeconfig string) (server string, err error) {
	if cfg.Talos.Manage {
		server = cfg.Talos.ClusterEndpoint
		if server == "" {
			return "", fmt.Errorf("talos.clusterEndpoint is not set")
		}
		return server, Reachable(ctx, server, probeTimeout)
	}
	return Kubeconfig(ctx, kubeconfig, cfg.Kubernetes.Context)
}

// probeTimeout bounds one reachability probe.
const probeTimeout = 3 * time.Second

// Kubeconfig tells whether the site's Kubernetes API answers: the server it tried, and an error
// when it did not answer. A kubeconfig without a usable server gives ("", err): that is the
// provider's to report. The program warns with it; fleet marks the row with it.
func Kubeconfig(ctx context.Context, kubeconfig, kubeContext string) (server string, err error) {
	server, err = APIServer(kubeconfig, kubeContext)
	if err != nil {
		return "", err
	}
	return server, Reachable(ctx, server, probeTimeout)
}

// ReadKubeconfig returns the kubeconfig the site is deployed with: kubernetes.kubeconfig,
// else the first file in $KUBECONFIG, else ~/.kube/config.
func ReadKubeconfig(k siteconfig.Kubernetes) (string, error) {
	path, field := k.Kubeconfig, "kubernetes.kubeconfig"
	if path == "" {
		field = "kubernetes.kubeconfig (unset, so $KUBECONFIG)"
		path, _, _ = strings.Cut(os.Getenv("KUBECONFIG"), string(os.PathListSeparator))
	}
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%s: no path set and no home directory: %w", field, err)
		}
		field, path = "kubernetes.kubeconfig (unset, so ~/.kube/config)", filepath.Join(home, ".kube", "config")
	}
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%s: expanding %q: %w", field, path, err)
		}
		path = filepath.Join(home, rest)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: reading %q: %w", field, path, err)
	}
	return string(b), nil
}
