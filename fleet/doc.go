// Package fleet previews every site of the project at once (Pulumi Automation API, one local
// workspace, bounded concurrency) and summarizes each in one row: planned changes, images to
// transfer (contract.ImageToken resources), drift found by a refresh preview, policy
// violations, whether the site was reachable, and how long it took.
//
// The program runs as `pulumi preview` runs it, through the project's Go language host, and
// fleet counts the engine's events. Whether a site is reachable it finds out itself, with the
// program's own probe (siteprobe.Site) on the site's config (internal/stackconfig): a typed
// answer, not a reading of the program's warning text.
package fleet
