//go:build e2e

package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"airgap-site/components/registry"
	"airgap-site/provider/contract"
	"airgap-site/siteconfig"
	"airgap-site/talosconfig"
)

// siteAccess is a deployed site's generated trust, as its operators hold it: the CA (a
// public stack output), the pull identity (in the nodes' mirror patch, a secret output) and
// the push identity (in the encrypted state only).
type siteAccess struct {
	ca, pullPassword, pushPassword string
}

// readAccess reads a stack's access from its outputs and, for the push identity, its state
// decrypted with the stack's passphrase.
func readAccess(t *testing.T, stack string) siteAccess {
	t.Helper()
	if patch := e2e.outputs(t, stack)["talosMirrorPatch"]; patch != "[secret]" {
		t.Errorf("talosMirrorPatch is not a secret output: %.40v", patch)
	}
	outputs := e2e.secretOutputs(t, stack)
	a := siteAccess{ca: outputs["registryCA"].(string)}
	m, err := talosconfig.Parse([]byte(outputs["talosMirrorPatch"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range m.Hosts {
		if h.Username != siteconfig.PullUser || h.CA != a.ca {
			t.Fatalf("the patch's %s carries %q and a CA other than registryCA", h.Host, h.Username)
		}
		a.pullPassword = h.Password
	}
	a.pushPassword = generatedPassword(t, stack, siteconfig.PushUser)
	if a.ca == "" || a.pullPassword == "" || a.pushPassword == "" {
		t.Fatalf("stack %s: incomplete access (CA %d bytes, pull %d, push %d characters)", stack, len(a.ca), len(a.pullPassword), len(a.pushPassword))
	}
	return a
}

// generatedPassword is the result of the stack's Password resource for user, decrypted.
func generatedPassword(t *testing.T, stack, user string) string {
	t.Helper()
	var state struct {
		Deployment struct {
			Resources []struct {
				Type    string         `json:"type"`
				Outputs map[string]any `json:"outputs"`
			} `json:"resources"`
		} `json:"deployment"`
	}
	out := e2e.mustPulumi(t, "stack", "export", "-s", stack, "--show-secrets")
	if err := json.Unmarshal([]byte(out), &state); err != nil {
		t.Fatal(err)
	}
	for _, r := range state.Deployment.Resources {
		if r.Type == contract.PasswordToken && r.Outputs["username"] == user {
			// A secret exported with --show-secrets: {<secret signature>: ..., plaintext: <JSON>}.
			secret, _ := r.Outputs["result"].(map[string]any)
			var s string
			if plaintext, ok := secret["plaintext"].(string); ok && json.Unmarshal([]byte(plaintext), &s) == nil {
				return s
			}
		}
	}
	t.Fatalf("no generated password for %s in stack %s", user, stack)
	return ""
}

// siteClient is a registry client of the site: which CA it trusts and who it is.
type siteClient struct {
	ca, user, password string
	plain              bool
}

func (a siteAccess) pull() siteClient {
	return siteClient{ca: a.ca, user: siteconfig.PullUser, password: a.pullPassword}
}
func (a siteAccess) push() siteClient {
	return siteClient{ca: a.ca, user: siteconfig.PushUser, password: a.pushPassword}
}

func (c siteClient) scheme() string {
	if c.plain {
		return "http"
	}
	return "https"
}

func (c siteClient) transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(c.ca))
	return &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
}

func (c siteClient) options() []remote.Option {
	auth := authn.Anonymous
	if c.user != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: c.user, Password: c.password})
	}
	return []remote.Option{remote.WithTransport(c.transport()), remote.WithAuth(auth)}
}

// deployed is one registry Deployment as the cluster holds it: its config.yml, its
// environment resolved from Secrets, and its Secret volumes written to files, the paths the
// config names pointed at them: what its pods run with.
type deployed struct {
	config string
	env    []string
}

