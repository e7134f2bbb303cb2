package site

import (
	"context"
	"fmt"
	"net"
	"net/url"
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

// ProbeSite tells whether a site's Kubernetes API answers, for every kind of site: the server
// of its kubeconfig, or talos.clusterEndpoint when the stack manages Talos (the kubeconfig then
// comes from Talos during the deployment, so the endpoint in the config is what to dial).
// kubeconfig is the file's text when talos.manage is false. An empty server means the site's
// address is unknown (a kubeconfig without a usable cluster): the provider reports that.
func ProbeSite(ctx context.Context, cfg *siteconfig.Config, kubeconfig string) (server string, err error) {
	if cfg.Talos.Manage {
		server = cfg.Talos.ClusterEndpoint
		if server == "" {
			return "", fmt.Errorf("talos.clusterEndpoint is not set")
		}
		return server, Reachable(ctx, server, probeTimeout)
	}
	return Probe(ctx, kubeconfig, cfg.Kubernetes.Context)
}

// probeTimeout bounds one reachability probe.
const probeTimeout = 3 * time.Second
