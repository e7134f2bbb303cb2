package objectstore

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"airgap-site/components/internal/kube"
	"airgap-site/components/registry"
	"airgap-site/siteconfig"
)

// TenantLabel is the label the MinIO operator puts on every pod of a tenant, to its name.
const TenantLabel = "v1.min.io/tenant"

// TenantS3Port is the port MinIO serves S3 (and its admin API) on in a tenant's pods.
const TenantS3Port = 9000

// TenantNetworkPolicyName names the policy guarding a tenant's pods.
const TenantNetworkPolicyName = "minio-s3-ingress"

// TenantPolicyInput is what the tenant's NetworkPolicy depends on.
type TenantPolicyInput struct {
	Site   string
	Tenant *siteconfig.Tenant
	// RegistryNamespace is where the registry pods run.
	RegistryNamespace string
	// NodeIPs are the nodes' addresses, for kubelet's probes of the MinIO pods.
	NodeIPs []string
}

// RenderTenantNetworkPolicy is the tenant pods' ingress policy: the S3 port only from the
// registry pods, the tenant's own pods (erasure-set traffic), the MinIO operator's namespace
// (it creates the bucket and users) and the nodes (kubelet probes); the console port and
// everything else from no one. It binds only where the cluster's CNI enforces NetworkPolicy.
func RenderTenantNetworkPolicy(in TenantPolicyInput) (*networkingv1.NetworkPolicy, error) {
	t := in.Tenant
	if t == nil {
		return nil, fmt.Errorf("tenant network policy: objectStore.tenant is not set")
	}
	operatorNS := t.OperatorNamespace
	if operatorNS == "" {
		operatorNS = siteconfig.DefaultOperatorNamespace
	}
	nodes, err := kube.NodePeers(in.NodeIPs)
	if err != nil {
		return nil, err
	}
	inNamespace := func(ns string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{kube.NamespaceNameLabel: ns}}
	}
	tenantPods := map[string]string{TenantLabel: t.Name}
	from := []networkingv1.NetworkPolicyPeer{
		{NamespaceSelector: inNamespace(in.RegistryNamespace), PodSelector: &metav1.LabelSelector{MatchLabels: registry.PodSelector(in.Site)}},
		{PodSelector: &metav1.LabelSelector{MatchLabels: tenantPods}},
		{NamespaceSelector: inNamespace(operatorNS)},
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name: TenantNetworkPolicyName, Namespace: t.Namespace,
			Labels: kube.Labels("minio", in.Site, "object-store"),
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: tenantPods},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: kube.TCPPort(TenantS3Port), From: append(from, nodes...)},
			},
		},
	}, nil
}
