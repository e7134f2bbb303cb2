// Package images turns the site's image list into resources: one airgap:index:Image per
// bundled image, copied into the site registry under the mirror scheme (<upstream>/<path>:<tag>)
// once the registry is Ready, and one pulumi-docker Image per image the site builds itself.
package images
