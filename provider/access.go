package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"airgap-site/pki"
	"airgap-site/provider/contract"
)

// The access resources (contract.CertificateAuthority, Certificate, Password) are generated
// in the provider's process, by package pki, and live only in the state, where the engine
// keeps their secret outputs encrypted. So Read returns the state, Delete forgets it, and
// only a replacement makes new ones: a new CA, certificate or password is a deliberate act
// (an input changed, a generation bumped) or a certificate's renewal, never a side effect.

// local is one resource type the provider generates in process; on binds it to a server.
type local struct {
	contract.Resource
	s *Server
	// parse decodes the inputs as they act (defaults applied, lists in a canonical order),
	// for Diff, and names the inputs not known yet.
	parse func(m resource.PropertyMap) (effective reflect.Value, unknown []string)
	// validate adds the check failures beyond the required inputs, skipping unknown ones.
	validate func(m resource.PropertyMap, f failures)
	// generate makes the outputs of known, valid inputs, and a line for the log.
	generate func(m resource.PropertyMap, now time.Time) (outputs resource.PropertyMap, summary string, err error)
	// renewal, if set, says whether a state must be replaced although its inputs are the
	// same, and why; a warning explains a renewal that is due but would not help.
	renewal func(state, news resource.PropertyMap, now time.Time) (replace bool, why, warning string)
	// upgrade, if set, returns outputs of the state remade in place from the same secret
	// (a password's htpasswd line at today's bcrypt cost), or nil when they are current.
	upgrade func(state resource.PropertyMap) (outputs resource.PropertyMap, why string, err error)
	// rotate, if set, returns outputs remade in place for new inputs that rotate them (a
	// password's generation), or nil when the inputs do not; preview says whether it is one.
	rotate func(state, news resource.PropertyMap, preview bool) (outputs resource.PropertyMap, why string, err error)
}

// localKind builds a local from its contract structs: A the inputs, O the outputs.
func localKind[A, O any](r contract.Resource, effective func(A) A, validate func(in A, known func(string) bool, f failures),
	generate func(in A, now time.Time) (O, string, error)) local {
	parse := func(m resource.PropertyMap) (A, []string) {
		var in A
		return in, decode(m, r.Inputs, &in)
	}
	return local{
		Resource: r,
		parse: func(m resource.PropertyMap) (reflect.Value, []string) {
			in, unknown := parse(m)
			return reflect.ValueOf(effective(in)), unknown
		},
		validate: func(m resource.PropertyMap, f failures) {
			in, unknown := parse(m)
			validate(in, func(name string) bool { return !slices.Contains(unknown, name) }, f)
		},
		generate: func(m resource.PropertyMap, now time.Time) (resource.PropertyMap, string, error) {
			in, _ := parse(m)
			out, summary, err := generate(effective(in), now)
			if err != nil {
				return nil, "", err
			}
			return encode(r.Outputs, out), summary, nil
		},
	}
}

// on is l serving s: the kind the server dispatches to.
func (l local) on(s *Server) *local {
	l.s = s
	return &l
}

// check returns the failures of m: the required inputs, then l's own rules.
func (l *local) check(_ context.Context, _ request, m resource.PropertyMap) (failures, error) {
	in, unknown := l.parse(m)
	f := failures{}
	f.required(l.Inputs, in, unknown)
	l.validate(m, f)
	return f, nil
}

// diff compares the inputs as they act: a replace-on-change input that differs (or is not
// known yet) replaces; another one is an update. A certificate due for renewal is replaced
// too: the engine makes the new one before it forgets the old.
func (l *local) diff(ctx context.Context, r request, olds, news resource.PropertyMap) (changes, error) {
	c := l.inputDiff(olds, news)
	if l.renewal != nil {
		replace, why, warning := l.renewal(olds, news, time.Now())
		if warning != "" {
			l.s.warn(ctx, r.urn, "%s", warning)
		}
		if replace {
			l.s.info(ctx, r.urn, "%s", why)
			c.replace("certPem")
		}
	}
	if l.upgrade != nil && len(c.replaces) == 0 {
		outs, why, err := l.upgrade(olds)
		if err != nil {
			return c, err
		}
		if outs != nil {
			l.s.info(ctx, r.urn, "%s", why)
			for k := range outs {
				c.output(string(k))
			}
		}
	}
	return c, nil
}

