package kube

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1k "k8s.io/api/core/v1"
	networkingv1k "k8s.io/api/networking/v1"
	metav1k "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// NewNetworkPolicy declares a rendered NetworkPolicy (a pure renderer's typed object, golden
// tested) in ns. It carries the subset renderers use: pod and namespace selectors by labels,
// IP blocks without exceptions, ports by number or name with a protocol, ingress only.
func NewNetworkPolicy(ctx *pulumi.Context, name string, np *networkingv1k.NetworkPolicy, ns *Namespace) (*networkingv1.NetworkPolicy, error) {
	var rules networkingv1.NetworkPolicyIngressRuleArray
	for _, r := range np.Spec.Ingress {
		var ports networkingv1.NetworkPolicyPortArray
		for _, p := range r.Ports {
			pa := &networkingv1.NetworkPolicyPortArgs{}
			if p.Protocol != nil {
				pa.Protocol = pulumi.String(string(*p.Protocol))
			}
			if p.Port != nil {
				if p.Port.StrVal != "" {
					pa.Port = pulumi.String(p.Port.StrVal)
				} else {
					pa.Port = pulumi.Int(int(p.Port.IntVal))
				}
			}
			ports = append(ports, pa)
		}
		var from networkingv1.NetworkPolicyPeerArray
		for _, f := range r.From {
			pa := &networkingv1.NetworkPolicyPeerArgs{
				PodSelector:       selector(f.PodSelector),
				NamespaceSelector: selector(f.NamespaceSelector),
			}
			if f.IPBlock != nil {
				pa.IpBlock = &networkingv1.IPBlockArgs{Cidr: pulumi.String(f.IPBlock.CIDR)}
			}
			from = append(from, pa)
		}
		rules = append(rules, &networkingv1.NetworkPolicyIngressRuleArgs{Ports: ports, From: from})
	}
	types := make([]string, len(np.Spec.PolicyTypes))
	for i, t := range np.Spec.PolicyTypes {
		types[i] = string(t)
	}
	return networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(np.Name), Namespace: ns.Name(), Labels: pulumi.ToStringMap(np.Labels),
		},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: selector(&np.Spec.PodSelector),
			PolicyTypes: pulumi.ToStringArray(types),
			Ingress:     rules,
		},
	}, ns.Opts...)
}

func selector(s *metav1k.LabelSelector) *metav1.LabelSelectorArgs {
	if s == nil {
		return nil
	}
	return &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(s.MatchLabels)}
}

// NodePeers are NetworkPolicy peers of the nodes' addresses (kubelet probes come from them),
// one /32 or /128 block each, sorted, once each.
func NodePeers(ips []string) ([]networkingv1k.NetworkPolicyPeer, error) {
	if len(ips) == 0 {
		return nil, fmt.Errorf("network policy: no node addresses: kubelet's probes would be refused")
	}
	var cidrs []string
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("network policy: node address %q: %w", ip, err)
		}
		cidrs = append(cidrs, netip.PrefixFrom(a, a.BitLen()).String())
	}
	slices.SortFunc(cidrs, strings.Compare)
	var peers []networkingv1k.NetworkPolicyPeer
	for _, c := range slices.Compact(cidrs) {
		peers = append(peers, networkingv1k.NetworkPolicyPeer{IPBlock: &networkingv1k.IPBlock{CIDR: c}})
	}
	return peers, nil
}

// TCPPort is a NetworkPolicy port: TCP port.
func TCPPort(port int) []networkingv1k.NetworkPolicyPort {
	proto := corev1k.ProtocolTCP
	p := intstr.FromInt32(int32(port))
	return []networkingv1k.NetworkPolicyPort{{Protocol: &proto, Port: &p}}
}

// NamespaceNameLabel is the label the API server sets on every namespace to its name: a
// NetworkPolicy selects a namespace by it.
const NamespaceNameLabel = "kubernetes.io/metadata.name"
