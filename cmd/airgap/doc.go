// Command airgap is the operator's tool for air-gapped sites.
//
//	airgap bundle --images images.yaml --out DIR   # at the office: pull the images into a bundle
//	airgap serve --bundle DIR --addr 0.0.0.0:5000  # at the site: serve the bundle read-only
//	airgap fleet [site...]                         # preview every site, one row per site
//	airgap site preview|up|refresh|destroy -s SITE # run the site program in this process
//
// The command only parses flags and wires packages together: the bundle format is package
// airgap-site/bundle, the read-only registry airgap-site/bundle/serve (under the Talos mirror
// scheme, /v2/<upstream>/<path>, so the laptop can be the last endpoint of every mirror while
// the site registry does not exist yet), pulling airgap-site/internal/pull, progress lines
// airgap-site/internal/progress, the fleet view airgap-site/fleet, and the site program
// airgap-site/components/site, compiled in so the offline kit needs no Go toolchain.
package main