// inputDiff lists the inputs that changed, and those of them that replace.
func (l *local) inputDiff(olds, news resource.PropertyMap) changes {
	oldV, _ := l.parse(olds)
	newV, unknown := l.parse(news)
	return inputChanges(l.Inputs, oldV, newV, unknown)
}

// create generates the outputs (a preview leaves them unknown and generates nothing) and
// returns them with the inputs as they came, secrets still secret.
func (l *local) create(ctx context.Context, r request, ins resource.PropertyMap) (resource.PropertyMap, string, error) {
	outs := ins.Copy()
	if r.preview {
		computedOutputs(outs, l.Resource)
		return outs, "", nil
	}
	if _, unknown := l.parse(ins); len(unknown) > 0 {
		return nil, "", fmt.Errorf("%s: inputs not known at create: %s", l.Token, strings.Join(unknown, ", "))
	}
	if f, _ := l.check(ctx, r, ins); len(f) > 0 {
		return nil, "", fmt.Errorf("%s: invalid inputs: %v", l.Token, map[string]string(f))
	}
	generated, summary, err := l.generate(ins, time.Now())
	if err != nil {
		return nil, "", err
	}
	maps.Copy(outs, generated)
	id, err := randomID()
	if err != nil {
		return nil, "", err
	}
	l.s.info(ctx, r.urn, "%s", summary)
	return outs, id, nil
}

// read returns the state: nothing outside it holds the resource. An import has no state
// to read, and nothing to import: the resource is reported missing.
func (l *local) read(_ context.Context, _ request, state, inputs resource.PropertyMap) (resource.PropertyMap, resource.PropertyMap, error) {
	if len(state) == 0 {
		return nil, nil, nil
	}
	return state, inputs, nil
}

// update takes the new inputs and keeps the outputs: only inputs that are not
// replace-on-change (a certificate's renewBeforeDays) get here.
func (l *local) update(ctx context.Context, r request, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	if c := l.inputDiff(olds, news); len(c.replaces) > 0 {
		return nil, fmt.Errorf("%s: %s changed, which replaces the resource; it cannot be updated in place", l.Token, strings.Join(c.replaces, ", "))
	}
	outs := news.Copy()
	for _, p := range l.Outputs {
		k := resource.PropertyKey(p.Name)
		if v, ok := olds[k]; ok {
			outs[k] = v
		}
	}
	if l.upgrade != nil {
		upgraded, _, err := l.upgrade(olds)
		if err != nil {
			return nil, err
		}
		maps.Copy(outs, upgraded)
	}
	if l.rotate != nil {
		rotated, why, err := l.rotate(olds, news, r.preview)
		if err != nil {
			return nil, err
		}
		if rotated != nil && !r.preview {
			l.s.info(ctx, r.urn, "%s", why)
		}
		maps.Copy(outs, rotated)
	}
	return outs, nil
}

// delete has nothing to remove: the state was the only copy.
func (l *local) delete(context.Context, request, resource.PropertyMap) error { return nil }

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating an id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// maxValidityDays bounds every validity: beyond a century a typo, not a plan.
const maxValidityDays = 36500

func checkValidity(f failures, known func(string) bool, prop string, v, def int) {
	if known(prop) && (v < 0 || v > maxValidityDays) {
		f.add(prop, "days, 1 to %d (0 means %d)", maxValidityDays, def)
	}
}

func checkGeneration(f failures, known func(string) bool, v int) {
	if known("generation") && v < 0 {
		f.add("generation", "0 or more")
	}
}