func deployedEndpoint(t *testing.T, cs *kubernetes.Clientset, namespace, deployment string) deployed {
	t.Helper()
	dep, err := cs.AppsV1().Deployments(namespace).Get(context.Background(), deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := deployed{config: mountedConfig(t, cs, dep), env: secretEnv(t, cs, dep)}
	dir := t.TempDir()
	mounts := map[string]string{}
	for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	// The files the config names, by mount path, and the environment override that moves each.
	overrides := map[string]string{registry.TLSCertFile: "REGISTRY_HTTP_TLS_CERTIFICATE", registry.TLSKeyFile: "REGISTRY_HTTP_TLS_KEY",
		registry.HtpasswdFile: "REGISTRY_AUTH_HTPASSWD_PATH"}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		sec, err := cs.CoreV1().Secrets(namespace).Get(context.Background(), v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for key, value := range sec.Data {
			mounted := mounts[v.Name] + "/" + key
			env, ok := overrides[mounted]
			if !ok {
				continue
			}
			local := filepath.Join(dir, v.Name+"-"+key)
			if err := os.WriteFile(local, value, 0o600); err != nil {
				t.Fatal(err)
			}
			d.env = append(d.env, env+"="+local)
		}
	}
	return d
}

// testRegistryAccess is the access matrix of the registry run with the deployed configs and
// Secrets: only the push identity writes, only over TLS, only to the push endpoint.
func testRegistryAccess(t *testing.T, access siteAccess, pullAddr, pushAddr string) {
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	write := func(addr string, c siteClient) error {
		ref, err := name.ParseReference(addr+"/docker.io/library/intruder:1", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return remote.Write(ref, img, c.options()...)
	}
	status := func(err error) int {
		var terr *transport.Error
		if errors.As(err, &terr) {
			return terr.StatusCode
		}
		return 0
	}
	anonymous := siteClient{ca: access.ca}

	if err := write(pushAddr, anonymous); status(err) != http.StatusUnauthorized {
		t.Errorf("anonymous push to the push endpoint: %v, want 401", err)
	}
	if err := write(pushAddr, access.pull()); status(err) != http.StatusUnauthorized {
		t.Errorf("push with the pull credentials to the push endpoint: %v, want 401", err)
	}
	if err := write(pullAddr, access.pull()); err == nil {
		t.Errorf("push with the pull credentials to the pull endpoint succeeded")
	} else {
		t.Logf("push to the pull endpoint with the pull credentials: refused (%d)", status(err))
	}
	if err := write(pullAddr, access.push()); err == nil {
		t.Errorf("push with the push identity to the read-only pull endpoint succeeded")
	}
	// Deletes: the image demo:1 is in the bucket (pushed by the caller).
	for _, tc := range []struct {
		addr string
		c    siteClient
		want int // 0: refused with any status
	}{
		{pushAddr, access.pull(), http.StatusUnauthorized},
		{pullAddr, access.pull(), 0},
	} {
		ref, _ := name.ParseReference(tc.addr+"/docker.io/library/demo:1", name.Insecure)
		desc, err := remote.Head(ref, access.pull().options()...)
		if tc.addr == pushAddr {
			desc, err = remote.Head(ref, access.push().options()...)
		}
		if err != nil {
			t.Fatalf("HEAD %s: %v", ref, err)
		}
		d, _ := name.NewDigest(tc.addr+"/docker.io/library/demo@"+desc.Digest.String(), name.Insecure)
		err = remote.Delete(d, tc.c.options()...)
		if err == nil || tc.want != 0 && status(err) != tc.want {
			t.Errorf("delete at %s as %s: %v, want it refused (%d)", tc.addr, tc.c.user, err, tc.want)
		}
	}
	if err := write(pushAddr, access.push()); err != nil {
		t.Errorf("push with the push identity: %v", err)
	}
	// The written image is served to the pull identity.
	ref, _ := name.ParseReference(pullAddr+"/docker.io/library/intruder:1", name.Insecure)
	if _, err := remote.Head(ref, access.pull().options()...); err != nil {
		t.Errorf("the push identity's image is not served to the pull identity: %v", err)
	}
	if _, err := remote.Head(ref, anonymous.options()...); status(err) != http.StatusUnauthorized {
		t.Errorf("anonymous pull: %v, want 401", err)
	}

	// Plain http to the TLS port: no registry answer.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + pullAddr + "/v2/")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http to the TLS port: %s, want 400 (an HTTP request to an HTTPS server)", resp.Status)
		}
	}
	// A client that does not trust the site CA.
	untrusting := []remote.Option{remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: siteconfig.PullUser, Password: access.pullPassword})),
		remote.WithTransport(&http.Transport{Proxy: nil})}
	var unknownCA x509.UnknownAuthorityError
	if _, err := remote.Head(ref, untrusting...); !errors.As(err, &unknownCA) {
		t.Errorf("a client without the site CA: %v, want an unknown-authority error", err)
	}
}

// assertPodHardened checks a running pod of the registry against what the stack declares and
// the restricted Pod Security Standard the API server enforced when it admitted it.
func assertPodHardened(t *testing.T, p corev1.Pod) {
	t.Helper()
	sc, c := p.Spec.SecurityContext, p.Spec.Containers[0].SecurityContext
	switch {
	case sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0:
		t.Errorf("pod %s: not run as non-root: %+v", p.Name, sc)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod %s: seccomp %+v", p.Name, sc.SeccompProfile)
	case c == nil || c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem:
		t.Errorf("pod %s: root filesystem writable", p.Name)
	case p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken:
		t.Errorf("pod %s: service account token mounted", p.Name)
	}
	for _, v := range p.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") {
			t.Errorf("pod %s mounts a service account token", p.Name)
		}
	}
}
