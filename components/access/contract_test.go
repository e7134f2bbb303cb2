package access

import (
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/components/internal/bindingtest"
	"airgap-site/components/internal/mocktest"
	"airgap-site/provider/contract"
)

// TestBindingsMatchContract holds the hand-written bindings to package contract: the engine
// passes properties by name, so a tag spelled differently here would be dropped silently.
func TestBindingsMatchContract(t *testing.T) {
	bindingtest.Match[contract.CertificateAuthorityArgs, contract.CertificateAuthorityOutputs,
		certificateAuthorityArgs, CertificateAuthorityArgs, CertificateAuthority](t, contract.CertificateAuthority)
	bindingtest.Match[contract.CertificateArgs, contract.CertificateOutputs,
		certificateArgs, CertificateArgs, Certificate](t, contract.Certificate)
	bindingtest.Match[contract.PasswordArgs, contract.PasswordOutputs,
		passwordArgs, PasswordArgs, Password](t, contract.Password)
}

// TestRegistration: each resource asks the engine for the contract's provider version and
// marks the contract's secrets as secret outputs.
func TestRegistration(t *testing.T) {
	rec := &mocktest.Recorder{}
	rec.Run(t, func(ctx *pulumi.Context) error {
		ca, err := NewCertificateAuthority(ctx, "ca", &CertificateAuthorityArgs{CommonName: pulumi.String("site CA")})
		if err != nil {
			return err
		}
		if _, err := NewCertificate(ctx, "cert", &CertificateArgs{
			CACertPem: ca.CertPem, CAKeyPem: ca.KeyPem, CommonName: pulumi.String("registry"),
			IPAddresses: pulumi.ToStringArray([]string{"10.20.0.11"}), RenewBeforeDays: pulumi.IntPtr(30),
		}); err != nil {
			return err
		}
		_, err = NewPassword(ctx, "pw", &PasswordArgs{Username: pulumi.String("pull"), Generation: pulumi.IntPtr(2)})
		return err
	})
	for _, r := range []contract.Resource{contract.CertificateAuthority, contract.Certificate, contract.Password} {
		rs := rec.OfType(r.Token)
		if len(rs) != 1 {
			t.Fatalf("%d resources of %s", len(rs), r.Token)
		}
		rpc := rs[0].RegisterRPC
		if rpc.GetVersion() != contract.Version {
			t.Errorf("%s: version %q, want %q", r.Token, rpc.GetVersion(), contract.Version)
		}
		if got := rpc.GetAdditionalSecretOutputs(); !slices.Equal(got, r.Secrets()) {
			t.Errorf("%s: additional secret outputs %v, want %v", r.Token, got, r.Secrets())
		}
	}
	if in := rec.One(t, contract.CertificateToken); in["renewBeforeDays"].NumberValue() != 30 || in["ipAddresses"].ArrayValue()[0].StringValue() != "10.20.0.11" {
		t.Errorf("certificate inputs %v", in)
	}
	if in := rec.One(t, contract.PasswordToken); in["username"].StringValue() != "pull" || in["generation"].NumberValue() != 2 {
		t.Errorf("password inputs %v", in)
	}
}

func TestNilArgs(t *testing.T) {
	rec := &mocktest.Recorder{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewPassword(ctx, "pw", nil)
		return err
	}, pulumi.WithMocks("airgap-site", "test", rec))
	if err == nil {
		t.Error("a password without arguments was declared")
	}
}
