package main

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"airgap-site/policy/checks"
	"airgap-site/siteconfig"
	"airgap-site/sitecontract"
	"airgap-site/talosconfig"
)

// Policy names, as the engine prints them.
const (
	ImagesMirrored     = "images-from-mirrored-registries"
	NoPullAlways       = "no-image-pull-policy-always"
	RegistryNoRedirect = "registry-s3-no-redirect"
	NodePortMatches    = "registry-nodeport-matches-mirrors"
	NoSecretsInConfig  = "no-secrets-in-configmaps"
	TalosPatchValid    = "talos-mirror-patch-well-formed"
	TenantDrives       = "minio-tenant-min-drives"
	PinByDigest        = "images-pinned-by-digest"
	NoLatest           = "no-latest-tag"
	RegistryTLSAuth    = "registry-serves-tls-and-requires-auth"
	PullReadOnly       = "registry-pull-endpoint-read-only"
)

// Policies returns every policy of the pack: mandatory invariants, then advisories. cfg is
// the stack's own config (nil when it does not load: the program then fails on it anyway):
// the only place an exemption (registry.plainHTTP) may come from. Nothing a workload
// declares, an annotation say, switches a policy off.
func Policies(cfg *siteconfig.Config) []policyx.Policy {
	mandatory, advisory := policyx.EnforcementLevelMandatory, policyx.EnforcementLevelAdvisory
	plainHTTP := cfg != nil && cfg.Registry.PlainHTTP
	return []policyx.Policy{
		stackPolicy(ImagesMirrored, "Every container image (init containers too) comes from the site registry or an upstream with a Talos mirror in this stack.", mandatory, validateImagesMirrored),
		containerPolicy(NoPullAlways, "imagePullPolicy is not Always: pods must restart from the node cache when the registry is away.", mandatory, checks.PullPolicyNotAlways),
		resourcePolicy(RegistryNoRedirect, "A registry on S3 has storage.redirect.disable: true, and forcepathstyle: true with regionendpoint; no container overrides them through REGISTRY_* variables.", mandatory, validateRegistryConfig),
		stackPolicy(NodePortMatches, "The registry Service's NodePort is the port of every node endpoint in the Talos mirrors.", mandatory, validateNodePort),
		resourcePolicy(RegistryTLSAuth, "The site registry serves TLS and requires authentication, and no container overrides that through REGISTRY_* variables, unless the stack config opts out with registry.plainHTTP (which warns at every preview).", mandatory, validateRegistryAccess(plainHTTP)),
		stackPolicy(PullReadOnly, "Whatever serves the node-facing NodePort (registry.nodePort, the mirrors' port) runs the registry read-only: storage.maintenance.readonly.enabled: true in its config.yml, not overridden from the environment.", mandatory, validatePullReadOnly(cfg)),
		resourcePolicy(NoSecretsInConfig, "No S3 key, password or token in a ConfigMap.", mandatory, validateConfigMapSecrets),
		stackPolicy(TalosPatchValid, "The Talos mirror patch has no URL-form keys and no TLS block for http endpoints.", mandatory, validateTalosPatches),
		resourcePolicy(TenantDrives, "A MinIO tenant has servers x volumesPerServer >= 4.", mandatory, validateTenant),
		containerPolicy(PinByDigest, "Images are referenced by digest.", advisory, checks.DigestPinned),
		containerPolicy(NoLatest, "Images do not use the latest tag.", advisory, checks.NoLatestTag),
	}
}

type resourceCheck func(r policyx.AnalyzerResource, props map[string]any) []string

func resourcePolicy(name, description string, level policyx.EnforcementLevel, check resourceCheck) policyx.Policy {
	return policyx.NewResourceValidationPolicy(name, policyx.ResourceValidationPolicyArgs{
		Description:      description,
		EnforcementLevel: level,
		ValidateResource: func(_ context.Context, args policyx.ResourceValidationArgs) error {
			for _, msg := range check(args.Resource, plainMap(args.Resource.Properties)) {
				args.Manager.ReportViolation(msg, "")
			}
			return nil
		},
	})
}

// containerPolicy applies a per-container check to every workload's containers.
func containerPolicy(name, description string, level policyx.EnforcementLevel, check func(checks.Container) []string) policyx.Policy {
	return resourcePolicy(name, description, level, func(r policyx.AnalyzerResource, props map[string]any) []string {
		kind := checks.WorkloadKind(r.Type)
		if kind == "" {
			return nil
		}
		var out []string
		for _, c := range checks.Containers(kind, props) {
			out = append(out, check(c)...)
		}
		return out
	})
}

type stackCheck func(stack *stackView, report func(msg, urn string))

func stackPolicy(name, description string, level policyx.EnforcementLevel, check stackCheck) policyx.Policy {
	return policyx.NewStackValidationPolicy(name, policyx.StackValidationPolicyArgs{
		Description:      description,
		EnforcementLevel: level,
		ValidateStack: func(_ context.Context, args policyx.StackValidationArgs) error {
			check(newStackView(args.Resources), args.Manager.ReportViolation)
			return nil
		},
	})
}

