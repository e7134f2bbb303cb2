// Package stackconfig reads a site's configuration from its stack outside the program,
// through the Automation API, exactly as the program reads it: the keys of the project's
// namespace, objects as JSON, secrets decrypted and marked secret. Commands that need the
// site config without running a deployment (airgap site patch, airgap fleet) use it.
package stackconfig

import (
	"context"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"airgap-site/siteconfig"
)

// Source turns a stack's config, as the Automation API returns it, into a siteconfig.Source.
func Source(all auto.ConfigMap) siteconfig.MapSource {
	src := siteconfig.MapSource{Values: map[string]string{}, Secret: map[string]bool{}}
	for key, v := range all {
		name, ok := strings.CutPrefix(key, siteconfig.ConfigNamespace+":")
		if !ok {
			continue
		}
		src.Values[name], src.Secret[name] = v.Value, v.Secret
	}
	return src
}

// Load reads, defaults and validates the site config of a stack.
func Load(ctx context.Context, stack auto.Stack) (*siteconfig.Config, []string, error) {
	all, err := stack.GetAllConfig(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the config of stack %s: %w", stack.Name(), err)
	}
	return siteconfig.Load(Source(all), stack.Name())
}

// Keys are the keys of the project namespace in a stack's config, for the program run
// in-process (site.InlineProgram) to refuse the ones it does not know.
func Keys(all auto.ConfigMap) []string {
	src := Source(all)
	return src.Keys()
}
