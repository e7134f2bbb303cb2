package provider

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"airgap-site/provider/contract"
	"airgap-site/provider/internal/registrytest"
	"airgap-site/provider/siteregistry"
)

// logRecorder keeps the server's diagnostics.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Log(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, string(sev)+": "+msg)
	return nil
}

func (l *logRecorder) LogStatus(context.Context, diag.Severity, resource.URN, string) error {
	return nil
}

// warned reports whether a warning contains every part.
func (l *logRecorder) warned(parts ...string) bool { return l.said(diag.Warning, parts...) }

func strArray(ss ...string) resource.PropertyValue {
	vs := make([]resource.PropertyValue, len(ss))
	for i, s := range ss {
		vs[i] = resource.NewStringProperty(s)
	}
	return resource.NewArrayProperty(vs)
}

// faultFixture copies the fixture's image to endpoints, with retry budgets of seconds: retryFor
// 5, requestTimeout 2, backoff from 50 ms. served is the endpoint expected to serve (the id's).
func faultFixture(t *testing.T, served string, endpoints ...string) (*fixture, *logRecorder) {
	t.Helper()
	f := newFixture(t)
	log := &logRecorder{}
	f.srv = &engine{New(log)}
	f.srv.backoff = siteregistry.Policy{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	f.host = served
	f.inputs["endpoints"] = strArray(endpoints...)
	f.inputs["retryFor"] = resource.NewNumberProperty(5)
	f.inputs["requestTimeout"] = resource.NewNumberProperty(2)
	return f, log
}

func (f *fixture) createErr(t *testing.T, timeout float64) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	_, err := f.srv.Create(f.provider, &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: imageURN, Properties: props(t, f.inputs), Timeout: timeout})
	return time.Since(start), err
}

func (f *fixture) has(t *testing.T, host, ref string) bool {
	t.Helper()
	r, err := name.ParseReference(host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Head(r)
	return err == nil
}

// TestFailoverToTheNextEndpoint: a first endpoint that refuses connections, or answers 503, is
// passed over; the image lands through the next one, the outputs say which, and a warning
// names the failed one.
func TestFailoverToTheNextEndpoint(t *testing.T) {
	reg := registrytest.New(t)
	unavailable := registrytest.Proxy(t, reg.Host, registrytest.Status(http.StatusServiceUnavailable))
	for _, first := range []string{registrytest.Refused(t), unavailable} {
		f, log := faultFixture(t, reg.Host, first, reg.Host)
		out := f.create(t, false)
		if out["endpoint"].StringValue() != reg.Host || !strings.HasPrefix(out["ref"].StringValue(), reg.Host+"/") {
			t.Errorf("first %s: endpoint %v, ref %v, want %s", first, out["endpoint"], out["ref"], reg.Host)
		}
		if !log.warned(first, "served by "+reg.Host) {
			t.Errorf("first %s: no warning about it: %v", first, log.msgs)
		}
		// Read and Delete fail over too.
		resp, err := f.srv.Read(f.provider, &pulumirpc.ReadRequest{Id: "x", Urn: imageURN, Properties: props(t, out)})
		if err != nil || resp.GetId() != "x" {
			t.Fatalf("read: %v, %v", resp, err)
		}
		if _, err := f.srv.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, out)}); err != nil {
			t.Fatal(err)
		}
		if f.has(t, reg.Host, "docker.io/library/app:1") {
			t.Errorf("first %s: not deleted through the second endpoint", first)
		}
	}
}

// TestHungEndpointFails: a registry that accepts connections and never answers fails the copy
// after requestTimeout and retryFor, well within customTimeouts, with an error naming it.
func TestHungEndpointFails(t *testing.T) {
	hung := registrytest.Hung(t)
	f, _ := faultFixture(t, hung, hung)
	f.inputs["requestTimeout"] = resource.NewNumberProperty(1)
	f.inputs["retryFor"] = resource.NewNumberProperty(1)
	took, err := f.createErr(t, 30)
	t.Logf("after %s: %v", took, err)
	if err == nil || !strings.Contains(err.Error(), hung) || !strings.Contains(err.Error(), "no response or progress for 1s") {
		t.Fatalf("err = %v", err)
	}
	if took > 8*time.Second {
		t.Errorf("failed after %s; requestTimeout 1s, retryFor 1s", took)
	}
}

