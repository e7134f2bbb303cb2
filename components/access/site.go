package access

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/registry"
	"airgap-site/siteconfig"
)

// Type is the site access component's Pulumi type token.
const Type = "airgap-site:access:SiteAccess"

// SiteAccess is a site's generated trust: its CA, the registry's serving certificate and the
// passwords of the pull and push identities, all kept encrypted in the stack's state.
type SiteAccess struct {
	pulumi.ResourceState

	// CA is the site CA's certificate (PEM, public): what nodes and the provider trust.
	CA   pulumi.StringOutput `pulumi:"caCertPem"`
	Cert *Certificate
	Pull *Password
	Push *Password
	// Revision changes whenever the serving certificate or a password is generated anew.
	Revision pulumi.StringOutput
}

// Validity of what the stack generates. The CA outlives many serving certificates; a serving
// certificate is renewed by any up in its last RenewBeforeDays.
const (
	CAValidityDays   = 3650
	CertValidityDays = 1095
	RenewBeforeDays  = 180
)

// NewSiteAccess generates the site's credentials. The serving certificate names every node's
// address, images.registry and the registry Services' DNS names: a new node reissues it
// under the same CA, so nodes keep trusting it.
func NewSiteAccess(ctx *pulumi.Context, name string, c *siteconfig.Config, opts ...pulumi.ResourceOption) (*SiteAccess, error) {
	a := &SiteAccess{}
	if err := ctx.RegisterComponentResource(Type, name, a, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)
	ca, err := NewCertificateAuthority(ctx, name+"-ca", &CertificateAuthorityArgs{
		CommonName:   pulumi.String("airgap-site " + c.Site + " CA"),
		ValidityDays: pulumi.IntPtr(CAValidityDays),
		Generation:   pulumi.IntPtr(c.Registry.Rotation.CA),
	}, parent)
	if err != nil {
		return nil, err
	}
	ips, dnsNames := SubjectAltNames(c)
	cert, err := NewCertificate(ctx, name+"-registry", &CertificateArgs{
		CACertPem:       ca.CertPem,
		CAKeyPem:        pulumi.ToSecret(ca.KeyPem).(pulumi.StringOutput),
		CommonName:      pulumi.String("registry." + c.Registry.Namespace),
		IPAddresses:     pulumi.ToStringArray(ips),
		DNSNames:        pulumi.ToStringArray(dnsNames),
		ValidityDays:    pulumi.IntPtr(CertValidityDays),
		RenewBeforeDays: pulumi.IntPtr(RenewBeforeDays),
	}, parent)
	if err != nil {
		return nil, err
	}
	pull, err := NewPassword(ctx, name+"-pull", &PasswordArgs{
		Username: pulumi.String(siteconfig.PullUser), Generation: pulumi.IntPtr(c.Registry.Rotation.PullPassword),
	}, parent)
	if err != nil {
		return nil, err
	}
	push, err := NewPassword(ctx, name+"-push", &PasswordArgs{
		Username: pulumi.String(siteconfig.PushUser), Generation: pulumi.IntPtr(c.Registry.Rotation.PushPassword),
	}, parent)
	if err != nil {
		return nil, err
	}
	a.CA, a.Cert, a.Pull, a.Push = ca.CertPem, cert, pull, push
	a.Revision = pulumi.All(cert.ID(), pull.ID(), push.ID()).ApplyT(func(ids []any) string {
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = string(id.(pulumi.ID))
		}
		return strings.Join(parts, ",")
	}).(pulumi.StringOutput)
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{"caCertPem": a.CA})
}

// Registry is what the registry component needs of the credentials.
func (a *SiteAccess) Registry() *registry.Access {
	return &registry.Access{
		CertPEM: a.Cert.CertPem, KeyPEM: a.Cert.KeyPem,
		PullHtpasswd: a.Pull.Htpasswd, PushHtpasswd: a.Push.Htpasswd,
		Revision: a.Revision,
	}
}

// SubjectAltNames are the serving certificate's names: every node's IP, images.registry's
// host, and the registry Services' DNS names.
func SubjectAltNames(c *siteconfig.Config) (ips, dnsNames []string) {
	for _, n := range c.Nodes {
		ips = append(ips, n.IP)
	}
	if host, _, err := net.SplitHostPort(c.Images.Registry); err == nil {
		if addr, err := netip.ParseAddr(host); err != nil {
			dnsNames = append(dnsNames, host)
		} else if !slices.Contains(ips, addr.String()) {
			ips = append(ips, addr.String())
		}
	}
	return ips, append(dnsNames, registry.DNSNames(c.Registry.Namespace)...)
}
