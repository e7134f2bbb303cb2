package kube

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Namespace is a namespace a component owns, with what its objects need to live in it.
type Namespace struct {
	*corev1.Namespace
	labels pulumi.StringMap
	// Opts place an object under the component and after the namespace.
	Opts []pulumi.ResourceOption
}

// NewNamespace declares a labelled namespace as a child of parent.
func NewNamespace(ctx *pulumi.Context, name, namespace string, labels pulumi.StringMap, parent pulumi.Resource) (*Namespace, error) {
	ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(namespace), Labels: labels},
	}, pulumi.Parent(parent))
	if err != nil {
		return nil, err
	}
	return &Namespace{
		Namespace: ns,
		labels:    labels,
		Opts:      []pulumi.ResourceOption{pulumi.Parent(parent), pulumi.DependsOn([]pulumi.Resource{ns})},
	}, nil
}

// Name is the namespace's name as an output.
func (n *Namespace) Name() pulumi.StringOutput { return n.Metadata.Name().Elem() }

// Meta is the metadata of an object named name in this namespace, with its labels.
func (n *Namespace) Meta(name string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: n.Name(), Labels: n.labels}
}
