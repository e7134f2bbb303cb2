// Command airgap carries a site's images across the air gap.
//
//	airgap bundle --images images.yaml --out DIR   # at the office: pull into a bundle
//	airgap serve --bundle DIR --addr :5000         # at the site: serve it read-only
//
// The bundle is an OCI layout plus bundle.json (package airgap-site/bundle). serve answers
// as an OCI distribution registry under the Talos mirror scheme, /v2/<upstream>/<path>, so
// the laptop can be the last endpoint of every mirror while the site registry does not exist
// yet.
package main