// TestCustomTimeoutsBoundACopy: the engine's timeout (customTimeouts) ends the copy even while
// requestTimeout and retryFor would still wait, with an error naming the endpoint and why.
func TestCustomTimeoutsBoundACopy(t *testing.T) {
	hung := registrytest.Hung(t)
	f, _ := faultFixture(t, hung, hung)
	f.inputs["requestTimeout"] = resource.NewNumberProperty(60)
	f.inputs["retryFor"] = resource.NewNumberProperty(600)
	took, err := f.createErr(t, 2)
	t.Logf("after %s: %v", took, err)
	if err == nil || !strings.Contains(err.Error(), hung) || !strings.Contains(err.Error(), "customTimeouts") {
		t.Fatalf("err = %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("failed after %s with a 2s customTimeouts", took)
	}
}

// TestRidesOutARegistryRestart: a registry answering 500 for two seconds, then serving again,
// is ridden out by the backoff.
func TestRidesOutARegistryRestart(t *testing.T) {
	reg := registrytest.New(t)
	f, log := faultFixture(t, reg.Host, reg.Host)
	reg.SetFault(registrytest.Until(time.Now().Add(2*time.Second), registrytest.Status(http.StatusInternalServerError)))
	start := time.Now()
	out := f.create(t, false)
	if time.Since(start) < 2*time.Second {
		t.Errorf("copied in %s through a 2s outage", time.Since(start))
	}
	want, _ := f.img.Digest()
	if out["digest"].StringValue() != want.String() || !f.has(t, reg.Host, "docker.io/library/app:1") {
		t.Errorf("outputs %v", out)
	}
	if !log.warned("served by "+reg.Host, "failed tries") {
		t.Errorf("the retries were not reported: %v", log.msgs)
	}
}

// TestCancelStopsACopy: Cancel ends a copy in flight at once, and any that starts after.
func TestCancelStopsACopy(t *testing.T) {
	reg := registrytest.New(t)
	f, _ := faultFixture(t, reg.Host, reg.Host)
	f.inputs["requestTimeout"] = resource.NewNumberProperty(60)
	held, gone := make(chan *http.Request, 8), make(chan *http.Request, 8)
	reg.SetFault(registrytest.When(registrytest.Method(http.MethodPatch, ""), registrytest.Hold(held, gone)))
	errc := make(chan error, 1)
	go func() { _, err := f.createErr(t, 0); errc <- err }()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no upload reached the registry")
	}
	start := time.Now()
	if _, err := f.srv.Cancel(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Logf("after Cancel: %v", err)
		if err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the copy goes on after Cancel")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Cancel took %s", d)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("the held upload is still open")
	}
	if _, err := f.createErr(t, 0); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("a copy after Cancel: %v", err)
	}
}

// TestSentBytesCountsRetriesOnce: a blob whose upload fails after its body was sent, and is
// sent again, counts once in sentBytes.
func TestSentBytesCountsRetriesOnce(t *testing.T) {
	reg := registrytest.New(t)
	f, _ := faultFixture(t, reg.Host, reg.Host)
	reg.SetFault(registrytest.When(registrytest.Method(http.MethodPut, ""), registrytest.Times(1,
		registrytest.When(func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/blobs/uploads/") },
			registrytest.Drain(registrytest.Status(http.StatusInternalServerError))))))
	out := f.create(t, false)
	sent, total := out["sentBytes"].NumberValue(), out["totalBytes"].NumberValue()
	if sent != total {
		t.Errorf("sentBytes %v, totalBytes %v", sent, total)
	}
	if got := float64(reg.BodyBytes.Load()); got <= total {
		t.Errorf("the registry received %v bytes: nothing was sent twice", got)
	}
}

