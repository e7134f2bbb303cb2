// Package objectstore provides the S3 bucket behind the site registry.
//
// Kind external uses an S3 endpoint that already exists (SeaweedFS, Garage, Ceph RGW, AWS, a
// standalone MinIO). Kind minio-tenant declares a MinIO operator Tenant: RenderTenant builds
// the custom resource from the typed config (pure, golden tested) and New declares it with its
// configuration Secret (root credentials). Without objectStore.tenant.adminEndpoint the
// operator creates the registry's one user (consoleAdmin) from a user Secret; with it the
// stack declares a read-write push user and a read-only pull user with bucket-scoped policies
// through pulumi-minio (components/minio), whose provider alone holds the root credentials.
// The MinIO operator itself must already run in the cluster. RenderTenantNetworkPolicy (pure, golden
// tested) keeps the tenant's S3 port to the registry pods, the tenant, the operator and the
// nodes. Either way the registry receives an endpoint, a bucket and credentials: the push
// identity's, and the pull endpoints' (siteconfig.Secrets.PullKeys).
package objectstore
