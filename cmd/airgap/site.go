package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/spf13/cobra"

	"airgap-site/components/site"
	"airgap-site/internal/stackconfig"
	"airgap-site/registrygc"
	"airgap-site/siteconfig"
	"airgap-site/sitecontract"
)

// newSiteCmd runs the site program in this process through the Automation API. It is how the
// offline kit deploys: the pulumi CLI drives the engine and the plugins, and no language host
// or Go toolchain is involved (the Go language host that can be built here compiles programs
// and ignores a prebuilt binary). Each operation is a subcommand with its own flags, so a flag
// that does not apply to it is an error rather than silently ignored.
func newSiteCmd() *cobra.Command {
	o := &siteOptions{}
	cmd := &cobra.Command{
		Use:   "site",
		Short: "Run the site program in-process (the offline kit's way to preview and deploy); patch prints the Talos mirror patch; gc collects the registry's garbage",
		Long: `Run the site program in-process through the Automation API: preview, up, refresh, destroy.

patch prints the site's Talos mirror patch from the stack config alone, without touching the
site: apply it to the nodes (talosctl patch mc --patch @patch.yaml) before the first up of a
site whose Talos is not managed by the stack, so containerd already pulls through the mirrors
(and the bootstrap endpoint) when the registry pods start.

gc collects the site registry's garbage (the push endpoint stopped meanwhile, the pull endpoints
serving): through the cluster's API with the stack's kubeconfig, without running the program.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&o.stack, "stack", "s", "", "the site's stack")
	pf.StringVar(&o.project, "project", "", "project directory with Pulumi.yaml and the stack files (default: current directory)")

	var policyPack string
	var expectNoChanges, diff bool
	policyFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&policyPack, "policy-pack", "", "policy pack binary (default $POLICY_PACK, else "+PolicyPackName+" beside this binary); always run")
	}
	diffFlag := func(c *cobra.Command) { c.Flags().BoolVar(&diff, "diff", false, "show the property-level diff") }

	preview := &cobra.Command{
		Use:   "preview",
		Short: "Preview the site's changes (the policy pack always runs) and the bytes the up will send",
		Long: `Preview the site's changes (the policy pack always runs), then print, per image and in total,
the bytes the up will send to the site registry: every manifest and blob of an image the site
registry lacks, read from the stack's state (what each image's inventory records) and the bundle,
without reaching the site. With images.linkBytesPerSecond set it also prints how long that takes
at that rate. Then it holds those bytes against the free space of the site registry's store as
the last up (or refresh) measured it (stack output registryUsage): it fails when they exceed it
and warns when they would leave less than 10% of the capacity free.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stack, packs, err := o.open(cmd, true, policyPack)
			if err != nil {
				return err
			}
			opts := []optpreview.Option{optpreview.ProgressStreams(cmd.OutOrStdout()), optpreview.ErrorProgressStreams(cmd.ErrOrStderr()), optpreview.PolicyPacks(packs...)}
			if diff {
				opts = append(opts, optpreview.Diff())
			}
			if expectNoChanges {
				opts = append(opts, optpreview.ExpectNoChanges())
			}
			if _, err = stack.Preview(cmd.Context(), opts...); err != nil {
				return o.result("preview", err)
			}
			// What the up will send, from the state and the bundle: the site is not reached.
			// The preview succeeded: not being able to tell is a warning.
			cfg, _, err := stackconfig.Load(cmd.Context(), stack)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: cannot say what the up will send to the site registry: %v\n", err)
				return nil
			}
			project, _ := os.Getwd() // open moved into the project
			return reportToSend(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &stack, cfg, project)
		},
	}
	policyFlag(preview)
	diffFlag(preview)
	preview.Flags().BoolVar(&expectNoChanges, "expect-no-changes", false, "fail when anything would change")

	up := &cobra.Command{
		Use:   "up",
		Short: "Deploy the site (at the site; the policy pack always runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stack, packs, err := o.open(cmd, true, policyPack)
			if err != nil {
				return err
			}
			opts := []optup.Option{optup.ProgressStreams(cmd.OutOrStdout()), optup.ErrorProgressStreams(cmd.ErrOrStderr()), optup.PolicyPacks(packs...)}
			if diff {
				opts = append(opts, optup.Diff())
			}
			if expectNoChanges {
				opts = append(opts, optup.ExpectNoChanges())
			}
			_, err = stack.Up(cmd.Context(), opts...)
			return o.result("up", err)
		},
	}
	policyFlag(up)
	diffFlag(up)
	up.Flags().BoolVar(&expectNoChanges, "expect-no-changes", false, "fail, changing nothing, when anything would change")

	refresh := &cobra.Command{
		Use:   "refresh",
		Short: "Refresh the stack's state from the site",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stack, _, err := o.open(cmd, false, "")
			if err != nil {
				return err
			}
			_, err = stack.Refresh(cmd.Context(), optrefresh.ProgressStreams(cmd.OutOrStdout()), optrefresh.ErrorProgressStreams(cmd.ErrOrStderr()))
			return o.result("refresh", err)
		},
	}
	destroy := &cobra.Command{
		Use:   "destroy",
		Short: "Delete every resource of the site's stack",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stack, _, err := o.open(cmd, false, "")
			if err != nil {
				return err
			}
			_, err = stack.Destroy(cmd.Context(), optdestroy.ProgressStreams(cmd.OutOrStdout()), optdestroy.ErrorProgressStreams(cmd.ErrOrStderr()))
			return o.result("destroy", err)
		},
	}
	patch := &cobra.Command{
		Use:   "patch",
		Short: "Print the site's Talos mirror patch (from the stack, without touching the site)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stack, _, err := o.open(cmd, false, "")
			if err != nil {
				return err
			}
			return printMirrorPatch(cmd.Context(), stack, cmd.OutOrStdout())
		},
	}
	var gcTimeout time.Duration
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Collect the site registry's garbage: pushes are refused meanwhile, pulls keep working",
		Long: `Collect the site registry's garbage: blobs no tagged image references any more (after an up
removed images) are deleted from the bucket by distribution's garbage-collect --delete-untagged.

The push endpoint is scaled to zero for the whole collection (a push would lose a blob the sweep
deletes) and scaled back afterwards, whatever happens; the nodes keep pulling from the read-only
pull endpoints. Progress goes to stderr, one summary line to stdout. An interrupted collection
(Ctrl-C twice, a lost laptop) is finished by running this again. Do not run an up meanwhile.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if gcTimeout < 0 {
				return fmt.Errorf("--timeout %s: must not be negative (0 means %s)", gcTimeout, registrygc.DefaultTimeout)
			}
			stack, _, err := o.open(cmd, false, "")
			if err != nil {
				return err
			}
			return collectGarbage(cmd.Context(), stack, gcTimeout, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	gc.Flags().DurationVar(&gcTimeout, "timeout", registrygc.DefaultTimeout, "bound of the collection (the push endpoint's restore has its own few minutes after it)")
	cmd.AddCommand(preview, up, refresh, destroy, patch, gc)
	return cmd
}

// siteOptions are the flags every site subcommand shares.
type siteOptions struct {
	project, stack string
}

// open checks what every operation needs before anything is read or touched (the stack named,
// not unlocked by the dev passphrase, the policy pack found when the operation runs one),
// then selects the stack, the program running in the project directory.
func (o *siteOptions) open(cmd *cobra.Command, withPolicy bool, policyPack string) (auto.Stack, []string, error) {
	if o.stack == "" {
		return auto.Stack{}, nil, fmt.Errorf("--stack is required: the site (stacks/Pulumi.<site>.yaml)")
	}
	// Before anything is read or touched (the program checks it again).
	if err := site.CheckPassphrase(o.stack, os.LookupEnv); err != nil {
		return auto.Stack{}, nil, err
	}
	var packs []string
	if withPolicy {
		exe, _ := os.Executable()
		pack, err := findPolicyPack(policyPack, os.LookupEnv, exe)
		if err != nil {
			return auto.Stack{}, nil, err
		}
		packs = []string{pack}
	}
	project := o.project
	if project == "" {
		wd, err := os.Getwd()
		if err != nil {
			return auto.Stack{}, nil, err
		}
		project = wd
	}
	// The program resolves relative paths (the image bundle) against the project.
	if err := os.Chdir(project); err != nil {
		return auto.Stack{}, nil, err
	}
	// The program lists the stack's keys to refuse a misspelt one; in-process it can only
	// get them from here (read when it runs, after the stack is selected).
	var keys []string
	stack, err := auto.SelectStackInlineSource(cmd.Context(), o.stack, sitecontract.Project,
		site.InlineProgram(func() []string { return keys }), auto.WorkDir(project))
	if err != nil {
		return auto.Stack{}, nil, fmt.Errorf("selecting stack %q in %s (run `pulumi stack init %s` there first): %w", o.stack, project, o.stack, err)
	}
	if withPolicy { // preview and up run the program
		all, err := stack.GetAllConfig(cmd.Context())
		if err != nil {
			return auto.Stack{}, nil, fmt.Errorf("reading the config of stack %s: %w", o.stack, err)
		}
		keys = stackconfig.Keys(all)
	}
	return stack, packs, nil
}

// result is an operation's outcome: the engine printed the details already.
func (o *siteOptions) result(op string, err error) error {
	if err != nil {
		return fmt.Errorf("%s of %s failed (details above)", op, o.stack)
	}
	return nil
}

// printMirrorPatch prints the site's mirror patch. Once an up has generated the site CA and
// the pull credentials and the registry is Ready it is the stack's talosMirrorPatch output
// (decrypted: it is secret), which never names the bootstrap endpoint. Before that it is the
// bootstrap patch, rendered from the config: nodes then pull from the laptop (trusting it by
// bootstrap.ca) until they get the full patch after the first up.
func printMirrorPatch(ctx context.Context, stack auto.Stack, out io.Writer) error {
	cfg, warnings, err := stackconfig.Load(ctx, stack)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	// bootstrap.ca may be a path, against the project (the working directory).
	if err := cfg.ResolveBootstrapCA(""); err != nil {
		return err
	}
	outputs, err := stack.Outputs(ctx)
	if err != nil {
		return fmt.Errorf("reading the outputs of stack %s: %w", stack.Name(), err)
	}
	if p, ok := outputs[sitecontract.OutputMirrorPatch].Value.(string); ok && p != "" {
		_, err = io.WriteString(out, p)
		return err
	}
	patch, err := firstVisitPatch(cfg)
	if err != nil {
		return fmt.Errorf("stack %s: %w", stack.Name(), err)
	}
	if !cfg.Registry.PlainHTTP {
		fmt.Fprintln(os.Stderr, "note: no up has generated the site's credentials yet: this is the bootstrap patch (no CA, no pull credentials). Apply it, run the first up, then apply the patch this command prints then.")
	}
	_, err = out.Write(patch)
	return err
}

// firstVisitPatch is the patch for nodes before the first up: the mirrors end with the laptop
// serving the bundle. Without bootstrap.endpoint every mirror would name only the site
// registry, which does not exist yet, with skipFallback: a node given that patch could pull
// nothing, not even the registry's own image. That patch is refused, saying what to do.
func firstVisitPatch(cfg *siteconfig.Config) ([]byte, error) {
	if cfg.Bootstrap.Endpoint == "" {
		return nil, errors.New("no up has created the site registry yet and bootstrap.endpoint is not set: " +
			"a patch now would point every mirror at a registry that does not exist, and the nodes could pull nothing. " +
			"Serve the bundle from the laptop (airgap serve --bundle DIR --addr <laptop IP>:5000 --trusted-key KEY --tls-dir DIR), " +
			"set bootstrap.endpoint and bootstrap.ca as it prints, and run airgap site patch again")
	}
	return cfg.MirrorPatch("", "")
}
