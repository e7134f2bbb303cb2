package provider

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"

	"airgap-site/pki"
	"airgap-site/provider/contract"
)

// urnOf is a URN of the type, as the engine sends it to Diff, Read, Update and Delete: here
// under a component, so the type is the last of the chain.
func urnOf(token, name string) string {
	return "urn:pulumi:dev::airgap-site::airgap-site:index:Site$" + token + "::" + name
}

// locals are the access kinds by token.
var locals = map[string]local{
	contract.CertificateAuthorityToken: certificateAuthority,
	contract.CertificateToken:          certificate,
	contract.PasswordToken:             password,
}

type accessFixture struct {
	srv *Server
	log *logRecorder
}

func newAccessFixture() *accessFixture {
	log := &logRecorder{}
	return &accessFixture{srv: New(log), log: log}
}

func (f *accessFixture) create(t *testing.T, token string, ins resource.PropertyMap, preview bool) (string, resource.PropertyMap) {
	t.Helper()
	resp, err := f.srv.Create(context.Background(), &pulumirpc.CreateRequest{
		Type: token, Urn: urnOf(token, "x"), Properties: props(t, ins), Preview: preview,
	})
	if err != nil {
		t.Fatalf("create %s: %v", token, err)
	}
	out, err := unmarshal(resp.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetId(), out
}

func (f *accessFixture) diff(t *testing.T, token string, olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	t.Helper()
	resp, err := f.srv.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: urnOf(token, "x"), Olds: props(t, olds), News: props(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func str(s string) resource.PropertyValue    { return resource.NewStringProperty(s) }
func num(n float64) resource.PropertyValue   { return resource.NewNumberProperty(n) }
func secret(s string) resource.PropertyValue { return resource.MakeSecret(str(s)) }

// plain returns a string output, which must be (secret) or not be a secret.
func plain(t *testing.T, m resource.PropertyMap, key string, secret bool) string {
	t.Helper()
	v := m[resource.PropertyKey(key)]
	if v.IsSecret() != secret {
		t.Errorf("%s: secret=%v, want %v", key, v.IsSecret(), secret)
	}
	r, _ := resolve(v)
	if !r.IsString() || r.StringValue() == "" {
		t.Fatalf("%s = %v, want a string", key, v)
	}
	return r.StringValue()
}

func caInputs() resource.PropertyMap {
	return resource.PropertyMap{"commonName": str("site CA")}
}

// certInputs are the inputs of a certificate signed by the CA of state ca.
func certInputs(t *testing.T, ca resource.PropertyMap) resource.PropertyMap {
	return resource.PropertyMap{
		"caCertPem":   str(plain(t, ca, "certPem", false)),
		"caKeyPem":    secret(plain(t, ca, "keyPem", true)),
		"commonName":  str("registry"),
		"ipAddresses": strArray("10.20.0.11", "fd00::11"),
		"dnsNames":    strArray("registry.local"),
	}
}

func parseCertificate(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not PEM: %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verifies(leaf, ca *x509.Certificate, name string) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestCertificateAuthorityAndCertificate(t *testing.T) {
	f := newAccessFixture()
	id, ca := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	if !hexID.MatchString(id) {
		t.Errorf("id %q", id)
	}
	caCert := parseCertificate(t, plain(t, ca, "certPem", false))
	plain(t, ca, "keyPem", true)
	if !caCert.IsCA || caCert.Subject.CommonName != "site CA" || plain(t, ca, "notAfter", false) != rfc3339(caCert.NotAfter) {
		t.Errorf("CA %v, IsCA=%v, notAfter %v", caCert.Subject, caCert.IsCA, ca["notAfter"])
	}
	if d := time.Until(caCert.NotAfter); d < days(contract.DefaultCAValidityDays-1) || d > days(contract.DefaultCAValidityDays) {
		t.Errorf("CA valid for %s, want the default %d days", d, contract.DefaultCAValidityDays)
	}

	id2, cert := f.create(t, contract.CertificateToken, certInputs(t, ca), false)
	if !hexID.MatchString(id2) || id2 == id {
		t.Errorf("ids %q, %q", id, id2)
	}
	leaf := parseCertificate(t, plain(t, cert, "certPem", false))
	plain(t, cert, "keyPem", true)
	plain(t, cert, "caKeyPem", true) // the input stays secret in the state
	for _, name := range []string{"10.20.0.11", "fd00::11", "registry.local"} {
		if err := verifies(leaf, caCert, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if verifies(leaf, caCert, "10.20.0.12") == nil {
		t.Error("verifies for an address that is no SAN")
	}
	_, other := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	if verifies(leaf, parseCertificate(t, plain(t, other, "certPem", false)), "registry.local") == nil {
		t.Error("verifies against another CA")
	}
	if plain(t, cert, "notAfter", false) != rfc3339(leaf.NotAfter) {
		t.Errorf("notAfter %v, certificate %s", cert["notAfter"], leaf.NotAfter)
	}
}

func TestPassword(t *testing.T) {
	f := newAccessFixture()
	ins := resource.PropertyMap{"username": str("registry")}
	_, a := f.create(t, contract.PasswordToken, ins, false)
	_, b := f.create(t, contract.PasswordToken, ins, false)
	pw := plain(t, a, "result", true)
	if len(pw) != contract.DefaultPasswordLength || pw == plain(t, b, "result", true) {
		t.Errorf("passwords %q and %q", pw, plain(t, b, "result", true))
	}
	user, hash, _ := strings.Cut(plain(t, a, "htpasswd", true), ":")
	if user != "registry" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) != nil {
		t.Errorf("htpasswd %q does not verify %q", plain(t, a, "htpasswd", true), pw)
	}
	ins["length"] = num(20)
	if _, c := f.create(t, contract.PasswordToken, ins, false); len(plain(t, c, "result", true)) != 20 {
		t.Errorf("length 20: %v", c["result"])
	}
}

func TestPreviewGeneratesNothing(t *testing.T) {
	f := newAccessFixture()
	_, ca := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	// In a first preview the CA is not made yet.
	unknownCA := certInputs(t, ca)
	unknownCA["caCertPem"] = resource.MakeComputed(str(""))
	unknownCA["caKeyPem"] = resource.MakeComputed(str(""))
	cases := []struct {
		token string
		ins   resource.PropertyMap
	}{
		{contract.CertificateAuthorityToken, caInputs()},
		{contract.CertificateToken, certInputs(t, ca)},
		{contract.CertificateToken, unknownCA},
		{contract.PasswordToken, resource.PropertyMap{"username": str("u")}},
	}
	for _, c := range cases {
		id, out := f.create(t, c.token, c.ins, true)
		if id != "" {
			t.Errorf("%s: preview id %q", c.token, id)
		}
		for _, p := range locals[c.token].Outputs {
			if v := out[resource.PropertyKey(p.Name)]; !v.IsComputed() {
				t.Errorf("%s: preview %s = %v, want unknown", c.token, p.Name, v)
			}
		}
	}
}

func TestAccessDiff(t *testing.T) {
	f := newAccessFixture()
	_, ca := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	ins := certInputs(t, ca)
	_, cert := f.create(t, contract.CertificateToken, ins, false)
	_, pw := f.create(t, contract.PasswordToken, resource.PropertyMap{"username": str("u")}, false)

	type change struct {
		name  string
		token string
		state resource.PropertyMap
		edit  func(m resource.PropertyMap)
		// replaces is nil for an in-place update, empty for no change.
		replaces []string
	}
	none := []string{}
	cases := []change{
		{"CA unchanged", contract.CertificateAuthorityToken, ca, func(resource.PropertyMap) {}, none},
		{"CA default spelled out", contract.CertificateAuthorityToken, ca, func(m resource.PropertyMap) { m["validityDays"] = num(contract.DefaultCAValidityDays) }, none},
		{"CA generation", contract.CertificateAuthorityToken, ca, func(m resource.PropertyMap) { m["generation"] = num(1) }, []string{"generation"}},
		{"CA name", contract.CertificateAuthorityToken, ca, func(m resource.PropertyMap) { m["commonName"] = str("new CA") }, []string{"commonName"}},
		{"certificate unchanged", contract.CertificateToken, cert, func(resource.PropertyMap) {}, none},
		{"SANs reordered and respelled", contract.CertificateToken, cert, func(m resource.PropertyMap) {
			m["ipAddresses"] = strArray("fd00:0::0011", "10.20.0.11")
			m["dnsNames"] = strArray("Registry.Local")
		}, none},
		{"an IP address more", contract.CertificateToken, cert, func(m resource.PropertyMap) {
			m["ipAddresses"] = strArray("10.20.0.11", "fd00::11", "10.20.0.12")
		}, []string{"ipAddresses"}},
		{"a new CA, not known yet", contract.CertificateToken, cert, func(m resource.PropertyMap) {
			m["caCertPem"] = resource.MakeComputed(str(""))
		}, []string{"caCertPem"}},
		{"renewBeforeDays alone", contract.CertificateToken, cert, func(m resource.PropertyMap) { m["renewBeforeDays"] = num(30) }, nil},
		{"password length", contract.PasswordToken, pw, func(m resource.PropertyMap) { m["length"] = num(40) }, []string{"length"}},
		{"password generation: an in-place rotation", contract.PasswordToken, pw, func(m resource.PropertyMap) { m["generation"] = num(2) }, nil},
		{"password unchanged", contract.PasswordToken, pw, func(resource.PropertyMap) {}, none},
	}
	for _, c := range cases {
		news := resource.PropertyMap{}
		for _, p := range locals[c.token].Inputs {
			if v, ok := c.state[resource.PropertyKey(p.Name)]; ok {
				news[resource.PropertyKey(p.Name)] = v
			}
		}
		c.edit(news)
		d := f.diff(t, c.token, c.state, news)
		switch {
		case c.replaces != nil && len(c.replaces) == 0:
			if d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
				t.Errorf("%s: %v, want no change", c.name, d)
			}
		case d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || !slices.Equal(d.GetReplaces(), c.replaces):
			t.Errorf("%s: changes %v, replaces %v, want replaces %v", c.name, d.GetChanges(), d.GetReplaces(), c.replaces)
		}
	}
}

func TestCertificateRenewal(t *testing.T) {
	f := newAccessFixture()
	_, ca := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	ins := certInputs(t, ca)
	_, cert := f.create(t, contract.CertificateToken, ins, false)

	expiring := cert.Copy()
	expiring["notAfter"] = str(rfc3339(time.Now().Add(days(contract.DefaultRenewBeforeDays - 1))))
	d := f.diff(t, contract.CertificateToken, expiring, ins)
	if !slices.Equal(d.GetReplaces(), []string{"certPem"}) || d.GetDetailedDiff()["certPem"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Errorf("a certificate within renewBeforeDays of expiry: %v", d)
	}
	// The program's renewBeforeDays decides: a shorter one postpones the renewal.
	later := ins.Copy()
	later["renewBeforeDays"] = num(30)
	if d := f.diff(t, contract.CertificateToken, expiring, later); len(d.GetReplaces()) != 0 {
		t.Errorf("renewBeforeDays 30, expiry in %d days: replaces %v", contract.DefaultRenewBeforeDays-1, d.GetReplaces())
	}

	// A certificate capped by its CA's expiry is not renewed at every up: the new one would
	// end at the same time.
	shortCA := caInputs()
	shortCA["validityDays"] = num(100)
	_, ca100 := f.create(t, contract.CertificateAuthorityToken, shortCA, false)
	ins100 := certInputs(t, ca100)
	_, capped := f.create(t, contract.CertificateToken, ins100, false)
	if capped["notAfter"].StringValue() != ca100["notAfter"].StringValue() {
		t.Fatalf("certificate ends %v, its CA %v", capped["notAfter"], ca100["notAfter"])
	}
	if d := f.diff(t, contract.CertificateToken, capped, ins100); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("a certificate capped by its CA: %v", d)
	}
	if !f.log.warned("rotate the CA") {
		t.Errorf("no warning to rotate the CA: %v", f.log.msgs)
	}
}

func TestAccessUpdateReadDelete(t *testing.T) {
	f := newAccessFixture()
	ctx := context.Background()
	_, ca := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	ins := certInputs(t, ca)
	_, cert := f.create(t, contract.CertificateToken, ins, false)
	urn := urnOf(contract.CertificateToken, "x")

	news := ins.Copy()
	news["renewBeforeDays"] = num(30)
	resp, err := f.srv.Update(ctx, &pulumirpc.UpdateRequest{Urn: urn, Olds: props(t, cert), News: props(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshal(resp.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	if got["renewBeforeDays"].NumberValue() != 30 || plain(t, got, "certPem", false) != plain(t, cert, "certPem", false) ||
		plain(t, got, "keyPem", true) != plain(t, cert, "keyPem", true) || got["notAfter"] != cert["notAfter"] {
		t.Errorf("update changed the certificate: %v", got)
	}
	news["commonName"] = str("other")
	if _, err := f.srv.Update(ctx, &pulumirpc.UpdateRequest{Urn: urn, Olds: props(t, cert), News: props(t, news)}); err == nil {
		t.Error("an update of a replace-on-change input was accepted")
	}

	read, err := f.srv.Read(ctx, &pulumirpc.ReadRequest{Id: "i", Urn: urn, Properties: props(t, cert), Inputs: props(t, ins)})
	if err != nil {
		t.Fatal(err)
	}
	state, _ := unmarshal(read.GetProperties())
	if read.GetId() != "i" || !state.DeepEquals(cert) {
		t.Errorf("read changed the state: id %q, %v", read.GetId(), state)
	}
	if read, _ := f.srv.Read(ctx, &pulumirpc.ReadRequest{Id: "i", Urn: urn}); read.GetId() != "" {
		t.Errorf("import of a generated certificate: id %q", read.GetId())
	}
	if _, err := f.srv.Delete(ctx, &pulumirpc.DeleteRequest{Id: "i", Urn: urn, Properties: props(t, cert)}); err != nil {
		t.Error(err)
	}
}

func TestAccessCheck(t *testing.T) {
	f := newAccessFixture()
	_, ca := f.create(t, contract.CertificateAuthorityToken, caInputs(), false)
	valid := map[string]resource.PropertyMap{
		contract.CertificateAuthorityToken: caInputs(),
		contract.CertificateToken:          certInputs(t, ca),
		contract.PasswordToken:             {"username": str("registry")},
	}
	cases := []struct {
		token, prop string
		edit        func(m resource.PropertyMap)
	}{
		{contract.CertificateAuthorityToken, "commonName", func(m resource.PropertyMap) { delete(m, "commonName") }},
		{contract.CertificateAuthorityToken, "commonName", func(m resource.PropertyMap) { m["commonName"] = str(strings.Repeat("c", 65)) }},
		{contract.CertificateAuthorityToken, "validityDays", func(m resource.PropertyMap) { m["validityDays"] = num(-1) }},
		{contract.CertificateAuthorityToken, "generation", func(m resource.PropertyMap) { m["generation"] = num(-1) }},
		{contract.CertificateToken, "caKeyPem", func(m resource.PropertyMap) { delete(m, "caKeyPem") }},
		{contract.CertificateToken, "caCertPem", func(m resource.PropertyMap) { m["caCertPem"] = str("not PEM") }},
		{contract.CertificateToken, "ipAddresses", func(m resource.PropertyMap) { m["ipAddresses"] = strArray("10.20.0.300") }},
		{contract.CertificateToken, "ipAddresses", func(m resource.PropertyMap) { delete(m, "ipAddresses"); delete(m, "dnsNames") }},
		{contract.CertificateToken, "dnsNames", func(m resource.PropertyMap) { m["dnsNames"] = strArray("registry_1.local") }},
		{contract.CertificateToken, "validityDays", func(m resource.PropertyMap) { m["validityDays"] = num(40000) }},
		{contract.CertificateToken, "renewBeforeDays", func(m resource.PropertyMap) { m["renewBeforeDays"] = num(-1) }},
		{contract.CertificateToken, "renewBeforeDays", func(m resource.PropertyMap) { m["validityDays"] = num(90) }},
		{contract.PasswordToken, "username", func(m resource.PropertyMap) { m["username"] = str("a:b") }},
		{contract.PasswordToken, "username", func(m resource.PropertyMap) { m["username"] = str("a b") }},
		{contract.PasswordToken, "length", func(m resource.PropertyMap) { m["length"] = num(8) }},
		{contract.PasswordToken, "length", func(m resource.PropertyMap) { m["length"] = num(73) }},
	}
	check := func(token string, m resource.PropertyMap) []*pulumirpc.CheckFailure {
		t.Helper()
		resp, err := f.srv.Check(context.Background(), &pulumirpc.CheckRequest{Type: token, Urn: urnOf(token, "x"), News: props(t, m)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetFailures()
	}
	for token, m := range valid {
		if fl := check(token, m); len(fl) != 0 {
			t.Errorf("%s: valid inputs fail: %v", token, fl)
		}
	}
	for _, c := range cases {
		m := valid[c.token].Copy()
		c.edit(m)
		fl := check(c.token, m)
		if !slices.ContainsFunc(fl, func(f *pulumirpc.CheckFailure) bool { return f.GetProperty() == c.prop }) {
			t.Errorf("%s %s: failures %v do not name it", c.token, c.prop, fl)
		}
	}
	// Inputs not known yet (the CA of a first preview) are not failures.
	m := valid[contract.CertificateToken].Copy()
	m["caCertPem"], m["caKeyPem"] = resource.MakeComputed(str("")), resource.MakeComputed(str(""))
	if fl := check(contract.CertificateToken, m); len(fl) != 0 {
		t.Errorf("unknown CA: %v", fl)
	}
	// Create refuses what Check refuses.
	bad := valid[contract.PasswordToken].Copy()
	bad["length"] = num(8)
	if _, err := f.srv.Create(context.Background(), &pulumirpc.CreateRequest{Type: contract.PasswordToken, Properties: props(t, bad)}); err == nil {
		t.Error("create of an invalid password succeeded")
	}
}

// A state written before the htpasswd cost was lowered holds a cost-10 line: the Diff asks
// for an in-place update of the line alone, the Update re-hashes the same password at
// pki.HtpasswdCost, and then nothing differs.
func TestPasswordRehash(t *testing.T) {
	f := newAccessFixture()
	ctx := context.Background()
	ins := resource.PropertyMap{"username": str("site-pull")}
	_, state := f.create(t, contract.PasswordToken, ins, false)
	if d := f.diff(t, contract.PasswordToken, state, ins); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("a fresh password differs: %v", d)
	}
	pw := plain(t, state, "result", true)
	old, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	state["htpasswd"] = secret("site-pull:" + string(old))

	d := f.diff(t, contract.PasswordToken, state, ins)
	if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) != 0 ||
		d.GetDetailedDiff()["htpasswd"].GetKind() != pulumirpc.PropertyDiff_UPDATE {
		t.Fatalf("diff of a cost-10 line: %v", d)
	}
	resp, err := f.srv.Update(ctx, &pulumirpc.UpdateRequest{Urn: urnOf(contract.PasswordToken, "x"), Olds: props(t, state), News: props(t, ins)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshal(resp.GetProperties())
	if err != nil {
		t.Fatal(err)
	}
	if plain(t, got, "result", true) != pw {
		t.Error("the update changed the password")
	}
	line := plain(t, got, "htpasswd", true)
	if !pki.HtpasswdCurrent(line, "site-pull", pw) {
		t.Errorf("updated line %q is not the password at cost %d", line, pki.HtpasswdCost)
	}
	if d := f.diff(t, contract.PasswordToken, got, ins); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("after the update: %v", d)
	}
	f.log.mu.Lock()
	said := slices.ContainsFunc(f.log.msgs, func(l string) bool { return strings.Contains(l, "re-hashing the htpasswd line") })
	f.log.mu.Unlock()
	if !said {
		t.Error("the diff did not say why")
	}
}

// TestPasswordRotation: a new generation rotates the password in place, derived from the seed:
// the preview already knows the new password (so what is configured with it, the site's airgap
// provider, stays known), and the up makes the same one; the old one no longer matches the
// htpasswd line. A state written before seeds cannot know it at preview, and gets a seed.
func TestPasswordRotation(t *testing.T) {
	f := newAccessFixture()
	ins := resource.PropertyMap{"username": str("push")}
	_, state := f.create(t, contract.PasswordToken, ins, false)
	if !state["seed"].IsSecret() {
		t.Fatalf("the seed is not secret: %v", state["seed"])
	}
	news := ins.Copy()
	news["generation"] = num(1)
	urn := urnOf(contract.PasswordToken, "x")
	update := func(state resource.PropertyMap, preview bool) resource.PropertyMap {
		t.Helper()
		resp, err := f.srv.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn, Olds: props(t, state), News: props(t, news), Preview: preview})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := unmarshal(resp.GetProperties())
		return out
	}
	result := func(m resource.PropertyMap) string {
		v, _ := resolve(m["result"])
		return stringOf(v)
	}
	previewed, rotated := update(state, true), update(state, false)
	if result(previewed) == "" || result(previewed) != result(rotated) {
		t.Errorf("preview %q, up %q: want the same known password", result(previewed), result(rotated))
	}
	if result(rotated) == result(state) {
		t.Error("the rotation kept the password")
	}
	line, _ := resolve(rotated["htpasswd"])
	if !pki.HtpasswdCurrent(stringOf(line), "push", result(rotated)) || pki.HtpasswdCurrent(stringOf(line), "push", result(state)) {
		t.Errorf("the htpasswd line %q does not match the new password only", stringOf(line))
	}
	// A state of provider 0.4: no seed.
	old := state.Copy()
	delete(old, "seed")
	if p := update(old, true); !p["result"].IsComputed() {
		t.Errorf("a seedless preview claims a password: %v", p["result"])
	}
	up := update(old, false)
	if seed, _ := resolve(up["seed"]); stringOf(seed) == "" || result(up) == result(old) {
		t.Errorf("a seedless rotation: seed %v, password kept %v", up["seed"], result(up) == result(old))
	}
}
