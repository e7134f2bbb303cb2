package siteconfig

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/api/resource"
)

// minioUserName is what pulumi-minio accepts as a user name (its access key).
var minioUserName = regexp.MustCompile(`^[0-9A-Za-z=,.@\-_+]+$`)

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Object store kinds.
const (
	ObjectStoreMinioTenant = "minio-tenant"
	ObjectStoreExternal    = "external"
)

// ObjectStore is where the registry keeps its blobs: a MinIO tenant the site deploys, or any
// S3 endpoint that already exists.
type ObjectStore struct {
	Kind          string `json:"kind"`
	Bucket        string `json:"bucket"`
	Region        string `json:"region"`
	RootDirectory string `json:"rootDirectory"`
	// Endpoint is the S3 URL the registry pods use (kind external).
	Endpoint string  `json:"endpoint,omitempty"`
	Tenant   *Tenant `json:"tenant,omitempty"`
	// Capacity is the usable size of the store for the registry (a Kubernetes quantity, e.g.
	// 500Gi): the free space is what the registry's bytes leave of it. Empty: a tenant's is
	// derived from its volumes (TenantCapacity), an external store's is unknown.
	Capacity string `json:"capacity,omitempty"`
	// UsageEndpoint is the store's S3 URL as the machine running pulumi reaches it, where every
	// up lists the registry's objects to measure what they hold. Empty: endpoint (kind
	// external) or tenant.adminEndpoint; UsageNotMeasured measures nothing.
	UsageEndpoint string `json:"usageEndpoint,omitempty"`
}

// UsageNotMeasured as objectStore.usageEndpoint: the up does not list the store.
const UsageNotMeasured = "none"

// CapacityBytes is the usable size of the store in bytes and where it comes from (declared,
// or derived from a tenant's volumes); 0 when unknown. The config must be valid.
func (o *ObjectStore) CapacityBytes() (int64, string) {
	if o.Capacity != "" {
		q, err := resource.ParseQuantity(o.Capacity)
		if err != nil {
			return 0, ""
		}
		return q.Value(), "objectStore.capacity"
	}
	if o.Kind != ObjectStoreMinioTenant || o.Tenant == nil {
		return 0, ""
	}
	t := o.Tenant
	q, err := resource.ParseQuantity(t.Size)
	if err != nil {
		return 0, ""
	}
	set, parity := ErasureSet(t.Servers * t.VolumesPerServer)
	if set == 0 {
		return 0, ""
	}
	return TenantCapacity(t.Servers, t.VolumesPerServer, q.Value()),
		fmt.Sprintf("the tenant's %d x %d volumes of %s at MinIO's default parity EC:%d of %d", t.Servers, t.VolumesPerServer, t.Size, parity, set)
}

// ErasureSet is the erasure set size MinIO chooses for drives (the largest divisor of it from
// 16 down to 2) and the parity of its STANDARD storage class by default for that size:
// 0 for 1 drive, 1 for 2-3, 2 for 4-5, 3 for 6-7, 4 from 8 (MinIO's erasure coding docs).
func ErasureSet(drives int) (set, parity int) {
	if drives < 1 {
		return 0, 0
	}
	set = 1
	for d := min(drives, 16); d >= 2; d-- {
		if drives%d == 0 {
			set = d
			break
		}
	}
	switch {
	case set == 1:
		parity = 0
	case set <= 3:
		parity = 1
	case set <= 5:
		parity = 2
	case set <= 7:
		parity = 3
	default:
		parity = 4
	}
	return set, parity
}

// TenantCapacity is the usable bytes of a tenant of servers x volumes of size bytes each:
// the raw size times the data share of each erasure set.
func TenantCapacity(servers, volumes int, size int64) int64 {
	drives := servers * volumes
	set, parity := ErasureSet(drives)
	if set == 0 {
		return 0
	}
	return int64(drives) * size / int64(set) * int64(set-parity)
}

// UsageURL is the S3 URL where an up measures the registry's bytes, "" when it measures
// nothing (UsageNotMeasured, or a tenant without adminEndpoint).
func (o *ObjectStore) UsageURL() string {
	switch {
	case o.UsageEndpoint == UsageNotMeasured:
		return ""
	case o.UsageEndpoint != "":
		return o.UsageEndpoint
	case o.Kind == ObjectStoreExternal:
		return o.Endpoint
	case o.Tenant != nil:
		return o.Tenant.AdminEndpoint
	}
	return ""
}

// Tenant is a MinIO operator Tenant (kind minio-tenant). The operator must already run.
type Tenant struct {
	Name             string `json:"name"`
	Namespace        string `json:"namespace"`
	Image            string `json:"image"`
	Servers          int    `json:"servers"`
	VolumesPerServer int    `json:"volumesPerServer"`
	Size             string `json:"size"`
	StorageClass     string `json:"storageClass,omitempty"`
	// OperatorNamespace is where the MinIO operator runs: the tenant's NetworkPolicy lets it
	// reach the tenant's S3 port (it creates the bucket and users). Empty means
	// DefaultOperatorNamespace.
	OperatorNamespace string `json:"operatorNamespace,omitempty"`
	// AdminEndpoint is the tenant's MinIO API as the machine running pulumi reaches it during
	// the up (http(s)://host:port: a kubectl port-forward on loopback, or a NodePort). When set,
	// the stack declares the registry's push and pull users and their bucket-scoped policies
	// through pulumi-minio (components/minio) instead of letting the operator create one
	// consoleAdmin user.
	AdminEndpoint string `json:"adminEndpoint,omitempty"`
}

