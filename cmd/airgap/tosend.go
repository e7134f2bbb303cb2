package main

import (
	"context"
	"fmt"
	"io"

	"airgap-site/siteconfig"
	"airgap-site/transfer"
)

// reportToSend prints, after a preview, what the up will send to the site registry per image
// and in total (with the time at images.linkBytesPerSecond, or the lower
// images.maxBytesPerSecond), read from the stack's state and
// the bundle without reaching the site (transfer.ForStack). Not being able to tell is a
// warning: the preview itself succeeded.
func reportToSend(ctx context.Context, out, errOut io.Writer, st transfer.State, cfg *siteconfig.Config, projectDir string) {
	est, err := transfer.ForStack(ctx, st, cfg, projectDir)
	switch {
	case err != nil:
		fmt.Fprintf(errOut, "warning: cannot say what the up will send to the site registry: %v\n", err)
	case est != nil:
		fmt.Fprintln(out)
		rate, from := cfg.Images.UpRate()
		if err := est.Write(out, rate, from); err != nil {
			fmt.Fprintf(errOut, "warning: %v\n", err)
		}
	}
}
