package mirror

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// DockerHub is how Docker Hub is written in normalized references and mirror keys.
// go-containerregistry spells it index.docker.io; containerd and Talos spell it docker.io.
const DockerHub = "docker.io"

// portSeparator replaces ':' between host and port in a repository name.
const portSeparator = "_"

var (
	hostLabel  = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	hostPortRE = regexp.MustCompile(`^(` + hostLabel + `(\.` + hostLabel + `)*|\[[0-9a-f:]+\])(:[0-9]{1,5})?$`)
)

// HostPortProblem explains why s is not a registry host[:port] (a mirror key, a TLS or auth
// config name, an upstream), or returns "" when it is one.
func HostPortProblem(s string) string {
	if strings.Contains(s, "://") {
		u, _ := url.Parse(s)
		host := s
		if u != nil && u.Host != "" {
			host = u.Host
		}
		return fmt.Sprintf("%q is a URL; write the registry host[:port] as it appears in image references (%s): Talos silently ignores URL keys", s, host)
	}
	if !hostPortRE.MatchString(s) {
		if lower := strings.ToLower(s); lower != s && hostPortRE.MatchString(lower) {
			return fmt.Sprintf("%q is not lowercase; write %q", s, lower)
		}
		return fmt.Sprintf("%q is not a registry host[:port] (lowercase, e.g. docker.io or 10.20.0.11:32000)", s)
	}
	if _, port, err := net.SplitHostPort(s); err == nil {
		if n, _ := strconv.Atoi(port); n < 1 || n > 65535 {
			return fmt.Sprintf("%q has an invalid port", s)
		}
	}
	return ""
}

// UpstreamProblem explains why s cannot be an upstream registry of the site, or returns "".
// On top of HostPortProblem: an IPv6 literal cannot become a repository name (see
// UpstreamRepository), so such a registry needs a DNS name.
func UpstreamProblem(s string) string {
	if msg := HostPortProblem(s); msg != "" {
		return msg
	}
	if strings.HasPrefix(s, "[") {
		return fmt.Sprintf("%q is an IPv6 literal, which cannot be written into a repository name of the site registry; give that registry a DNS name", s)
	}
	return ""
}

// Target is where an image lives in the site registry by the mirror scheme.
type Target struct {
	// Reference is the normalized original reference, e.g. docker.io/library/nginx:1.27.
	Reference string
	// Upstream is the registry the reference names, host[:port]: the Talos mirror key.
	Upstream string
	// Repository is the site registry repository, <upstream>/<path> (see UpstreamRepository).
	Repository string
	// Tag is the reference's tag; a digest reference gets sha256-<hex>, since containerd
	// pulls it by digest anyway.
	Tag string
	// Digest is the reference's digest, or "" for a tag reference.
	Digest string
}

// Parse parses an image reference into its upstream, path, and tag or digest. Docker Hub
// short forms are expanded (nginx -> docker.io/library/nginx), no tag means latest, and a
// reference with both a tag and a digest keeps only the digest.
func Parse(ref string) (upstream, path, tag, digest string, err error) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return "", "", "", "", fmt.Errorf("parsing reference %q: %w", ref, err)
	}
	upstream = r.Context().RegistryStr()
	if upstream == name.DefaultRegistry {
		upstream = DockerHub
	}
	// RepositoryStr adds library/ to official Docker Hub images.
	path = r.Context().RepositoryStr()
	switch r := r.(type) {
	case name.Digest:
		return upstream, path, "", r.DigestStr(), nil
	case name.Tag:
		return upstream, path, r.TagStr(), "", nil
	}
	return "", "", "", "", fmt.Errorf("parsing reference %q: neither a tag nor a digest", ref)
}

// Normalize returns the canonical reference string: "nginx:1.27" ->
// "docker.io/library/nginx:1.27", "index.docker.io/x/y:1" -> "docker.io/x/y:1", no tag ->
// ":latest", "x:1@sha256:..." -> "docker.io/library/x@sha256:..." (the digest is what is stored).
func Normalize(ref string) (string, error) {
	up, path, tag, digest, err := Parse(ref)
	if err != nil {
		return "", err
	}
	return join(up+"/"+path, tag, digest), nil
}

func join(repo, tag, digest string) string {
	if digest != "" {
		return repo + "@" + digest
	}
	return repo + ":" + tag
}

// Registry returns the upstream registry host[:port] an image reference pulls from, as
// containerd and Talos mirror keys name it.
func Registry(ref string) (string, error) {
	up, _, _, _, err := Parse(ref)
	return up, err
}

// TargetOf maps an original image reference onto the site registry.
func TargetOf(ref string) (Target, error) {
	up, path, tag, digest, err := Parse(ref)
	if err != nil {
		return Target{}, err
	}
	// The upstream becomes a mirror key and a repository component: both must be lowercase
	// host[:port] (a repository name cannot hold an upper-case letter).
	if msg := UpstreamProblem(up); msg != "" {
		return Target{}, fmt.Errorf("mapping reference %q onto the site registry: registry %s", ref, msg)
	}
	t := Target{Upstream: up, Repository: UpstreamRepository(up) + "/" + path, Tag: tag, Digest: digest}
	t.Reference = join(up+"/"+path, tag, digest)
	if digest != "" {
		t.Tag = DigestTag(digest)
	}
	return t, nil
}

// DigestTag is the tag a digest-only reference is stored under: sha256:<hex> -> sha256-<hex>.
func DigestTag(digest string) string { return strings.Replace(digest, ":", "-", 1) }

// UpstreamRepository is the first repository component that stands for an upstream in the
// site registry: the host, with a port written host_port (a ':' is not allowed in a
// repository name).
func UpstreamRepository(upstream string) string {
	if host, port, err := net.SplitHostPort(upstream); err == nil && !strings.Contains(host, ":") {
		return host + portSeparator + port
	}
	return upstream
}

// EndpointPath is the API root of an upstream's mirror endpoints on the site registry:
// containerd sends /v2/<upstream repository>/<path>/manifests/<tag> with overridePath.
func EndpointPath(upstream string) string { return "/v2/" + UpstreamRepository(upstream) }

var upstreamPortRE = regexp.MustCompile(`^(.+)` + portSeparator + `([0-9]{1,5})$`)

// Reference reads a site registry repository and tag (or digest) back into the normalized
// original reference: registry.local_5443/factory/mes and 7 -> registry.local:5443/factory/mes:7.
func Reference(repository, tagOrDigest string) (string, error) {
	first, rest, ok := strings.Cut(repository, "/")
	if !ok {
		return "", fmt.Errorf("repository %q has no upstream component", repository)
	}
	if m := upstreamPortRE.FindStringSubmatch(first); m != nil {
		first = m[1] + ":" + m[2]
	}
	sep := ":"
	if strings.HasPrefix(tagOrDigest, "sha256:") {
		sep = "@"
	}
	return Normalize(first + "/" + rest + sep + tagOrDigest)
}
