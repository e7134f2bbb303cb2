package site

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"airgap-site/siteconfig"
	"airgap-site/sitecontract"
	"airgap-site/siteprobe"
)

// Program is the whole Pulumi program; main.go runs it with pulumi.Run. The language host
// hands it the whole config in $PULUMI_CONFIG too, from which it lists the project's keys.
func Program(ctx *pulumi.Context) error {
	return run(ctx, configKeys(os.Getenv(pulumi.EnvConfig)))
}

// InlineProgram is Program run in-process by the Automation API (airgap site), which hands
// the program its config through the context alone: keys returns the project's keys (from
// the stack's config, read by the caller) so that a misspelt one is refused there too.
func InlineProgram(keys func() []string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error { return run(ctx, keys()) }
}

func run(ctx *pulumi.Context, keys []string) error {
	if err := CheckPassphrase(ctx.Stack(), os.LookupEnv); err != nil {
		return err
	}
	cfg, warnings, err := siteconfig.LoadAll(contextSource{ctx: ctx, keys: keys}, ctx.Stack())
	for _, w := range warnings {
		if logErr := ctx.Log.Warn(w, nil); logErr != nil {
			return logErr
		}
	}
	// The image pins' problems in the same report as the config's (decode and validation).
	if wd, wdErr := os.Getwd(); wdErr == nil {
		err = siteconfig.WithProblems(err, PinProblems(cfg, wd, err))
	}
	if err != nil {
		return err
	}
	if cfg.Talos.Manage {
		if err := checkTalosPlugin(); err != nil {
			return err
		}
	}
	if cfg.ObjectStore.TenantUsers() {
		if err := checkMinioPlugin(); err != nil {
			return err
		}
	}
	var kubeconfig string
	if !cfg.Talos.Manage {
		if kubeconfig, err = siteprobe.ReadKubeconfig(cfg.Kubernetes); err != nil {
			return err
		}
	}
	if ctx.DryRun() {
		warnIfUnreachable(ctx, cfg, kubeconfig)
	}
	projectDir, err := os.Getwd()
	if err != nil {
		return err
	}
	s, err := New(ctx, cfg.Site, Args{Config: cfg, Kubeconfig: kubeconfig, ProjectDir: projectDir})
	if err != nil {
		return err
	}
	ctx.Export(sitecontract.OutputSite, pulumi.String(cfg.Site))
	ctx.Export(sitecontract.OutputRegistryEndpoints, pulumi.ToStringArray(cfg.RegistryEndpoints()))
	ctx.Export(sitecontract.OutputRegistryNamespace, s.Registry.Namespace)
	ctx.Export(sitecontract.OutputRegistryNodePort, s.Registry.NodePort)
	ctx.Export(sitecontract.OutputRegistryConfigDigest, s.Registry.ConfigDigest)
	ctx.Export(sitecontract.OutputObjectStoreEndpoint, s.ObjectStore.Endpoint)
	ctx.Export(sitecontract.OutputObjectStoreBucket, s.ObjectStore.Bucket)
	ctx.Export(sitecontract.OutputTalosVersion, pulumi.String(cfg.Talos.Version))
	ctx.Export(sitecontract.OutputMirrorPatch, s.MirrorPatch)
	// Secret only to keep its ~80 lines out of every preview (it carries no credential):
	// `airgap site patch` or `pulumi stack output --show-secrets talosBootstrapPatch` prints it.
	ctx.Export(sitecontract.OutputImagePinPatch, pulumi.String(s.ImagePinPatch))
	ctx.Export(sitecontract.OutputBootstrapPatch, pulumi.ToSecret(pulumi.String(string(s.Talos.BootstrapPatchYAML))))
	if s.Access != nil {
		// Public: what any other client of the site registry must trust.
		ctx.Export(sitecontract.OutputRegistryCA, s.Access.CA)
	}
	ctx.Export(sitecontract.OutputRegistryPushNodePort, s.Registry.PushNodePort)
	ctx.Export(sitecontract.OutputImageDigests, s.Images.Digests)
	ctx.Export(sitecontract.OutputImageBytesSent, s.Images.SentBytes)
	ctx.Export(sitecontract.OutputPreviousImages, s.Images.Previous)
	if s.Images.Usage != nil {
		ctx.Export(sitecontract.OutputRegistryUsage, s.Images.UsageOutput())
	}
	return nil
}

// contextSource reads stack config through the Pulumi context.
type contextSource struct {
	ctx  *pulumi.Context
	keys []string
}

func (c contextSource) Get(key string) (string, bool) {
	return c.ctx.GetConfig(siteconfig.ConfigNamespace + ":" + key)
}

func (c contextSource) IsSecret(key string) bool {
	return c.ctx.IsConfigSecret(siteconfig.ConfigNamespace + ":" + key)
}

// Keys lists the keys of the project namespace, so that siteconfig.Load refuses a misspelt
// one (airgap-site:regsitry). The context cannot list its config: see Program and
// InlineProgram for where they come from.
func (c contextSource) Keys() []string { return c.keys }

// configKeys are the keys of the project namespace in the JSON object of $PULUMI_CONFIG.
func configKeys(env string) []string {
	var all map[string]json.RawMessage
	if env == "" || json.Unmarshal([]byte(env), &all) != nil {
		return nil
	}
	var keys []string
	for k := range all {
		if name, ok := strings.CutPrefix(k, siteconfig.ConfigNamespace+":"); ok {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}

// HTTPSecret is the registry's shared http secret (it signs upload state, so every replica
// must share it). When not configured it is derived from the S3 secret key, which is just as
// secret and stable across runs, so the user has one secret fewer to manage.
func HTTPSecret(c *siteconfig.Config) string {
	if s := c.Secrets.RegistryHTTPSecret; !s.IsZero() {
		return s.Reveal()
	}
	mac := hmac.New(sha256.New, []byte(c.Secrets.S3SecretKey.Reveal()))
	mac.Write([]byte("airgap-site/registry/http-secret/" + c.Site))
	return hex.EncodeToString(mac.Sum(nil))
}

// warnIfUnreachable makes an office preview say plainly that the site was not reached:
// pulumi-kubernetes then plans from state without a word, which reads like a verified plan.
// Every kind of site: a talos.manage site's preview is just as blind when its API is away.
func warnIfUnreachable(ctx *pulumi.Context, cfg *siteconfig.Config, kubeconfig string) {
	if server, err := siteprobe.Site(ctx.Context(), cfg, kubeconfig); err != nil && server != "" {
		_ = ctx.Log.Warn(siteprobe.UnreachableWarning(server, err), nil)
	}
}
