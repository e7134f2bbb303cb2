package minio

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Admin is how pulumi-minio reaches a MinIO server and whom it acts as.
type Admin struct {
	// Server is host:port (see siteconfig.AdminServer); SSL selects https.
	Server   string
	SSL      bool
	Region   string
	User     pulumi.StringInput
	Password pulumi.StringInput
}

// Identity is a user's access key (its name) and secret key.
type Identity struct {
	AccessKey pulumi.StringInput
	SecretKey pulumi.StringInput
}

// BucketUsersArgs are the registry's two users on one bucket.
type BucketUsersArgs struct {
	Admin  Admin
	Bucket string
	// Push may read and write the bucket, Pull only read it.
	Push, Pull Identity
}

// BucketUsers are the declared resources.
type BucketUsers struct {
	Provider    *Provider
	Push, Pull  *IamUser
	Policies    map[Access]*IamPolicy
	Attachments []*IamUserPolicyAttachment
}

// Ready are what the users' clients must wait for: the attachments (which wait for the users
// and the policies).
func (b *BucketUsers) Ready() []pulumi.Resource {
	var out []pulumi.Resource
	for _, a := range b.Attachments {
		out = append(out, a)
	}
	return out
}

// NewBucketUsers declares an explicit provider for the server, a read-write push user and a
// read-only pull user, each with a policy on the bucket only. opts are given to every
// resource (Parent, DependsOn); the provider is set here.
func NewBucketUsers(ctx *pulumi.Context, name string, args BucketUsersArgs, opts ...pulumi.ResourceOption) (*BucketUsers, error) {
	a := args.Admin
	var region pulumi.StringPtrInput
	if a.Region != "" {
		region = pulumi.StringPtr(a.Region)
	}
	p, err := NewProvider(ctx, name+"-minio", &ProviderArgs{
		MinioServer:   pulumi.String(a.Server),
		MinioUser:     a.User,
		MinioPassword: a.Password,
		MinioSsl:      pulumi.BoolPtr(a.SSL),
		MinioRegion:   region,
	}, opts...)
	if err != nil {
		return nil, err
	}
	with := append(append([]pulumi.ResourceOption{}, opts...), pulumi.Provider(p))
	b := &BucketUsers{Provider: p, Policies: map[Access]*IamPolicy{}}
	for _, u := range []struct {
		access Access
		id     Identity
		user   **IamUser
		suffix string
	}{{ReadWrite, args.Push, &b.Push, "push"}, {ReadOnly, args.Pull, &b.Pull, "pull"}} {
		doc, err := Policy(args.Bucket, u.access)
		if err != nil {
			return nil, err
		}
		policy, err := NewIamPolicy(ctx, name+"-"+u.suffix+"-policy", &IamPolicyArgs{
			Name:   pulumi.String(PolicyName(args.Bucket, u.access)),
			Policy: pulumi.String(doc),
		}, with...)
		if err != nil {
			return nil, err
		}
		user, err := NewIamUser(ctx, name+"-"+u.suffix+"-user", &IamUserArgs{Name: u.id.AccessKey, Secret: u.id.SecretKey}, with...)
		if err != nil {
			return nil, err
		}
		att, err := NewIamUserPolicyAttachment(ctx, name+"-"+u.suffix+"-policy-attachment", &IamUserPolicyAttachmentArgs{
			UserName:   user.Name,
			PolicyName: policy.Name,
		}, with...)
		if err != nil {
			return nil, err
		}
		*u.user = user
		b.Policies[u.access] = policy
		b.Attachments = append(b.Attachments, att)
	}
	return b, nil
}
