// Package fleet previews every site of the project at once (Pulumi Automation API, one local
// workspace, bounded concurrency) and summarizes each in one row: planned changes, images to
// transfer (contract.ImageToken resources), drift found by a refresh preview, policy
// violations, whether the site was reachable, and how long it took.
//
// The program runs as `pulumi preview` runs it, through the project's Go language host, so
// fleet learns what happened from the engine's events only: a site is unreachable when the
// program logs site.UnreachableWarning (see site.IsUnreachableWarning).
package fleet
