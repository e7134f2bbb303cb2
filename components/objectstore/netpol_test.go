package objectstore

import (
	"testing"

	"sigs.k8s.io/yaml"

	"airgap-site/components/registry"
	"airgap-site/internal/golden"
	"airgap-site/siteconfig"
)

func TestTenantNetworkPolicyGolden(t *testing.T) {
	tenant := siteconfig.DefaultTenant()
	np, err := RenderTenantNetworkPolicy(TenantPolicyInput{
		Site: "osaka", Tenant: &tenant, RegistryNamespace: "airgap-registry", NodeIPs: []string{"10.20.0.12", "10.20.0.11"},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(np)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "tenant-networkpolicy.yaml", b)
}

// TestTenantNetworkPolicyPeers checks who may reach the S3 port, independently of the golden
// file: the registry pods in the registry namespace (both selectors in one peer, so other pods
// of that namespace are not let in), the tenant's own pods, the operator's namespace and the
// nodes; one port, no other rule.
func TestTenantNetworkPolicyPeers(t *testing.T) {
	tenant := siteconfig.DefaultTenant()
	tenant.OperatorNamespace = "ops"
	np, err := RenderTenantNetworkPolicy(TenantPolicyInput{Site: "osaka", Tenant: &tenant, RegistryNamespace: "reg", NodeIPs: []string{"10.20.0.11"}})
	if err != nil {
		t.Fatal(err)
	}
	if np.Namespace != tenant.Namespace || np.Spec.PodSelector.MatchLabels[TenantLabel] != tenant.Name || len(np.Spec.Ingress) != 1 {
		t.Fatalf("policy %+v", np)
	}
	rule := np.Spec.Ingress[0]
	if len(rule.Ports) != 1 || rule.Ports[0].Port.IntVal != TenantS3Port {
		t.Errorf("ports %+v, want %d only", rule.Ports, TenantS3Port)
	}
	reg := rule.From[0]
	if reg.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "reg" || reg.PodSelector == nil ||
		reg.PodSelector.MatchLabels["app.kubernetes.io/name"] != registry.AppName {
		t.Errorf("registry peer %+v", reg)
	}
	if rule.From[2].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ops" || rule.From[2].PodSelector != nil {
		t.Errorf("operator peer %+v", rule.From[2])
	}
	if len(rule.From) != 4 || rule.From[3].IPBlock == nil || rule.From[3].IPBlock.CIDR != "10.20.0.11/32" {
		t.Errorf("peers %+v", rule.From)
	}
}