// registryEnv reports the containers of a workload that override guarded registry config
// keys from the environment.
func registryEnv(r policyx.AnalyzerResource, props map[string]any, guarded []string) []string {
	var out []string
	if kind := checks.WorkloadKind(r.Type); kind != "" {
		for _, c := range checks.Containers(kind, props) {
			out = append(out, checks.RegistryEnvOverrides(c, guarded)...)
		}
	}
	return out
}

func validateRegistryConfig(r policyx.AnalyzerResource, props map[string]any) []string {
	if r.Type != "kubernetes:core/v1:ConfigMap" {
		return registryEnv(r, props, checks.RedirectKeys)
	}
	var out []string
	for _, v := range dataOf(props) {
		if s, ok := v.(string); ok {
			out = append(out, checks.RegistryConfig(s)...)
		}
	}
	return out
}

// validateRegistryAccess is exempt only when the stack config says registry.plainHTTP; the
// ConfigMap's own airgap-site/plain-http annotation is the workload's word and counts for
// nothing.
func validateRegistryAccess(plainHTTP bool) resourceCheck {
	return func(r policyx.AnalyzerResource, props map[string]any) []string {
		if plainHTTP {
			return nil
		}
		if r.Type != "kubernetes:core/v1:ConfigMap" {
			return registryEnv(r, props, checks.AccessKeys)
		}
		var out []string
		for _, v := range dataOf(props) {
			if s, ok := v.(string); ok {
				out = append(out, checks.RegistryAccess(s)...)
			}
		}
		return out
	}
}

// validatePullReadOnly finds what serves the node-facing NodePort: the Services on the pull
// port (registry.nodePort from the stack config, and every node endpoint's port in the Talos
// mirrors), the workloads their selectors pick, the registry configs those mount; each must
// be read-only. Values not known yet (a preview) are skipped.
func validatePullReadOnly(cfg *siteconfig.Config) stackCheck {
	return func(s *stackView, report func(msg, urn string)) {
		ports := map[int]bool{}
		if cfg != nil {
			ports[cfg.Registry.NodePort] = true
		}
		for _, m := range s.mirrors {
			for _, p := range checks.MirrorPorts(m) {
				ports[p] = true
			}
		}
		type service struct {
			namespace string
			selector  map[string]string
			port      int
		}
		var services []service
		type config struct{ namespace, text string }
		configMaps := map[string][]config{} // by name; namespace "" when not known yet
		for _, r := range s.resources {
			props := plainMap(r.Properties)
			switch r.Type {
			case "kubernetes:core/v1:Service":
				ns, _ := checks.Lookup(props, "metadata", "namespace").(string)
				sel, ok := stringMap(checks.Lookup(props, "spec", "selector"))
				list, _ := checks.Lookup(props, "spec", "ports").([]any)
				for _, p := range list {
					np, isNum := checks.Lookup(p.(map[string]any), "nodePort").(float64)
					if ok && isNum && ports[int(np)] {
						services = append(services, service{ns, sel, int(np)})
					}
				}
			case "kubernetes:core/v1:ConfigMap":
				name, _ := checks.Lookup(props, "metadata", "name").(string)
				ns, _ := checks.Lookup(props, "metadata", "namespace").(string)
				for _, v := range dataOf(props) {
					if text, ok := v.(string); ok && checks.IsRegistryConfig(text) {
						configMaps[name] = append(configMaps[name], config{ns, text})
					}
				}
			}
		}
		for _, r := range s.resources {
			kind := checks.WorkloadKind(r.Type)
			if kind == "" {
				continue
			}
			props := plainMap(r.Properties)
			pods := checks.Pods(kind, props)
			if pods.Labels == nil || pods.Unknown {
				continue // not known yet
			}
			ns, _ := checks.Lookup(props, "metadata", "namespace").(string)
			for _, svc := range services {
				if !checks.Selects(svc.selector, pods.Labels) || (ns != "" && svc.namespace != "" && ns != svc.namespace) {
					continue
				}
				var configs []string
				for _, name := range pods.ConfigMaps {
					for _, c := range configMaps[name] {
						if c.namespace == "" || ns == "" || c.namespace == ns {
							configs = append(configs, c.text)
						}
					}
				}
				for _, msg := range checks.PullEndpointReadOnly(r.Name, svc.port, configs, pods.Containers) {
					report(msg, r.URN)
				}
				break
			}
		}
	}
}

