package main

import (
	"context"
	"fmt"
	"io"

	"airgap-site/capacity"
	"airgap-site/siteconfig"
	"airgap-site/transfer"
)

// reportToSend prints, after a preview, what the up will send to the site registry per image
// and in total (with the time at images.linkBytesPerSecond, or the lower
// images.maxBytesPerSecond), read from the stack's state and
// the bundle without reaching the site (transfer.ForStack), then holds it against the free
// space the last up measured (capacity.Check): an update that cannot be stored is an error,
// one that leaves little room a warning. Not being able to tell is a warning: the preview
// itself succeeded.
func reportToSend(ctx context.Context, out, errOut io.Writer, st transfer.State, cfg *siteconfig.Config, projectDir string) error {
	est, err := transfer.ForStack(ctx, st, cfg, projectDir)
	switch {
	case err != nil:
		fmt.Fprintf(errOut, "warning: cannot say what the up will send to the site registry: %v\n", err)
		return nil
	case est == nil:
		return nil
	}
	fmt.Fprintln(out)
	rate, from := cfg.Images.UpRate()
	if err := est.Write(out, rate, from); err != nil {
		fmt.Fprintf(errOut, "warning: %v\n", err)
	}
	capBytes, _ := cfg.ObjectStore.CapacityBytes()
	verdict, why := capacity.Check(est.Bytes, est.Usage, capBytes)
	switch verdict {
	case capacity.TooLarge:
		return fmt.Errorf("the site registry's store: %s", why)
	case capacity.Tight:
		fmt.Fprintf(errOut, "warning: the site registry's store: %s\n", why)
	default:
		fmt.Fprintf(out, "Store: %s.\n", why)
	}
	return nil
}
