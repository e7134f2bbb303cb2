package bundle

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Stamp is what bundle.json says about a bundle besides its images: which one it is in the
// order the office made them, when it was made, until when and for which sites it is good.
// The signature over bundle.json covers it, so a site can refuse an older bundle that the
// same key signed (a rollback to images with known flaws), an expired one, or one made for
// another site. The rules are Stamp.Accept's.
type Stamp struct {
	// Sequence orders the bundles of an office: a later bundle has a higher one. airgap
	// bundle writes --sequence, by default the Unix time in seconds it was made (and always
	// above the sequence of a bundle it adds to). 0: a bundle written before sequences
	// (airgap 0.3 and earlier), which sorts below every other.
	Sequence int64 `json:"sequence,omitempty"`
	// CreatedAt is when bundle.json was written.
	CreatedAt time.Time `json:"createdAt"`
	// Expires, when set, is when the bundle stops being accepted.
	Expires time.Time `json:"expires,omitzero"`
	// Sites, when set, are the only sites (siteconfig's site, the stack name by default)
	// that accept the bundle.
	Sites []string `json:"sites,omitempty"`
}

// NextSequence is the default sequence of a bundle made at now that replaces or adds to one
// with sequence prev: the Unix time in seconds, or prev+1 when that is not above prev (a
// clock set back, two bundles in one second).
func NextSequence(prev int64, now time.Time) int64 {
	return max(now.Unix(), prev+1)
}

// DowngradeError is a bundle older than one the site already accepted.
type DowngradeError struct {
	// Sequence is the bundle's, Highest the highest the site accepted.
	Sequence, Highest int64
}

func (e *DowngradeError) Error() string {
	return fmt.Sprintf("the bundle has sequence %d, lower than %d, the highest this site accepted: an older bundle "+
		"would roll images back (even one validly signed); carry a newer bundle, or set images.allowDowngrade "+
		"for this up to accept it", e.Sequence, e.Highest)
}

// Accept checks that a site may use the bundle stamped st at now: it names site among its
// sites (when it names any), it has not expired, and its sequence is not below highest, the
// highest sequence the site accepted before (a *DowngradeError, which a site may choose to
// accept). An equal sequence is the same bundle, or one made in the same second.
func (st Stamp) Accept(site string, highest int64, now time.Time) error {
	if len(st.Sites) > 0 && !slices.Contains(st.Sites, site) {
		return fmt.Errorf("the bundle is for the sites %s, not %q (bundle.json sites; made with airgap bundle --site)",
			strings.Join(st.Sites, ", "), site)
	}
	if !st.Expires.IsZero() && !now.Before(st.Expires) {
		return fmt.Errorf("the bundle expired at %s (bundle.json expires; made with airgap bundle --expires): carry a newer bundle",
			st.Expires.UTC().Format(time.RFC3339))
	}
	if st.Sequence < highest {
		return &DowngradeError{Sequence: st.Sequence, Highest: highest}
	}
	return nil
}