// TestEndpointsChangeIsAnUpdate: new endpoints (a new node order, another push address) are an
// in-place update of the provider, never a replacement, and no change of the image, which the
// provider then reaches through the new endpoints without sending or deleting anything.
func TestEndpointsChangeIsAnUpdate(t *testing.T) {
	reg := registrytest.New(t)
	other := registrytest.Proxy(t, reg.Host, nil) // another node's NodePort, same registry
	f, _ := faultFixture(t, reg.Host, reg.Host)
	state := f.create(t, false)
	news := f.inputs.Copy()
	news["endpoints"] = strArray(other, reg.Host)
	oldCfg, _ := split(props(t, f.inputs))
	newCfg, _ := split(props(t, news))
	dc, err := f.srv.DiffConfig(f.provider, &pulumirpc.DiffRequest{Urn: "urn:pulumi:dev::p::pulumi:providers:airgap::site", Olds: oldCfg, News: newCfg})
	if err != nil {
		t.Fatal(err)
	}
	if dc.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(dc.GetReplaces()) != 0 ||
		len(dc.GetDetailedDiff()) != 1 || dc.GetDetailedDiff()["endpoints"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("provider diff = %v", dc)
	}
	resp, err := f.srv.Diff(f.provider, &pulumirpc.DiffRequest{Urn: imageURN, Olds: props(t, state), News: props(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("image diff = %v", resp)
	}
	read, err := f.srv.Read(f.provider, &pulumirpc.ReadRequest{Id: "x", Urn: imageURN, Properties: props(t, withSettings(state, news))})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := unmarshal(read.GetProperties())
	if out["endpoint"].StringValue() != other || out["digest"] != state["digest"] {
		t.Errorf("read through the new endpoints: %v", out)
	}
	if !f.has(t, reg.Host, "docker.io/library/app:1") {
		t.Errorf("the image is gone after an endpoint change")
	}
}

// TestStateOfProvider01: a state written with the replace-on-change registry input of provider
// 0.1 (and the site's settings in every image, as up to 0.4) is read, diffed without any change
// (the settings are the provider's now), and deleted; a refresh drops the old settings.
func TestStateOfProvider01(t *testing.T) {
	f := newFixture(t)
	state := f.create(t, false)
	// What provider 0.1 wrote: registry, mountFrom with the host, no endpoint, syncedAt or
	// retry inputs, and the settings beside the image's inputs.
	old := state.Copy()
	delete(old, "endpoint")
	delete(old, "syncedAt")
	delete(old, "inventory")
	old[contract.LegacyRegistry] = resource.NewStringProperty(f.host)
	old["mountFrom"] = strArray(f.host + "/docker.io/library/other")
	old["sourceLayout"] = old["bundle"]
	fresh := &engine{New(nil)} // the upgraded provider, in the next up

	resp, err := fresh.Read(f.provider, &pulumirpc.ReadRequest{Id: "x", Urn: imageURN, Properties: props(t, old), Inputs: props(t, old)})
	if err != nil || resp.GetId() != "x" {
		t.Fatalf("read: %v, %v", resp, err)
	}
	read, _ := unmarshal(resp.GetProperties())
	if read["digest"] != state["digest"] || read["endpoint"].StringValue() != f.host {
		t.Errorf("read %v", read)
	}
	if inv := read["inventory"]; !inv.IsObject() || len(inv.ObjectValue()) != len(state["inventory"].ObjectValue()) {
		t.Errorf("the refresh of a state without an inventory did not record it: %v, want %v", inv, state["inventory"])
	}
	readIn, _ := unmarshal(resp.GetInputs())
	for _, legacy := range contract.LegacyImageInputs {
		if _, ok := read[resource.PropertyKey(legacy)]; ok {
			t.Errorf("the refreshed state still holds %s", legacy)
		}
		if _, ok := readIn[resource.PropertyKey(legacy)]; ok {
			t.Errorf("the refreshed inputs still hold %s", legacy)
		}
	}

	d, err := fresh.Diff(f.provider, &pulumirpc.DiffRequest{Urn: imageURN, Olds: props(t, old), News: props(t, f.inputs)})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("diff of the old state %v", d)
	}

	if _, err := fresh.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, old)}); err != nil {
		t.Fatal(err)
	}
	if f.has(t, f.host, "docker.io/library/app:1") {
		t.Errorf("the old state's tag was not deleted")
	}
}

// TestDeleteKeepsSiblingTags: deleting app:1 leaves app:stable, which points at the same
// manifest, whether the registry deletes tags or refuses to (then app:1 stays, with a warning).
func TestDeleteKeepsSiblingTags(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var opts []registrytest.Option
		if refuse {
			opts = append(opts, registrytest.RefuseTagDelete)
		}
		reg := registrytest.New(t, opts...)
		f, log := faultFixture(t, reg.Host, reg.Host)
		state := f.create(t, false)
		desc, err := remote.Get(reg.Ref(t, "docker.io/library/app:1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(reg.Ref(t, "docker.io/library/app:stable").(name.Tag), desc); err != nil {
			t.Fatal(err)
		}
		if _, err := f.srv.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, state)}); err != nil {
			t.Fatalf("refuse=%v: %v", refuse, err)
		}
		if !f.has(t, reg.Host, "docker.io/library/app:stable") {
			t.Errorf("refuse=%v: the sibling tag app:stable is gone", refuse)
		}
		if kept := f.has(t, reg.Host, "docker.io/library/app:1"); kept != refuse {
			t.Errorf("refuse=%v: app:1 kept = %v", refuse, kept)
		}
		if refuse && !log.warned("keeping docker.io/library/app:1", "app:stable points at the same manifest") {
			t.Errorf("no warning saying why app:1 stays: %v", log.msgs)
		}
	}
}

