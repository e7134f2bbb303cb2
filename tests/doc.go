// Package tests holds the end-to-end suite (build tag e2e, run by `make test`) and, below it,
// the harness that starts the local site. The suite drives the real pulumi CLI with a file
// backend against a real kube-apiserver, a real S3 server and the real registry binary.
//
// Files: main_e2e_test.go starts the site and builds what the run needs (TestMain);
// helpers_e2e_test.go holds every helper the tests share: the pulumi runners, the projects,
// the test stack fixture (newTestStack: a stack with a registry namespace and NodePorts of its
// own, the S3 keys as secrets, destroyed when the test ends), registries, counters, bundles.
// The other files are tests, and the checks that TestKwokStack and TestRealNode share
// (access, hardening, containerd).
//
// All tests share one local site, and all but two real-node tests (TestColdRestart and
// TestRealNode: the dev stack on node-1) call t.Parallel: Go runs those two first, one after
// the other, then the others four at a time (scripts/e2e.sh: -parallel 4; they mostly wait,
// and two at a time left more than half of the two cores idle). The third real-node test,
// TestRetentionAndGC, is among the parallel ones: it starts once the two are done with the
// dev stack and node-1, and nothing else touches them. It is the longest, so it is declared
// first (bounded_e2e_test.go): the paused parallel tests resume about in the order they
// paused, and it should not be the last one left running.
// Running together is safe because no two tests share anything they change:
//   - each has its own stacks (unique names in the shared file backend), its own registry
//     namespace and NodePorts (newTestStack hands them out; the fixed ones: the dev stack's
//     32000-32001, the kwok stack's 32010, tenant 32006, fleet 32020-32025, kit 32030, the
//     policy fixture's 32091, which its preview's server-side dry run allocates) and its own
//     registries, in bucket prefixes of their own;
//   - what a test takes away is its own: TestImageFaults stops an S3 server it started
//     (privateS3), TestKwokStack takes the API server away by stopping a relay to it (the
//     stack's kubeconfig names the relay), TestImagesInterruptedCopy kills its own registry;
//   - the loopback containerd is configured by TestKwokStack alone;
//   - the update tests (TestAddingOneImage, TestDeltaBundle, TestUpdateOverLink,
//     TestChunkedUploadResumes) have their own registries, vendor registry and Toxiproxy link;
//   - a test stack keeps up to 100 previous versions of each repository (newTestStack): no
//     kubelet runs a garbage collection's Job on the kwok nodes, so none may fall due;
//     TestRetentionAndGC proves retention and collection on the real node;
//   - projects that do not reach the site (TestExamplePreviews, TestMisspeltKeys,
//     TestPolicyViolations, TestEnvRefusesDevPassphrase) have directories of their own.
//
// TestColdRestart and TestRealNode run alone because they share the dev stack and node-1, and
// because they measure times: 200 unauthenticated requests/s must leave pulls quick, a site
// must come back within its documented time; a second test sharing the two cores would make
// those figures the other test's. TestRetentionAndGC's claims are not times (bytes in its own
// part of the bucket, pulls that must not fail during collections, whole images), so it shares
// the cores with the kwok tests.
//
// The programs are built once per run and the suite's projects run them through a launcher
// the language host builds in a fraction of a second (buildProgram); TestProviderUpgradeFrom03
// runs provider 0.3.0's program through the language host's own build of the whole program,
// the path a user's checkout takes.
package tests
