// Package images turns the site's image list into resources: one airgap:index:Image per
// bundled image, copied into the site registry under the mirror scheme (<upstream>/<path>:<tag>)
// once the registry is Ready and the bundle is accepted (one airgap:index:AcceptedBundle, which
// keeps the highest bundle sequence in the state and refuses an older bundle), and one
// pulumi-docker Image per image the site builds itself.
package images
