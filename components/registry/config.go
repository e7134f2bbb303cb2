package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"

	"sigs.k8s.io/yaml"
)

// Ports of the registry container: the API, and the debug listener that serves only the
// health endpoint kubelet probes (the API answers 401 to an anonymous probe).
const (
	Port      = 5000
	DebugPort = 5001
	// HealthPath answers 503 while the storage health check fails.
	HealthPath = "/debug/health"
)

// Role is what a registry Deployment is for. One bucket, two Deployments: stock distribution's
// htpasswd has no per-user permissions, so the node-facing pull endpoint runs in read-only
// maintenance mode (its write routes are not registered at all) and only the push endpoint,
// whose htpasswd holds the push identity alone, can write.
type Role string

// The two roles.
const (
	RolePull Role = "pull"
	RolePush Role = "push"
)

// Files the pods mount: the TLS key pair from the site CA and the role's htpasswd.
const (
	TLSDir       = "/etc/distribution/tls"
	TLSCertFile  = TLSDir + "/tls.crt"
	TLSKeyFile   = TLSDir + "/tls.key"
	AuthDir      = "/etc/distribution/auth"
	HtpasswdFile = AuthDir + "/htpasswd"
)

// Config is the subset of distribution v3's config.yml this project writes. Credentials are
// deliberately absent: the pods get them from a Secret through the REGISTRY_* environment
// overrides (see EnvAccessKey and friends), so config.yml can live in a ConfigMap.
type Config struct {
	Version string  `json:"version"`
	Log     Log     `json:"log"`
	Storage Storage `json:"storage"`
	HTTP    HTTP    `json:"http"`
	Auth    *Auth   `json:"auth,omitempty"`
	Health  Health  `json:"health"`
}

// Auth is the auth section: htpasswd, the one access controller that needs no token server.
type Auth struct {
	Htpasswd Htpasswd `json:"htpasswd"`
}

// Htpasswd names the realm and the bcrypt password file.
type Htpasswd struct {
	Realm string `json:"realm"`
	Path  string `json:"path"`
}

// Log configures registry logging.
type Log struct {
	Level     string `json:"level"`
	Formatter string `json:"formatter"`
}

// Storage is the storage section: one driver plus the behaviour switches. It deliberately has
// no cache section: without one distribution keeps no blob descriptor cache, so a pull endpoint
// never answers for a blob that garbage-collect deleted and needs no restart after a collection
// (registrygc relies on it; with a cache it would, distribution #1803).
type Storage struct {
	S3          *S3         `json:"s3,omitempty"`
	Delete      Enabled     `json:"delete"`
	Redirect    Redirect    `json:"redirect"`
	Maintenance Maintenance `json:"maintenance"`
}

// S3 is the s3 storage driver's parameters.
type S3 struct {
	Region         string `json:"region"`
	RegionEndpoint string `json:"regionendpoint,omitempty"`
	// ForcePathStyle is required by distribution v3 whenever regionendpoint is set: MinIO and
	// most on-prem S3 servers do not serve virtual-host buckets.
	ForcePathStyle bool   `json:"forcepathstyle"`
	Bucket         string `json:"bucket"`
	Secure         bool   `json:"secure"`
	RootDirectory  string `json:"rootdirectory"`
	ChunkSize      int64  `json:"chunksize"`
}

// Enabled is a section with only an enabled switch.
type Enabled struct {
	Enabled bool `json:"enabled"`
}

// Redirect controls presigned-URL redirects for blob GETs.
type Redirect struct {
	// Disable must be true here: a redirect sends containerd to a presigned URL of the object
	// store, which nodes outside the cluster network cannot reach.
	Disable bool `json:"disable"`
}

// Maintenance configures background jobs.
type Maintenance struct {
	UploadPurging UploadPurging `json:"uploadpurging"`
	// ReadOnly unregisters every write route: the pull endpoint refuses pushes and deletes
	// whatever the credentials.
	ReadOnly *Enabled `json:"readonly,omitempty"`
}

// UploadPurging removes abandoned uploads, e.g. after a push interrupted by a power cut.
type UploadPurging struct {
	Enabled  bool   `json:"enabled"`
	Age      string `json:"age"`
	Interval string `json:"interval"`
	DryRun   bool   `json:"dryrun"`
}