// checkCommonName: RFC 5280 bounds a common name at 64 characters, and some TLS stacks
// reject longer ones.
func checkCommonName(f failures, known func(string) bool, cn string) {
	if known("commonName") && len(cn) > 64 {
		f.add("commonName", "at most 64 characters, not %d", len(cn))
	}
}

var certificateAuthority = localKind(contract.CertificateAuthority,
	func(in contract.CertificateAuthorityArgs) contract.CertificateAuthorityArgs {
		in.ValidityDays = or(in.ValidityDays, contract.DefaultCAValidityDays)
		return in
	},
	func(in contract.CertificateAuthorityArgs, known func(string) bool, f failures) {
		checkCommonName(f, known, in.CommonName)
		checkValidity(f, known, "validityDays", in.ValidityDays, contract.DefaultCAValidityDays)
		checkGeneration(f, known, in.Generation)
	},
	func(in contract.CertificateAuthorityArgs, now time.Time) (contract.CertificateAuthorityOutputs, string, error) {
		cert, key, err := pki.NewCA(in.CommonName, days(in.ValidityDays), now)
		if err != nil {
			return contract.CertificateAuthorityOutputs{}, "", err
		}
		notAfter, err := pki.NotAfter(cert)
		if err != nil {
			return contract.CertificateAuthorityOutputs{}, "", err
		}
		return contract.CertificateAuthorityOutputs{CertPem: cert, KeyPem: key, NotAfter: rfc3339(notAfter)},
			fmt.Sprintf("generated CA %q, valid until %s", in.CommonName, rfc3339(notAfter)), nil
	})

var password = rotating(upgraded(rehash, localKind(contract.Password,
	func(in contract.PasswordArgs) contract.PasswordArgs {
		in.Length = or(in.Length, contract.DefaultPasswordLength)
		return in
	},
	func(in contract.PasswordArgs, known func(string) bool, f failures) {
		if known("username") && in.Username != "" {
			if err := pki.CheckUser(in.Username); err != nil {
				f.add("username", "%v", err)
			}
		}
		if known("length") && in.Length != 0 && (in.Length < pki.MinPasswordLength || in.Length > pki.MaxPasswordLength) {
			f.add("length", "%d to %d characters (0 means %d)", pki.MinPasswordLength, pki.MaxPasswordLength, contract.DefaultPasswordLength)
		}
		checkGeneration(f, known, in.Generation)
	},
	func(in contract.PasswordArgs, _ time.Time) (contract.PasswordOutputs, string, error) {
		seed, err := pki.NewSeed()
		if err != nil {
			return contract.PasswordOutputs{}, "", err
		}
		out, err := derived(in, seed)
		return out, fmt.Sprintf("generated a password of %d characters for %q", in.Length, in.Username), err
	})), rotate)

// derived are the outputs of in's generation of the password of seed.
func derived(in contract.PasswordArgs, seed string) (contract.PasswordOutputs, error) {
	pw, err := pki.DerivePassword(seed, in.Username, in.Generation, in.Length)
	if err != nil {
		return contract.PasswordOutputs{}, err
	}
	line, err := pki.Htpasswd(in.Username, pw)
	if err != nil {
		return contract.PasswordOutputs{}, err
	}
	return contract.PasswordOutputs{Result: pw, Htpasswd: line, Seed: seed}, nil
}

