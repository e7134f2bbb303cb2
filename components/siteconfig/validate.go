package siteconfig

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/api/resource"
)

// NodePort range of a default kube-apiserver (--service-node-port-range).
const (
	MinNodePort = 30000
	MaxNodePort = 32767
)

// MinTenantDrives is the smallest erasure set MinIO accepts: servers x volumesPerServer.
const MinTenantDrives = 4

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)
	bucketName   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	logLevels    = []string{"error", "warn", "info", "debug"}
	resourceKeys = []string{"cpu", "memory", "ephemeral-storage"}
)

// Validate checks a defaulted config. It returns every problem at once; warnings are advice.
func Validate(c *Config) (warnings []string, err error) {
	v := &validator{}
	if !dnsLabel.MatchString(c.Site) {
		v.fail(KeySite, "%q is not a DNS label (lowercase letters, digits, '-', at most 63)", c.Site)
	}
	v.nodes(c.Nodes)
	v.registry(&c.Registry)
	v.objectStore(c)
	v.talos(c)
	v.images(c)
	if len(v.errs) > 0 {
		return v.warnings, &ValidationError{Errors: v.errs}
	}
	return v.warnings, nil
}

type validator struct {
	errs     []error
	warnings []string
	// patchMirrors maps each mirror key user patches define to where, to find duplicates.
	patchMirrors map[string]string
}

func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) warn(format string, args ...any) {
	v.warnings = append(v.warnings, fmt.Sprintf(format, args...))
}

func (v *validator) nodes(nodes []Node) {
	if len(nodes) == 0 {
		v.fail(KeyNodes, "at least one node is required: every node's IP serves the registry NodePort")
		return
	}
	names := map[string]int{}
	ips := map[netip.Addr]int{}
	controlPlanes := 0
	for i, n := range nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		switch {
		case n.Name == "":
			v.fail(f+".name", "required")
		case !dnsSubdomain.MatchString(n.Name):
			v.fail(f+".name", "%q is not a valid node name (lowercase letters, digits, '-', '.')", n.Name)
		default:
			if j, dup := names[n.Name]; dup {
				v.fail(f+".name", "%q is also the name of nodes[%d]", n.Name, j)
			}
			names[n.Name] = i
		}
		ip, err := netip.ParseAddr(n.IP)
		switch {
		case n.IP == "":
			v.fail(f+".ip", "required")
		case err != nil:
			v.fail(f+".ip", "%q is not an IP address (write the address only: no scheme, port or prefix)", n.IP)
		case ip.IsUnspecified() || ip.IsMulticast() || ip.Zone() != "":
			v.fail(f+".ip", "%q cannot be a node address", n.IP)
		default:
			if j, dup := ips[ip]; dup {
				v.fail(f+".ip", "%s is also the address of nodes[%d]", n.IP, j)
			}
			ips[ip] = i
		}
		switch n.Role {
		case RoleControlPlane:
			controlPlanes++
		case RoleWorker:
		case "":
			v.fail(f+".role", "required: %q or %q", RoleControlPlane, RoleWorker)
		default:
			v.fail(f+".role", "%q is not %q or %q", n.Role, RoleControlPlane, RoleWorker)
		}
	}
	if controlPlanes == 0 {
		v.warn("no node has role controlplane: Talos needs at least one to bootstrap the cluster")
	}
}

func (v *validator) registry(r *Registry) {
	if !dnsLabel.MatchString(r.Namespace) {
		v.fail("registry.namespace", "%q is not a valid namespace name", r.Namespace)
	}
	if r.NodePort < MinNodePort || r.NodePort > MaxNodePort {
		v.fail("registry.nodePort", "%d is outside the NodePort range %d-%d", r.NodePort, MinNodePort, MaxNodePort)
	}
	if r.Replicas < 1 {
		v.fail("registry.replicas", "%d: at least 1 replica is required", r.Replicas)
	} else if r.Replicas == 1 {
		v.warn("registry.replicas is 1: image pulls fail while the registry pod restarts or its node drains")
	}
	if _, err := name.ParseReference(r.Image, name.StrictValidation); err != nil {
		v.fail("registry.image", "%q is not a full image reference (registry/repository:tag or @digest): %v", r.Image, err)
	}
	if !slices.Contains(logLevels, r.LogLevel) {
		v.fail("registry.logLevel", "%q is not one of %v", r.LogLevel, logLevels)
	}
	v.quantities("registry.resources.requests", r.Resources.Requests)
	v.quantities("registry.resources.limits", r.Resources.Limits)
	for k, limit := range r.Resources.Limits {
		req, ok := r.Resources.Requests[k]
		if !ok {
			continue
		}
		l, errL := resource.ParseQuantity(limit)
		q, errQ := resource.ParseQuantity(req)
		if errL == nil && errQ == nil && q.Cmp(l) > 0 {
			v.fail("registry.resources.requests."+k, "%s is above its limit %s", req, limit)
		}
	}
}

func (v *validator) quantities(field string, m map[string]string) {
	for k, q := range m {
		if !slices.Contains(resourceKeys, k) {
			v.fail(field+"."+k, "unknown resource (expected one of %v)", resourceKeys)
			continue
		}
		if _, err := resource.ParseQuantity(q); err != nil {
			v.fail(field+"."+k, "%q is not a Kubernetes quantity (e.g. 100m, 512Mi)", q)
		}
	}
}

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
	// Both kinds hand the registry an access key of its own (a tenant user for minio-tenant).
	v.secret(KeyS3AccessKey, s.S3AccessKey, 3)
	v.secret(KeyS3SecretKey, s.S3SecretKey, 8)
}

func (v *validator) endpoint(raw string) {
	const field = "objectStore.endpoint"
	if raw == "" {
		v.fail(field, "required with kind %q: the S3 URL the registry pods use, e.g. http://10.20.0.5:9000", ObjectStoreExternal)
		return
	}
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
	if t.StorageClass != "" && !dnsSubdomain.MatchString(t.StorageClass) {
		v.fail("objectStore.tenant.storageClass", "%q is not a valid StorageClass name", t.StorageClass)
	}
}

func (v *validator) secret(key string, s Secret, minLen int) {
	switch {
	case s.IsZero():
		v.fail(key, "required: set it with `pulumi config set --secret %s <value>`", key)
	case len(s.Reveal()) < minLen:
		v.fail(key, "too short: at least %d characters", minLen)
	}
}

func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}