// HTTP is the listener section.
type HTTP struct {
	Addr    string              `json:"addr"`
	Headers map[string][]string `json:"headers,omitempty"`
	TLS     *TLS                `json:"tls,omitempty"`
	Debug   Debug               `json:"debug"`
}

// TLS is the serving key pair, issued by the site CA.
type TLS struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
}

// Debug is the plain-http debug listener. Kubelet probes its health endpoint; no Service
// exposes it.
type Debug struct {
	Addr string `json:"addr"`
}

// Health enables health checks: the registry answers 503 on /v2/ while its storage fails, so
// readiness probes on /v2/ take a pod without storage out of the Service.
type Health struct {
	StorageDriver HealthCheck `json:"storagedriver"`
}

// HealthCheck is a periodic check.
type HealthCheck struct {
	Enabled   bool   `json:"enabled"`
	Interval  string `json:"interval"`
	Threshold int    `json:"threshold"`
}

// Environment variables through which distribution reads the secret parts of its config.
const (
	EnvAccessKey  = "REGISTRY_STORAGE_S3_ACCESSKEY"
	EnvSecretKey  = "REGISTRY_STORAGE_S3_SECRETKEY"
	EnvHTTPSecret = "REGISTRY_HTTP_SECRET"
)

// Storage describes the S3 bucket the registry writes to.
type StorageInput struct {
	Endpoint      string // scheme://host[:port]
	Region        string
	Bucket        string
	RootDirectory string
}

// Input is everything Render needs.
type Input struct {
	Storage  StorageInput
	LogLevel string
	Role     Role
	// PlainHTTP leaves out TLS and authentication (registry.plainHTTP).
	PlainHTTP bool
}

// chunkSize is the S3 multipart part size: 10 MiB keeps memory per upload small while staying
// well above S3's 5 MiB minimum.
const chunkSize = 10 << 20

// Render builds the registry config for an S3 bucket.
func Render(in Input) (*Config, error) {
	if in.Role != RolePull && in.Role != RolePush {
		return nil, fmt.Errorf("rendering registry config: unknown role %q", in.Role)
	}
	u, err := url.Parse(in.Storage.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("parsing S3 endpoint %q: want http(s)://host[:port]", in.Storage.Endpoint)
	}
	pull := in.Role == RolePull
	c := &Config{
		Version: "0.1",
		Log:     Log{Level: in.LogLevel, Formatter: "text"},
		Storage: Storage{
			S3: &S3{
				Region:         in.Storage.Region,
				RegionEndpoint: in.Storage.Endpoint,
				ForcePathStyle: true,
				Bucket:         in.Storage.Bucket,
				Secure:         u.Scheme == "https",
				RootDirectory:  in.Storage.RootDirectory,
				ChunkSize:      chunkSize,
			},
			Delete:   Enabled{Enabled: !pull},
			Redirect: Redirect{Disable: true},
			// Only the writer purges abandoned uploads: a purge deletes objects.
			Maintenance: Maintenance{UploadPurging: UploadPurging{
				Enabled: !pull, Age: "168h", Interval: "24h",
			}},
		},
		HTTP: HTTP{
			Addr:    fmt.Sprintf(":%d", Port),
			Headers: map[string][]string{"X-Content-Type-Options": {"nosniff"}},
			Debug:   Debug{Addr: fmt.Sprintf(":%d", DebugPort)},
		},
		Health: Health{StorageDriver: HealthCheck{Enabled: true, Interval: "10s", Threshold: 3}},
	}
	if pull {
		c.Storage.Maintenance.ReadOnly = &Enabled{Enabled: true}
	}
	if !in.PlainHTTP {
		c.HTTP.TLS = &TLS{Certificate: TLSCertFile, Key: TLSKeyFile}
		c.Auth = &Auth{Htpasswd: Htpasswd{Realm: "airgap-site " + string(in.Role), Path: HtpasswdFile}}
	}
	return c, nil
}

// YAML is config.yml as the registry reads it.
func (c *Config) YAML() ([]byte, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("marshalling registry config: %w", err)
	}
	return b, nil
}

// Digest identifies a rendered config.yml: "sha256:<hex>".
func Digest(configYAML []byte) string {
	sum := sha256.Sum256(configYAML)
	return "sha256:" + hex.EncodeToString(sum[:])
}
