package registry

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1k "k8s.io/apimachinery/pkg/apis/meta/v1"

	"airgap-site/components/internal/kube"
	"airgap-site/sitecontract"
)

// NetworkPolicyName names the policy that guards the registry pods' ports.
const NetworkPolicyName = "registry-ingress"

// PodSelector selects the pods of both endpoints of a site's registry (not the component:
// pull and push alike).
func PodSelector(site string) map[string]string {
	l := kube.SelectorLabels(AppName, site, "")
	delete(l, sitecontract.LabelComponent)
	return l
}

// NetworkPolicyInput is what the registry's NetworkPolicy depends on.
type NetworkPolicyInput struct {
	Site      string
	Namespace string
	// NodeIPs are the nodes' addresses: kubelet probes the debug port from them.
	NodeIPs []string
}

// RenderNetworkPolicy is the registry pods' ingress policy: the registry port from anywhere
// (nodes, pods and the site LAN reach it through the NodePort, often source-NATed to a node's
// address), the debug port (pprof, expvar, health) only from the nodes, for kubelet probes;
// nothing else. It binds only where the cluster's CNI enforces NetworkPolicy.
func RenderNetworkPolicy(in NetworkPolicyInput) (*networkingv1.NetworkPolicy, error) {
	nodes, err := kube.NodePeers(in.NodeIPs)
	if err != nil {
		return nil, err
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1k.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1k.ObjectMeta{
			Name: NetworkPolicyName, Namespace: in.Namespace,
			Labels: kube.Labels(AppName, in.Site, "registry"),
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1k.LabelSelector{MatchLabels: PodSelector(in.Site)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: kube.TCPPort(Port)},
				{Ports: kube.TCPPort(DebugPort), From: nodes},
			},
		},
	}, nil
}
