package registry

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"

	"airgap-site/internal/golden"
)

func TestNetworkPolicyGolden(t *testing.T) {
	np, err := RenderNetworkPolicy(NetworkPolicyInput{
		Site: "osaka", Namespace: "airgap-registry",
		// Out of order, repeated, and one IPv6 node: sorted, once each, as /32 and /128.
		NodeIPs: []string{"10.20.0.13", "10.20.0.11", "fd00::12", "10.20.0.11"},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(np)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "networkpolicy.yml", b)
}

// TestNetworkPolicyInvariants checks what the policy promises, independently of the golden
// file: it selects both endpoints' pods, the registry port is open to all, the debug port
// only to the node addresses, and no other port is open.
func TestNetworkPolicyInvariants(t *testing.T) {
	nodes := []string{"10.20.0.11", "10.20.0.12"}
	np, err := RenderNetworkPolicy(NetworkPolicyInput{Site: "osaka", Namespace: "ns", NodeIPs: nodes})
	if err != nil {
		t.Fatal(err)
	}
	sel := np.Spec.PodSelector.MatchLabels
	for _, c := range []string{"registry", PushName} {
		pod := map[string]string{"app.kubernetes.io/name": AppName, "app.kubernetes.io/instance": "osaka", "app.kubernetes.io/component": c}
		for k, v := range sel {
			if pod[k] != v {
				t.Errorf("the policy does not select the %s pods: %v", c, sel)
			}
		}
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
		t.Errorf("policy types %v", np.Spec.PolicyTypes)
	}
	open := map[int32][]string{}
	for _, r := range np.Spec.Ingress {
		var from []string
		for _, f := range r.From {
			if f.IPBlock == nil || f.PodSelector != nil || f.NamespaceSelector != nil || len(f.IPBlock.Except) > 0 {
				t.Errorf("peer %+v is not a plain IP block", f)
				continue
			}
			from = append(from, f.IPBlock.CIDR)
		}
		if len(from) == 0 {
			from = []string{"*"}
		}
		for _, p := range r.Ports {
			open[p.Port.IntVal] = append(open[p.Port.IntVal], from...)
		}
	}
	if got := strings.Join(open[Port], ","); got != "*" {
		t.Errorf("registry port open to %s, want everyone (NodePort)", got)
	}
	if got := strings.Join(open[DebugPort], ","); got != "10.20.0.11/32,10.20.0.12/32" {
		t.Errorf("debug port open to %s, want the nodes only", got)
	}
	if len(open) != 2 {
		t.Errorf("open ports %v, want %d and %d only", open, Port, DebugPort)
	}
	for _, bad := range [][]string{nil, {"10.20.0"}} {
		if _, err := RenderNetworkPolicy(NetworkPolicyInput{Site: "osaka", Namespace: "ns", NodeIPs: bad}); err == nil {
			t.Errorf("node addresses %q accepted", bad)
		}
	}
}
