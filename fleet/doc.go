// Package fleet previews every site of the project at once (Pulumi Automation API, one local
// workspace, bounded concurrency) and summarizes each in one row: planned changes, images to
// transfer and the bytes the up sends to the site registry (with their time at
// images.linkBytesPerSecond), drift found by a refresh preview, policy violations, whether the
// site was reachable, and how long it took.
//
// The program runs as `pulumi preview` runs it, through the project's Go language host, and
// fleet counts the engine's events. What the up sends it reads from the stack's state and the
// bundle (package airgap-site/transfer), offline: only images that send bytes are to transfer. Whether a site is reachable it finds out itself, with the
// program's own probe (siteprobe.Site) on the site's config (internal/stackconfig): a typed
// answer, not a reading of the program's warning text.
package fleet