// rotate makes a new generation's password in place, from the state's seed: known in a preview
// too. A state without a seed (written before provider 0.5.0) gets one at this rotation, and
// its preview cannot know the password.
func rotate(state, news resource.PropertyMap, preview bool) (resource.PropertyMap, string, error) {
	var old, next contract.PasswordArgs
	decode(state, contract.Password.Inputs, &old)
	decode(news, contract.Password.Inputs, &next)
	if old.Generation == next.Generation {
		return nil, "", nil
	}
	next.Length = or(next.Length, contract.DefaultPasswordLength)
	seed, _ := resolve(state["seed"])
	why := fmt.Sprintf("rotating the password of %q: generation %d", next.Username, next.Generation)
	if stringOf(seed) == "" {
		if preview {
			out := resource.PropertyMap{}
			for _, p := range contract.Password.Outputs {
				out[resource.PropertyKey(p.Name)] = resource.MakeComputed(resource.NewStringProperty(""))
			}
			return out, why, nil
		}
		s, err := pki.NewSeed()
		if err != nil {
			return nil, "", err
		}
		seed = resource.NewStringProperty(s)
	}
	out, err := derived(next, stringOf(seed))
	if err != nil {
		return nil, "", err
	}
	return encode(contract.Password.Outputs, out), why, nil
}

// rotating is l with its rotation set.
func rotating(l local, rotate func(state, news resource.PropertyMap, preview bool) (resource.PropertyMap, string, error)) local {
	l.rotate = rotate
	return l
}

// upgraded is l with its upgrade set.
func upgraded(upgrade func(resource.PropertyMap) (resource.PropertyMap, string, error), l local) local {
	l.upgrade = upgrade
	return l
}

