// Package fleet previews every site of the project at once (Pulumi Automation API, one local
// workspace, bounded concurrency) and summarizes each in one row: planned changes, images to
// transfer, drift found by a refresh preview, policy violations, and whether the site was
// reachable.
package fleet
