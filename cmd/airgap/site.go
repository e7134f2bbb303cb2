package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/spf13/cobra"

	"airgap-site/components/site"
	"airgap-site/internal/stackconfig"
)

// newSiteCmd runs the site program in this process through the Automation API. It is how the
// offline kit deploys: the pulumi CLI drives the engine and the plugins, and no language host
// or Go toolchain is involved (the Go language host that can be built here compiles programs
// and ignores a prebuilt binary).
func newSiteCmd() *cobra.Command {
	var project, stackName, policyPack string
	var expectNoChanges, diff bool
	cmd := &cobra.Command{
		Use:   "site preview|up|refresh|destroy|patch",
		Short: "Run the site program in-process (the offline kit's way to preview and deploy); patch prints the Talos mirror patch",
		Long: `Run the site program in-process through the Automation API: preview, up, refresh, destroy.

patch prints the site's Talos mirror patch from the stack config alone, without touching the
site: apply it to the nodes (talosctl patch mc --patch @patch.yaml) before the first up of a
site whose Talos is not managed by the stack, so containerd already pulls through the mirrors
(and the bootstrap endpoint) when the registry pods start.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if stackName == "" {
				return fmt.Errorf("--stack is required: the site (stacks/Pulumi.<site>.yaml)")
			}
			// Before anything is read or touched (the program checks it again).
			if err := site.CheckPassphrase(stackName, os.LookupEnv); err != nil {
				return err
			}
			var packs []string
			if args[0] == "preview" || args[0] == "up" {
				exe, _ := os.Executable()
				pack, err := findPolicyPack(policyPack, os.LookupEnv, exe)
				if err != nil {
					return err
				}
				packs = []string{pack}
			}
			if project == "" {
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				project = wd
			}
			// The program resolves relative paths (the image bundle) against the project.
			if err := os.Chdir(project); err != nil {
				return err
			}
			stack, err := auto.SelectStackInlineSource(ctx, stackName, "airgap-site", site.Program, auto.WorkDir(project))
			if err != nil {
				return fmt.Errorf("selecting stack %q in %s (run `pulumi stack init %s` there first): %w", stackName, project, stackName, err)
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			switch args[0] {
			case "preview":
				opts := []optpreview.Option{optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(errOut), optpreview.PolicyPacks(packs...)}
				if diff {
					opts = append(opts, optpreview.Diff())
				}
				if expectNoChanges {
					opts = append(opts, optpreview.ExpectNoChanges())
				}
				_, err = stack.Preview(ctx, opts...)
			case "up":
				opts := []optup.Option{optup.ProgressStreams(out), optup.ErrorProgressStreams(errOut), optup.PolicyPacks(packs...)}
				if diff {
					opts = append(opts, optup.Diff())
				}
				_, err = stack.Up(ctx, opts...)
			case "refresh":
				_, err = stack.Refresh(ctx, optrefresh.ProgressStreams(out), optrefresh.ErrorProgressStreams(errOut))
			case "destroy":
				_, err = stack.Destroy(ctx, optdestroy.ProgressStreams(out), optdestroy.ErrorProgressStreams(errOut))
			case "patch":
				return printMirrorPatch(ctx, stack, out)
			default:
				return fmt.Errorf("unknown operation %q: preview, up, refresh, destroy or patch", args[0])
			}
			if err != nil {
				return fmt.Errorf("%s of %s failed (details above)", args[0], stackName)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&stackName, "stack", "s", "", "the site's stack")
	f.StringVar(&project, "project", "", "project directory with Pulumi.yaml and the stack files (default: current directory)")
	f.StringVar(&policyPack, "policy-pack", "", "policy pack binary (default $POLICY_PACK, else "+PolicyPackName+" beside this binary); preview and up always run one")
	f.BoolVar(&expectNoChanges, "expect-no-changes", false, "preview: fail when anything would change")
	f.BoolVar(&diff, "diff", false, "show the property-level diff")
	return cmd
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
	if p, ok := outputs[site.OutputMirrorPatch].Value.(string); ok && p != "" {
		_, err = io.WriteString(out, p)
		return err
	}
	patch, err := cfg.MirrorPatch("", "")
	if err != nil {
		return err
	}
	if !cfg.Registry.PlainHTTP {
		fmt.Fprintln(os.Stderr, "note: no up has generated the site's credentials yet: this is the bootstrap patch (no CA, no pull credentials). Apply it, run the first up, then apply the patch this command prints then.")
	}
	_, err = out.Write(patch)
	return err
}