// TestDeleteOfAReplacedInstance: the engine creates a replacement (forced with --replace, or a
// renamed resource) before it deletes the old instance; with the same repository and tag, that
// delete keeps what the create wrote. The resource deleting its own copy still deletes it.
func TestDeleteOfAReplacedInstance(t *testing.T) {
	reg := registrytest.New(t)
	f, log := faultFixture(t, reg.Host, reg.Host)
	old := f.create(t, false)
	current := f.create(t, false) // the replacement, same repository:tag
	if _, err := f.srv.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, old)}); err != nil {
		t.Fatal(err)
	}
	if !f.has(t, reg.Host, "docker.io/library/app:1") || !log.warned("keeping docker.io/library/app:1", "another resource") {
		t.Fatalf("the replaced instance's delete removed the replacement's tag: %v", log.msgs)
	}
	if _, err := f.srv.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, current)}); err != nil {
		t.Fatal(err)
	}
	if f.has(t, reg.Host, "docker.io/library/app:1") {
		t.Error("the current instance's delete kept its tag")
	}
}

// TestDeleteKeepsAMovedTag: a tag that points at another digest than the state's was written
// by someone else since: deleting the resource leaves it.
func TestDeleteKeepsAMovedTag(t *testing.T) {
	reg := registrytest.New(t)
	f, log := faultFixture(t, reg.Host, reg.Host)
	state := f.create(t, false)
	state["digest"] = resource.NewStringProperty("sha256:" + strings.Repeat("0", 64))
	state["syncedAt"] = resource.NewStringProperty("") // as if from an earlier up
	fresh := &engine{New(log)}
	if _, err := fresh.Delete(f.provider, &pulumirpc.DeleteRequest{Id: "x", Urn: imageURN, Properties: props(t, state)}); err != nil {
		t.Fatal(err)
	}
	if !f.has(t, reg.Host, "docker.io/library/app:1") || !log.warned("another writer") {
		t.Errorf("a moved tag was deleted: %v", log.msgs)
	}
}

// TestRemoteSourceDigestIsBounded: Diff and preview read a source registry's digest within
// the request timeout and retry budget, with an error naming it, instead of hanging.
func TestRemoteSourceDigestIsBounded(t *testing.T) {
	hung := registrytest.Hung(t)
	f, _ := faultFixture(t, "", "10.20.0.11:32000")
	delete(f.inputs, "bundle")
	delete(f.inputs, "sourceRef")
	f.inputs["sourceRemote"] = resource.NewStringProperty(hung + "/docker.io/library/app:1")
	f.inputs["requestTimeout"] = resource.NewNumberProperty(1)
	f.inputs["retryFor"] = resource.NewNumberProperty(1)
	start := time.Now()
	_, err := f.srv.Diff(f.provider, &pulumirpc.DiffRequest{Urn: imageURN, Olds: props(t, f.inputs), News: props(t, f.inputs)})
	t.Logf("%v", err)
	if err == nil || !strings.Contains(err.Error(), hung) {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Diff took %s", d)
	}
}

func TestCheckEndpoints(t *testing.T) {
	f := newFixture(t)
	for _, eps := range [][]string{{"http://10.20.0.11:32000"}, {"10.20.0.11:32000", "10.20.0.11:32000"}} {
		in := f.inputs.Copy()
		in["endpoints"] = strArray(eps...)
		resp, err := f.srv.Check(f.provider, &pulumirpc.CheckRequest{Type: contract.ImageToken, News: props(t, in)})
		if err != nil {
			t.Fatal(err)
		}
		if fl := resp.GetFailures(); len(fl) != 1 || fl[0].GetProperty() != "endpoints" {
			t.Errorf("endpoints %v: failures %v", eps, fl)
		}
	}
	// No endpoint at all: the image cannot be copied, and says why.
	in := f.inputs.Copy()
	delete(in, "endpoints")
	if _, err := f.srv.Create(f.provider, &pulumirpc.CreateRequest{Type: contract.ImageToken, Urn: imageURN, Properties: props(t, in)}); err == nil || !strings.Contains(err.Error(), "no site registry") {
		t.Errorf("create without endpoints: %v", err)
	}
}