// stringMap reads a map of strings; false when it is missing or any value is not known yet.
func stringMap(v any) (map[string]string, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

func validateConfigMapSecrets(r policyx.AnalyzerResource, props map[string]any) []string {
	if r.Type != "kubernetes:core/v1:ConfigMap" {
		return nil
	}
	var secretKeys []string
	for _, field := range []string{"data", "binaryData"} {
		if d, ok := r.Properties.GetOk(field); ok && d.IsMap() {
			for k, v := range d.AsMap().AllStable {
				if v.HasSecrets() {
					secretKeys = append(secretKeys, k)
				}
			}
		}
	}
	return checks.ConfigMapSecrets(dataOf(props), secretKeys)
}

func validateTenant(r policyx.AnalyzerResource, props map[string]any) []string {
	if r.Type != "kubernetes:minio.min.io/v2:Tenant" {
		return nil
	}
	spec, _ := props["spec"].(map[string]any)
	return checks.TenantDrives(spec)
}

func validateImagesMirrored(s *stackView, report func(msg, urn string)) {
	mirrors := map[string]bool{}
	for _, m := range s.mirrors {
		for _, mir := range m.Mirrors {
			mirrors[mir.Key] = true
		}
	}
	for _, r := range s.resources {
		kind := checks.WorkloadKind(r.Type)
		if kind == "" {
			continue
		}
		for _, c := range checks.Containers(kind, plainMap(r.Properties)) {
			for _, msg := range checks.ImageMirrored(c, mirrors) {
				report(msg, r.URN)
			}
		}
	}
}

func validateNodePort(s *stackView, report func(msg, urn string)) {
	for _, r := range s.resources {
		if r.Type != "kubernetes:core/v1:Service" {
			continue
		}
		props := plainMap(r.Properties)
		labels, _ := checks.Lookup(props, "metadata", "labels").(map[string]any)
		// The pull endpoint: the push endpoint's port is not in the mirrors.
		if labels[sitecontract.LabelName] != sitecontract.RegistryName || labels[sitecontract.LabelComponent] != sitecontract.RegistryComponent || labels[sitecontract.LabelPartOf] != sitecontract.PartOf {
			continue
		}
		ports, _ := checks.Lookup(props, "spec", "ports").([]any)
		if len(ports) == 0 {
			continue
		}
		nodePort, ok := ports[0].(map[string]any)["nodePort"].(float64)
		if !ok {
			continue // unknown during preview
		}
		if len(s.mirrors) == 0 {
			report("no Talos mirror patch in this stack (output talosMirrorPatch or ConfigurationApply): the nodes cannot reach the registry NodePort", r.URN)
		}
		for _, m := range s.mirrors {
			for _, msg := range checks.NodePortMatchesMirrors(int(nodePort), m) {
				report(msg, r.URN)
			}
		}
	}
}

func validateTalosPatches(s *stackView, report func(msg, urn string)) {
	for _, p := range s.patches {
		for _, msg := range checks.TalosPatch(p.text) {
			report(msg, p.urn)
		}
	}
}

// stackView is the stack as the stack policies need it: resources plus every Talos patch,
// from the talosMirrorPatch output (secret, and unknown in the preview of a new stack, as it
// carries generated credentials), the talosBootstrapPatch output (the same mirrors without
// credentials, known at plan time) and ConfigurationApply inputs.
type stackView struct {
	resources []policyx.AnalyzerResource
	patches   []patchSource
	mirrors   []*talosconfig.Mirrors
}

type patchSource struct{ urn, text string }

func newStackView(resources []policyx.AnalyzerResource) *stackView {
	s := &stackView{resources: resources}
	for _, r := range resources {
		switch r.Type {
		case "pulumi:pulumi:Stack":
			for _, key := range []string{sitecontract.OutputMirrorPatch, sitecontract.OutputBootstrapPatch} {
				if v, ok := r.Properties.GetOk(key); ok && v.IsString() {
					s.patches = append(s.patches, patchSource{r.URN, v.AsString()})
				}
			}
		case sitecontract.TalosConfigurationApply:
			if v, ok := r.Properties.GetOk("configPatches"); ok && v.IsArray() {
				for _, p := range v.AsArray().AsSlice() {
					if p.IsString() {
						s.patches = append(s.patches, patchSource{r.URN, p.AsString()})
					}
				}
			}
		}
	}
	for _, p := range s.patches {
		if m, err := talosconfig.Parse([]byte(p.text)); err == nil && len(m.Mirrors) > 0 {
			s.mirrors = append(s.mirrors, m)
		}
	}
	return s
}

func dataOf(props map[string]any) map[string]any {
	d, _ := props["data"].(map[string]any)
	return d
}

// unknown stands for a value not known yet (preview); checks see a non-string and skip it.
type unknown struct{}

func plainMap(m property.Map) map[string]any {
	out := make(map[string]any, m.Len())
	for k, v := range m.AllStable {
		out[k] = plain(v)
	}
	return out
}

// plain converts a property value to the plain Go value encoding/json would produce; secrets
// are unwrapped (the checks must see them to report them), unknowns become unknown{}.
func plain(v property.Value) any {
	switch {
	case v.IsComputed():
		return unknown{}
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.AsBool()
	case v.IsNumber():
		return v.AsNumber()
	case v.IsString():
		return v.AsString()
	case v.IsArray():
		var out []any
		for _, e := range v.AsArray().AsSlice() {
			out = append(out, plain(e))
		}
		return out
	case v.IsMap():
		return plainMap(v.AsMap())
	}
	return unknown{}
}
