package siteconfig

// linkRate checks images.linkBytesPerSecond: a rate, so above 0 when it is set.
func (v *validator) linkRate(im *Images) {
	if r := im.LinkBytesPerSecond; r != nil && *r <= 0 {
		v.fail("images.linkBytesPerSecond", "%d: the link's rate in bytes per second, above 0 (a 2 Mbit/s uplink is 250000); leave it out when the rate is not known", *r)
	}
}

// LinkRate is images.linkBytesPerSecond; 0 when it is not set.
func (im Images) LinkRate() int64 {
	if im.LinkBytesPerSecond == nil {
		return 0
	}
	return *im.LinkBytesPerSecond
}

// UpRate is the rate an up sends at over the site's link, for previews to say how long it
// takes, and the setting it comes from: images.linkBytesPerSecond, or images.maxBytesPerSecond
// when that cap is lower. 0 and "" when the link's rate is not set.
func (im Images) UpRate() (int64, string) {
	link := im.LinkRate()
	switch {
	case link <= 0:
		return 0, ""
	case im.MaxBytesPerSecond > 0 && im.MaxBytesPerSecond < link:
		return im.MaxBytesPerSecond, "images.maxBytesPerSecond"
	}
	return link, "images.linkBytesPerSecond"
}