// rehash remakes a password's htpasswd line, for the same password, when the state's line is
// not at pki.HtpasswdCost (states written before the cost was lowered hold cost 10, which
// lets anyone who reaches the registry spend ~65 ms of its CPU per request). The password,
// the resource's id and everything that uses the password stay; only the line changes, in
// place, and the registry re-reads its htpasswd file when the Secret's file changes.
func rehash(state resource.PropertyMap) (resource.PropertyMap, string, error) {
	var in contract.PasswordArgs
	decode(state, contract.Password.Inputs, &in)
	pw, _ := resolve(state["result"])
	line, _ := resolve(state["htpasswd"])
	if !pw.IsString() || !line.IsString() || pw.StringValue() == "" {
		return nil, "", nil // nothing generated yet
	}
	if pki.HtpasswdCurrent(line.StringValue(), in.Username, pw.StringValue()) {
		return nil, "", nil
	}
	next, err := pki.Htpasswd(in.Username, pw.StringValue())
	if err != nil {
		return nil, "", fmt.Errorf("re-hashing the htpasswd line of %q: %w", in.Username, err)
	}
	return resource.PropertyMap{"htpasswd": resource.MakeSecret(resource.NewStringProperty(next))},
		fmt.Sprintf("re-hashing the htpasswd line of %q at bcrypt cost %d, same password", in.Username, pki.HtpasswdCost), nil
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var certificate = func() local {
	l := localKind(contract.Certificate, certificateEffective, checkCertificate,
		func(in contract.CertificateArgs, now time.Time) (contract.CertificateOutputs, string, error) {
			cert, key, err := pki.IssueServing(in.CACertPem, in.CAKeyPem, in.CommonName, in.IPAddresses, in.DNSNames, days(in.ValidityDays), now)
			if err != nil {
				return contract.CertificateOutputs{}, "", err
			}
			notAfter, err := pki.NotAfter(cert)
			if err != nil {
				return contract.CertificateOutputs{}, "", err
			}
			summary := fmt.Sprintf("issued certificate %q for %s, valid until %s", in.CommonName,
				strings.Join(append(slices.Clone(in.IPAddresses), in.DNSNames...), ", "), rfc3339(notAfter))
			if notAfter.Before(now.Add(days(in.ValidityDays))) {
				summary += " (the CA's expiry)"
			}
			return contract.CertificateOutputs{CertPem: cert, KeyPem: key, NotAfter: rfc3339(notAfter)}, summary, nil
		})
	l.renewal = renewal
	return l
}()

// certificateEffective applies the defaults and puts the SANs in a canonical form: their order
// and spelling (fd00::0011, Registry.Local) do not change what the certificate is valid for.
func certificateEffective(in contract.CertificateArgs) contract.CertificateArgs {
	in.ValidityDays = or(in.ValidityDays, contract.DefaultCertificateValidityDays)
	in.RenewBeforeDays = or(in.RenewBeforeDays, contract.DefaultRenewBeforeDays)
	canonical := func(ss []string, norm func(string) string) []string {
		if len(ss) == 0 {
			return nil
		}
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = norm(s)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	in.IPAddresses = canonical(in.IPAddresses, func(s string) string {
		if a, err := pki.ParseIP(s); err == nil {
			return a.String()
		}
		return s
	})
	in.DNSNames = canonical(in.DNSNames, strings.ToLower)
	return in
}

func checkCertificate(in contract.CertificateArgs, known func(string) bool, f failures) {
	if known("caCertPem") && in.CACertPem != "" {
		if _, err := pki.NotAfter(in.CACertPem); err != nil {
			f.add("caCertPem", "%v", err)
		}
	}
	checkCommonName(f, known, in.CommonName)
	for i, ip := range in.IPAddresses {
		if _, err := pki.ParseIP(ip); err != nil {
			f.add("ipAddresses", "ipAddresses[%d]: %v", i, err)
		}
	}
	for i, d := range in.DNSNames {
		if err := pki.CheckDNSName(d); err != nil {
			f.add("dnsNames", "dnsNames[%d]: %v", i, err)
		}
	}
	if len(in.IPAddresses) == 0 && len(in.DNSNames) == 0 && known("ipAddresses") && known("dnsNames") {
		f.add("ipAddresses", "at least one IP address or DNS name: clients match a server by these, never by its commonName")
	}
	checkValidity(f, known, "validityDays", in.ValidityDays, contract.DefaultCertificateValidityDays)
	validity := or(in.ValidityDays, contract.DefaultCertificateValidityDays)
	switch renew := or(in.RenewBeforeDays, contract.DefaultRenewBeforeDays); {
	case !known("renewBeforeDays") || !known("validityDays"):
	case in.RenewBeforeDays < 0:
		f.add("renewBeforeDays", "days, 0 or more (0 means %d)", contract.DefaultRenewBeforeDays)
	case renew >= validity:
		f.add("renewBeforeDays", "%d days is not less than validityDays (%d): every up would renew the certificate", renew, validity)
	}
}

// renewal: a certificate within renewBeforeDays (the new inputs', as the program now asks) of
// its notAfter is due. Renewing does not help when the CA expires first, since a certificate
// never outlives its CA: then every up would replace it for nothing, so it is kept, with a
// warning to rotate the CA.
func renewal(state, news resource.PropertyMap, now time.Time) (replace bool, why, warning string) {
	var old, next contract.CertificateArgs
	decode(state, contract.Certificate.Inputs, &old)
	decode(news, contract.Certificate.Inputs, &next)
	renewBefore := or(next.RenewBeforeDays, contract.DefaultRenewBeforeDays)
	v, _ := resolve(state["notAfter"])
	notAfter, err := time.Parse(time.RFC3339, stringOf(v))
	if err != nil {
		return true, fmt.Sprintf("renewing: the state's notAfter %q does not read as a time", stringOf(v)), ""
	}
	if now.Before(notAfter.Add(-days(renewBefore))) {
		return false, "", ""
	}
	if caEnd, err := pki.NotAfter(old.CACertPem); err == nil && !caEnd.After(notAfter) {
		return false, "", fmt.Sprintf("the certificate expires at %s, within renewBeforeDays (%d), but its CA expires at %s, no later, and a new certificate cannot outlive it: rotate the CA (bump its generation)",
			rfc3339(notAfter), renewBefore, rfc3339(caEnd))
	}
	return true, fmt.Sprintf("renewing: the certificate expires at %s, within renewBeforeDays (%d)", rfc3339(notAfter), renewBefore), ""
}