// TenantUsers reports whether the stack declares the tenant's push and pull users itself
// (kind minio-tenant with objectStore.tenant.adminEndpoint).
func (o *ObjectStore) TenantUsers() bool {
	return o.Kind == ObjectStoreMinioTenant && o.Tenant != nil && o.Tenant.AdminEndpoint != ""
}

// AdminServer splits a tenant's adminEndpoint into the host:port pulumi-minio dials and
// whether it speaks TLS.
func AdminServer(raw string) (hostPort string, ssl bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("parsing objectStore.tenant.adminEndpoint %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" {
		return "", false, fmt.Errorf("objectStore.tenant.adminEndpoint %q: must be http://host:port or https://host:port", raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return "", false, fmt.Errorf("objectStore.tenant.adminEndpoint %q: must be scheme://host:port only", raw)
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return "", false, fmt.Errorf("objectStore.tenant.adminEndpoint %q: invalid port", raw)
	}
	return u.Host, u.Scheme == "https", nil
}

// DefaultOperatorNamespace is the MinIO operator's namespace in its own install manifests.
const DefaultOperatorNamespace = "minio-operator"

// MinTenantDrives is the smallest erasure set MinIO accepts: servers x volumesPerServer.
const MinTenantDrives = 4

func (v *validator) objectStore(c *Config) {
	o := &c.ObjectStore
	s := &c.Secrets
	if !bucketName.MatchString(o.Bucket) || net.ParseIP(o.Bucket) != nil {
		v.fail("objectStore.bucket", "%q is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')", o.Bucket)
	}
	if o.Region == "" {
		v.fail("objectStore.region", "required (any value for MinIO and most S3 servers, e.g. %s)", DefaultRegion)
	}
	if o.RootDirectory == "" || o.RootDirectory[0] != '/' {
		v.fail("objectStore.rootDirectory", "%q must be an absolute path inside the bucket, e.g. %s", o.RootDirectory, DefaultRootDirectory)
	}
	switch o.Kind {
	case ObjectStoreExternal:
		v.endpoint(o.Endpoint)
	case ObjectStoreMinioTenant:
		if o.Endpoint != "" {
			v.fail("objectStore.endpoint", "the tenant's own Service is used with kind %q; remove endpoint or use kind %q",
				ObjectStoreMinioTenant, ObjectStoreExternal)
		}
		v.tenant(o.Tenant)
		v.secret(KeyMinioRootUser, s.MinioRootUser, 3)
		v.secret(KeyMinioRootPassword, s.MinioRootPassword, 8)
	case "":
		v.fail("objectStore.kind", "required: %q or %q", ObjectStoreMinioTenant, ObjectStoreExternal)
		return
	default:
		v.fail("objectStore.kind", "%q is not %q or %q", o.Kind, ObjectStoreMinioTenant, ObjectStoreExternal)
		return
	}
	if o.Capacity != "" {
		if q, err := resource.ParseQuantity(o.Capacity); err != nil || q.Sign() <= 0 {
			v.fail("objectStore.capacity", "%q is not a positive Kubernetes quantity (e.g. 500Gi)", o.Capacity)
		}
	}
	if o.UsageEndpoint != "" && o.UsageEndpoint != UsageNotMeasured {
		v.s3URL("objectStore.usageEndpoint", o.UsageEndpoint)
	}
	// Both kinds hand the registry an access key of its own (a tenant user for minio-tenant).
	v.secret(KeyS3AccessKey, s.S3AccessKey, 3)
	v.secret(KeyS3SecretKey, s.S3SecretKey, 8)
	v.pullKey(o, s)
}

func (v *validator) endpoint(raw string) {
	const field = "objectStore.endpoint"
	if raw == "" {
		v.fail(field, "required with kind %q: the S3 URL the registry pods use, e.g. http://10.20.0.5:9000", ObjectStoreExternal)
		return
	}
	v.s3URL(field, raw)
}

// s3URL checks that field is an S3 endpoint URL: scheme://host[:port].
func (v *validator) s3URL(field, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.fail(field, "%q must be an http:// or https:// URL with a host", raw)
		return
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		v.fail(field, "%q must be scheme://host[:port] only; put the bucket in objectStore.bucket", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			v.fail(field, "%q has an invalid port", raw)
		}
	}
}

func (v *validator) tenant(t *Tenant) {
	if t == nil {
		v.fail("objectStore.tenant", "required with kind %q", ObjectStoreMinioTenant)
		return
	}
	if !dnsLabel.MatchString(t.Name) {
		v.fail("objectStore.tenant.name", "%q is not a valid name", t.Name)
	}
	if !dnsLabel.MatchString(t.Namespace) {
		v.fail("objectStore.tenant.namespace", "%q is not a valid namespace name", t.Namespace)
	}
	if _, err := name.ParseReference(t.Image, name.StrictValidation); err != nil {
		v.fail("objectStore.tenant.image", "%q is not a full image reference: %v", t.Image, err)
	}
	if t.Servers < 1 {
		v.fail("objectStore.tenant.servers", "%d: at least 1 server is required", t.Servers)
	}
	if t.VolumesPerServer < 1 {
		v.fail("objectStore.tenant.volumesPerServer", "%d: at least 1 volume per server is required", t.VolumesPerServer)
	}
	if t.Servers >= 1 && t.VolumesPerServer >= 1 && t.Servers*t.VolumesPerServer < MinTenantDrives {
		v.fail("objectStore.tenant.volumesPerServer", "servers x volumesPerServer = %d x %d = %d; MinIO needs at least %d drives (3 servers need 2 volumes each)",
			t.Servers, t.VolumesPerServer, t.Servers*t.VolumesPerServer, MinTenantDrives)
	}
	if q, err := resource.ParseQuantity(t.Size); err != nil || q.Sign() <= 0 {
		v.fail("objectStore.tenant.size", "%q is not a positive Kubernetes quantity (e.g. 100Gi)", t.Size)
	}
	if t.OperatorNamespace != "" && !dnsLabel.MatchString(t.OperatorNamespace) {
		v.fail("objectStore.tenant.operatorNamespace", "%q is not a valid namespace name", t.OperatorNamespace)
	}
	if t.AdminEndpoint != "" {
		if _, _, err := AdminServer(t.AdminEndpoint); err != nil {
			v.fail("objectStore.tenant.adminEndpoint", "%v", err)
		}
	}
	if t.StorageClass != "" && !dnsSubdomain.MatchString(t.StorageClass) {
		v.fail("objectStore.tenant.storageClass", "%q is not a valid StorageClass name", t.StorageClass)
	}
}

// pullKey checks the pull endpoints' S3 identity: both keys or neither, and another user than
// the push identity's, since the point is that it cannot write.
func (v *validator) pullKey(o *ObjectStore, s *Secrets) {
	set := !s.S3PullAccessKey.IsZero() || !s.S3PullSecretKey.IsZero()
	switch {
	case o.Kind == ObjectStoreMinioTenant && !o.TenantUsers():
		v.warn("objectStore.tenant.adminEndpoint is not set: the MinIO operator creates the tenant's one user (%s) with consoleAdmin "+
			"and both endpoints use it (%s and %s are not used); set adminEndpoint to have the stack declare a read-write push user "+
			"and a read-only pull user (README, Security)", KeyS3AccessKey, KeyS3PullAccessKey, KeyS3PullSecretKey)
		return
	case o.Kind == ObjectStoreMinioTenant:
		// The stack creates the pull user: its keys are required.
		if !set {
			v.fail(KeyS3PullAccessKey, "required with objectStore.tenant.adminEndpoint: the read-only MinIO user the stack creates for the pull endpoints")
			return
		}
	case !set:
		v.warn("%s and %s are not set: the pull endpoints use the push identity's S3 key, which can write and delete the bucket; "+
			"give them a key that can only read it (README, Security)", KeyS3PullAccessKey, KeyS3PullSecretKey)
		return
	}
	v.secret(KeyS3PullAccessKey, s.S3PullAccessKey, 3)
	v.secret(KeyS3PullSecretKey, s.S3PullSecretKey, 8)
	if !s.S3PullAccessKey.IsZero() && s.S3PullAccessKey.Reveal() == s.S3AccessKey.Reveal() {
		v.fail(KeyS3PullAccessKey, "is also %s: the pull endpoints need an S3 user of their own, allowed only to read the bucket", KeyS3AccessKey)
	}
	if o.Kind == ObjectStoreMinioTenant {
		for _, k := range []struct {
			key string
			val Secret
		}{{KeyS3AccessKey, s.S3AccessKey}, {KeyS3PullAccessKey, s.S3PullAccessKey}} {
			switch {
			case k.val.IsZero():
			case k.val.Reveal() == s.MinioRootUser.Reveal():
				v.fail(k.key, "is also %s: the registry's MinIO users must not be the tenant's root user", KeyMinioRootUser)
			case !minioUserName.MatchString(k.val.Reveal()):
				v.fail(k.key, "is the name of a MinIO user the stack creates: only letters, digits and = , . @ - _ + are allowed")
			}
		}
	}
}

// PullKeys is the S3 identity of the pull endpoints on object store o: the read-only pull key
// pair of an external store or of a tenant whose users the stack declares, else the push
// identity's (validation warns). The one home of that rule.
func (s *Secrets) PullKeys(o *ObjectStore) (access, secret Secret) {
	switch {
	case o.Kind == ObjectStoreExternal && (!s.S3PullAccessKey.IsZero() || !s.S3PullSecretKey.IsZero()), o.TenantUsers():
		return s.S3PullAccessKey, s.S3PullSecretKey
	}
	return s.S3AccessKey, s.S3SecretKey
}
