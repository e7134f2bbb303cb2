// Package progress prints the progress of images pulled concurrently, as plain lines that
// read well in a terminal and in a CI log alike: "[3/12] ref ...", the bytes pulled so far
// for a pull that takes a while, and "[3/12] ref ... 45.2 MB in 3.1s" or "FAILED" at the end.
//
// It only counts what it is told (Job.Add); package airgap-site/internal/pull reports the
// bytes it reads.
package progress
