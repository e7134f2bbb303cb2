package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"airgap-site/registrygc"
	"airgap-site/siteconfig"
)

// gc --help shows its own flag and the stack's, not preview's or up's.
func TestSiteGCHelp(t *testing.T) {
	help, err := runAirgap("site", "gc", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"airgap site gc", "--timeout", "10m0s", "--stack", "read-only"} {
		if !strings.Contains(help, want) {
			t.Errorf("site gc --help lacks %q:\n%s", want, help)
		}
	}
	for _, unwanted := range []string{"--policy-pack", "--expect-no-changes", "--diff"} {
		if strings.Contains(help, unwanted) {
			t.Errorf("site gc --help shows %q:\n%s", unwanted, help)
		}
	}
}

const twoClusters = `apiVersion: v1
kind: Config
current-context: office
clusters:
- name: office
  cluster: {server: "https://192.0.2.1:6443"}
- name: factory
  cluster: {server: "https://10.20.0.11:6443"}
users:
- name: admin
  user: {token: abc}
contexts:
- name: office
  context: {cluster: office, user: admin}
- name: factory
  context: {cluster: factory, user: admin}
`

// The site is reached as the program reaches it: kubernetes.kubeconfig in kubernetes.context
// (else the current context); a talos.manage site has no kubeconfig to read.
func TestSiteKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(twoClusters), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &siteconfig.Config{Kubernetes: siteconfig.Kubernetes{Kubeconfig: path, Context: "factory"}}
	kc, err := siteKubeconfig("osaka", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for kubeContext, want := range map[string]string{"factory": "https://10.20.0.11:6443", "": "https://192.0.2.1:6443"} {
		cs, err := registrygc.ClientFor(kc, kubeContext)
		if err != nil {
			t.Fatal(err)
		}
		if got := cs.(*kubernetes.Clientset).RESTClient().Get().URL().Host; "https://"+got != want {
			t.Errorf("context %q reaches %s, want %s", kubeContext, got, want)
		}
	}
	if _, err := registrygc.ClientFor(kc, "nowhere"); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("an unknown context: err = %v", err)
	}
	if _, err := registrygc.ClientFor("not: [a kubeconfig", ""); err == nil {
		t.Error("a broken kubeconfig was accepted")
	}

	cfg.Kubernetes.Kubeconfig = filepath.Join(t.TempDir(), "missing")
	if _, err := siteKubeconfig("osaka", cfg); err == nil || !strings.Contains(err.Error(), "kubernetes.kubeconfig") {
		t.Errorf("a missing kubeconfig: err = %v", err)
	}
	cfg.Talos.Manage = true
	if _, err := siteKubeconfig("osaka", cfg); err == nil || !strings.Contains(err.Error(), "talos.manage") {
		t.Errorf("a talos.manage site: err = %v", err)
	}
}

func TestGCSummary(t *testing.T) {
	for _, tc := range []struct {
		r    registrygc.Result
		want string
	}{
		{registrygc.Result{Duration: 83 * time.Second, BlobsMarked: 120, BlobsDeleted: 7, ManifestsDeleted: 1},
			"registry garbage collected in 1m23s: 120 blobs marked, 7 blobs deleted, 1 manifests deleted"},
		{registrygc.Result{Duration: 2 * time.Second, BlobsMarked: -1, BlobsDeleted: -1, ManifestsDeleted: -1, Resumed: true},
			"registry garbage collected in 2s: ? blobs marked, ? blobs deleted, ? manifests deleted (garbage-collect printed no summary) (finished an interrupted collection)"},
	} {
		if got := gcSummary(tc.r); got != tc.want {
			t.Errorf("gcSummary(%+v) =\n%s\nwant\n%s", tc.r, got, tc.want)
		}
	}
}
