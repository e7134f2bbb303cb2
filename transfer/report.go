package transfer

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"airgap-site/internal/progress"
)

// Write prints the estimate for people: one line per image, then the total, with the time at
// rate bytes per second when it is known (0: not known), which the setting from names
// (siteconfig.Images.UpRate).
func (e *Estimate) Write(w io.Writer, rate int64, from string) error {
	fmt.Fprintln(w, "Bytes the up will send to the site registry (from the stack's state and the bundle, without reaching the site):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  IMAGE\tSENDS\tOF\t")
	for _, img := range e.Images {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", img.Reference, progress.Bytes(img.Bytes), progress.Bytes(img.Total), img.note())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	sending := len(e.Sending())
	fmt.Fprintf(w, "Total: %s (%d bytes), by %d of %d %s", progress.Bytes(e.Bytes), e.Bytes, sending, len(e.Images), plural(len(e.Images), "image", "images"))
	switch {
	case rate > 0 && e.Bytes > 0:
		fmt.Fprintf(w, ": about %s at %s %d (%s/s)", progress.Duration(Duration(e.Bytes, rate)), from, rate, progress.Bytes(rate))
	case e.Bytes > 0:
		fmt.Fprint(w, " (set images.linkBytesPerSecond to the link's rate to see how long it takes)")
	}
	fmt.Fprintln(w)
	if len(e.Without) > 0 {
		fmt.Fprintf(w, "The state of %s predates inventories (provider before 0.5.0): what %s in the site registry is not known, so this is an upper bound; `airgap site refresh -s <site>` at the site records it.\n",
			strings.Join(e.Without, ", "), plural(len(e.Without), "it holds", "they hold"))
	}
	return nil
}

// note says why an image sends what it sends.
func (img Image) note() string {
	var notes []string
	switch {
	case img.Unchanged:
		notes = append(notes, "unchanged: the site holds it, the up does not copy it")
	case img.Bytes == 0 && len(img.Missing) == 0:
		notes = append(notes, "the site holds every blob; nothing to send")
	}
	if img.NoInventory {
		notes = append(notes, "its state predates inventories: counted as if its repository held nothing")
	}
	if img.Shared > 0 {
		notes = append(notes, fmt.Sprintf("%s sent by an image above, mounted", progress.Bytes(img.Shared)))
	}
	if len(img.Missing) > 0 {
		var n int64
		for _, a := range img.Missing {
			n += a.Size
		}
		notes = append(notes, fmt.Sprintf("the delta bundle assumes %d %s (%s, e.g. %s) the state does not record: the up fails for this image unless the site holds them; bring a full bundle",
			len(img.Missing), plural(len(img.Missing), "layer", "layers"), progress.Bytes(n), img.Missing[0].Digest))
	}
	return strings.Join(notes, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
