package registrygc

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// summary is the line garbage-collect prints between its mark and sweep phases (distribution
// v3 registry/storage/garbagecollect.go, MarkAndSweep, the same from v3.0 to v3.1.x:
// emit("\n%d blobs marked, %d blobs and %d manifests eligible for deletion", ...)).
type summary struct {
	BlobsMarked, BlobsEligible, ManifestsEligible int
}

var summaryLine = regexp.MustCompile(`^(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion$`)

// parseSummary finds the summary line in garbage-collect's output.
func parseSummary(r io.Reader) (s summary, found bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		m := summaryLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		n := make([]int, 3)
		for i := range n {
			if n[i], err = strconv.Atoi(m[i+1]); err != nil {
				return summary{}, false, err
			}
		}
		s, found = summary{BlobsMarked: n[0], BlobsEligible: n[1], ManifestsEligible: n[2]}, true
	}
	return s, found, sc.Err()
}
