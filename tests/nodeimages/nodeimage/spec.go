package nodeimage

import "airgap-site/siteconfig"

// References of the images, as the node's pods name them.
const (
	RegistryRef = "docker.io/library/registry:" + siteconfig.RegistryVersion
	PauseRef    = "registry.k8s.io/pause:3.10"
	AppRef      = "docker.io/factory/app:1"
)

// Packages of the programs built into the pause and app images.
const (
	PausePackage = "airgap-site/tests/nodeimages/pause"
	AppPackage   = "airgap-site/tests/nodeimages/app"
)

// Numeric users, as in the upstream images: kubelet's runAsNonRoot can only check a number.
const (
	NonRootUser = "65532:65532" // distroless's nonroot
	PauseUser   = "65535:65535" // the upstream pause image's
)

// Spec describes one image: a single binary on the base layer.
type Spec struct {
	Ref string
	// Binary is the binary's path on this machine; Path is where it lands in the image.
	Binary string
	Path   string

	Entrypoint []string
	Cmd        []string
	User       string
	Ports      []string // exposed, e.g. "5000/tcp"
	// Dirs are created beside the binary, e.g. a data directory the user can write.
	Dirs []Dir
}

// Dir is a directory in an image's layer.
type Dir struct {
	Path     string // absolute, e.g. /var/lib/registry
	Mode     int64
	UID, GID int
}

// Registry is the distribution registry image, laid out like the official v3 image. The
// site mounts its own /etc/distribution/config.yml; /var/lib/registry is writable for a
// filesystem-backed test registry.
func Registry(binary string) Spec {
	return Spec{
		Ref:        RegistryRef,
		Binary:     binary,
		Path:       "/bin/registry",
		Entrypoint: []string{"/bin/registry"},
		Cmd:        []string{"serve", "/etc/distribution/config.yml"},
		User:       NonRootUser,
		Ports:      []string{"5000/tcp"},
		Dirs: []Dir{
			{Path: "/etc/distribution", Mode: 0o755},
			{Path: "/var/lib/registry", Mode: 0o755, UID: 65532, GID: 65532},
		},
	}
}

// Pause is the pod sandbox image.
func Pause(binary string) Spec {
	return Spec{Ref: PauseRef, Binary: binary, Path: "/pause", Entrypoint: []string{"/pause"}, User: PauseUser}
}

// App is the factory app image.
func App(binary string) Spec {
	return Spec{
		Ref: AppRef, Binary: binary, Path: "/app", Entrypoint: []string{"/app"},
		User: NonRootUser, Ports: []string{"8080/tcp"},
	}
}

// All is the three images of the node, in the order they are written.
func All(registry, pause, app string) []Spec {
	return []Spec{Registry(registry), Pause(pause), App(app)}
}
