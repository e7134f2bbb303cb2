package access

import (
	"errors"
	"reflect"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/provider/contract"
)

// The bindings of contract.CertificateAuthority, Certificate and Password are written by hand,
// like components/images' Image; contract_test.go holds their pulumi tags to package contract.
// Each registers with the provider version of the contract and marks the contract's secrets
// as secret outputs, so that they are never shown or stored in the clear, even before the
// provider's answer arrives.

// CertificateAuthority is the site's CA (contract.CertificateAuthority).
type CertificateAuthority struct {
	pulumi.CustomResourceState

	CertPem  pulumi.StringOutput `pulumi:"certPem"`
	KeyPem   pulumi.StringOutput `pulumi:"keyPem"`
	NotAfter pulumi.StringOutput `pulumi:"notAfter"`
}

// CertificateAuthorityArgs are the inputs of CertificateAuthority. Every change makes a new
// CA, which every node must then trust.
type CertificateAuthorityArgs struct {
	CommonName   pulumi.StringInput
	ValidityDays pulumi.IntPtrInput
	Generation   pulumi.IntPtrInput
}

type certificateAuthorityArgs struct {
	CommonName   string `pulumi:"commonName"`
	ValidityDays *int   `pulumi:"validityDays"`
	Generation   *int   `pulumi:"generation"`
}

// ElementType implements pulumi.Input for the registration.
func (CertificateAuthorityArgs) ElementType() reflect.Type {
	return reflect.TypeFor[certificateAuthorityArgs]()
}

// NewCertificateAuthority declares a CA.
func NewCertificateAuthority(ctx *pulumi.Context, name string, args *CertificateAuthorityArgs, opts ...pulumi.ResourceOption) (*CertificateAuthority, error) {
	if args == nil {
		return nil, errNoArgs
	}
	var r CertificateAuthority
	if err := register(ctx, contract.CertificateAuthority, name, args, &r, opts); err != nil {
		return nil, err
	}
	return &r, nil
}

// Certificate is a serving certificate signed by a CA (contract.Certificate).
type Certificate struct {
	pulumi.CustomResourceState

	CertPem  pulumi.StringOutput `pulumi:"certPem"`
	KeyPem   pulumi.StringOutput `pulumi:"keyPem"`
	NotAfter pulumi.StringOutput `pulumi:"notAfter"`
}

// CertificateArgs are the inputs of Certificate. All but RenewBeforeDays make a new
// certificate.
type CertificateArgs struct {
	CACertPem       pulumi.StringInput
	CAKeyPem        pulumi.StringInput
	CommonName      pulumi.StringInput
	IPAddresses     pulumi.StringArrayInput
	DNSNames        pulumi.StringArrayInput
	ValidityDays    pulumi.IntPtrInput
	RenewBeforeDays pulumi.IntPtrInput
}

type certificateArgs struct {
	CACertPem       string   `pulumi:"caCertPem"`
	CAKeyPem        string   `pulumi:"caKeyPem"`
	CommonName      string   `pulumi:"commonName"`
	IPAddresses     []string `pulumi:"ipAddresses"`
	DNSNames        []string `pulumi:"dnsNames"`
	ValidityDays    *int     `pulumi:"validityDays"`
	RenewBeforeDays *int     `pulumi:"renewBeforeDays"`
}

// ElementType implements pulumi.Input for the registration.
func (CertificateArgs) ElementType() reflect.Type { return reflect.TypeFor[certificateArgs]() }

// NewCertificate declares a serving certificate.
func NewCertificate(ctx *pulumi.Context, name string, args *CertificateArgs, opts ...pulumi.ResourceOption) (*Certificate, error) {
	if args == nil {
		return nil, errNoArgs
	}
	var r Certificate
	if err := register(ctx, contract.Certificate, name, args, &r, opts); err != nil {
		return nil, err
	}
	return &r, nil
}

// Password is a random password with its htpasswd line (contract.Password).
type Password struct {
	pulumi.CustomResourceState

	Result   pulumi.StringOutput `pulumi:"result"`
	Htpasswd pulumi.StringOutput `pulumi:"htpasswd"`
	// Seed is what every generation's password is derived from: never used by the program.
	Seed pulumi.StringOutput `pulumi:"seed"`
}

// PasswordArgs are the inputs of Password: a new user or length makes a new password, a new
// generation rotates it in place.
type PasswordArgs struct {
	Username   pulumi.StringInput
	Length     pulumi.IntPtrInput
	Generation pulumi.IntPtrInput
}

type passwordArgs struct {
	Username   string `pulumi:"username"`
	Length     *int   `pulumi:"length"`
	Generation *int   `pulumi:"generation"`
}

// ElementType implements pulumi.Input for the registration.
func (PasswordArgs) ElementType() reflect.Type { return reflect.TypeFor[passwordArgs]() }

// NewPassword declares a password.
func NewPassword(ctx *pulumi.Context, name string, args *PasswordArgs, opts ...pulumi.ResourceOption) (*Password, error) {
	if args == nil {
		return nil, errNoArgs
	}
	var r Password
	if err := register(ctx, contract.Password, name, args, &r, opts); err != nil {
		return nil, err
	}
	return &r, nil
}

// errNoArgs: every resource here has a required input.
var errNoArgs = errors.New("missing required arguments")

// register registers a resource of r with the contract's version and secrets.
func register(ctx *pulumi.Context, r contract.Resource, name string, args pulumi.Input, state pulumi.CustomResource, opts []pulumi.ResourceOption) error {
	opts = append(opts, pulumi.Version(contract.Version), pulumi.AdditionalSecretOutputs(r.Secrets()))
	return ctx.RegisterResource(r.Token, name, args, state, opts...)
}
