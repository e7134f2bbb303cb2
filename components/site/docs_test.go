package site

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"

	"airgap-site/bundle"
	"airgap-site/siteconfig"
)

// One config schema: the typed config (siteconfig.Config) is the truth, and the three places a
// user reads about it are checked against it: Pulumi.yaml's declared keys and descriptions,
// the README's configuration reference table, and the annotated stacks/Pulumi.example.yaml.

// schemaNode is one field of the typed config, by its YAML path.
type schemaNode struct {
	path     string
	typ      reflect.Type
	children []string // YAML names of the fields of a struct (or of a list's struct elements)
}

// configSchema walks siteconfig.Config: every field path (nodes[].ip, registry.rotation.ca,
// images.list[].build.args), the secrets as top-level keys.
func configSchema() map[string]*schemaNode {
	nodes := map[string]*schemaNode{}
	var walk func(path string, t reflect.Type)
	walk = func(path string, t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		n := &schemaNode{path: path, typ: t}
		nodes[path] = n
		st := t
		prefix := path + "."
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
			st, prefix = t.Elem(), path+"[]."
		}
		if st.Kind() != reflect.Struct {
			return
		}
		for i := range st.NumField() {
			f := st.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			n.children = append(n.children, name)
			walk(prefix+name, f.Type)
		}
	}
	ct := reflect.TypeFor[siteconfig.Config]()
	for i := range ct.NumField() {
		name, _, _ := strings.Cut(ct.Field(i).Tag.Get("json"), ",")
		if name != "secrets" {
			walk(name, ct.Field(i).Type)
		}
	}
	for _, k := range siteconfig.TopLevelKeys() {
		if nodes[k] == nil {
			nodes[k] = &schemaNode{path: k, typ: reflect.TypeFor[string]()}
		}
	}
	return nodes
}

// isGroup reports whether a schema node has fields of its own (an object, or a list of them).
func (n *schemaNode) isGroup() bool { return len(n.children) > 0 }

// group is a `{a, b: {c, d}, e [..]}` list of field names in documentation text.
type group map[string]group

var parenthetical = regexp.MustCompile(`\([^(){}]*\)`)

// parseGroup reads the first {...} group of text (parenthetical remarks and [...] parts left
// out), or nil when there is none.
func parseGroup(text string) group {
	for parenthetical.MatchString(text) {
		text = parenthetical.ReplaceAllString(text, "")
	}
	start := strings.Index(text, "{")
	if start < 0 {
		return nil
	}
	g, _ := parseGroupAt(text, start+1)
	return g
}

// parseGroupAt parses the inside of a group starting at text[i] up to its closing brace and
// returns the group and the index after it.
func parseGroupAt(text string, i int) (group, int) {
	g := group{}
	name, depthSquare := "", 0
	flush := func() {
		if n := strings.TrimSpace(name); n != "" {
			if m := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*`).FindString(n); m != "" {
				if _, ok := g[m]; !ok {
					g[m] = nil
				}
			}
		}
		name = ""
	}
	for i < len(text) {
		c := text[i]
		switch {
		case c == '[':
			depthSquare++
		case c == ']':
			depthSquare--
		case depthSquare > 0:
		case c == '{':
			n := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*`).FindString(strings.TrimSpace(name))
			sub, next := parseGroupAt(text, i+1)
			if n != "" {
				g[n] = sub
			}
			name, i = "", next
			continue
		case c == '}':
			flush()
			return g, i + 1
		case c == ',' || c == '|':
			flush()
		default:
			name += string(c)
		}
		i++
	}
	flush()
	return g, i
}

// checkGroup compares a documented group with the schema node it documents: the same
// fields, and the same again for every nested group given.
func checkGroup(schema map[string]*schemaNode, n *schemaNode, g group) []string {
	var problems []string
	prefix := n.path + "."
	if n.typ.Kind() == reflect.Slice {
		prefix = n.path + "[]."
	}
	for name, sub := range g {
		if !slices.Contains(n.children, name) {
			problems = append(problems, fmt.Sprintf("%s%s is documented but does not exist", prefix, name))
			continue
		}
		if sub != nil {
			if child := schema[prefix+name]; child.isGroup() {
				problems = append(problems, checkGroup(schema, child, sub)...)
			}
		}
	}
	for _, c := range n.children {
		if _, ok := g[c]; !ok {
			problems = append(problems, fmt.Sprintf("%s%s is not documented", prefix, c))
		}
	}
	return problems
}

// Pulumi.yaml declares every top-level key and nothing else, and the description of each
// object key lists exactly its fields (and those of any nested group it spells out).
func TestPulumiYAMLDescribesTheConfig(t *testing.T) {
	problems := pulumiYAMLProblems(t, readRepoFile(t, "Pulumi.yaml"))
	for _, p := range problems {
		t.Error("Pulumi.yaml: " + p)
	}
}

func pulumiYAMLProblems(t *testing.T, b []byte) []string {
	t.Helper()
	var doc struct {
		Config map[string]struct {
			Type        string `json:"type"`
			Description string `json:"description"`
		} `json:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	schema := configSchema()
	var problems []string
	// A key the CLI must not require (needed by one kind only, or optional) is named in the
	// file's comments instead, which say why it is not declared.
	var comments strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			comments.WriteString(l + "\n")
		}
	}
	for _, key := range siteconfig.TopLevelKeys() {
		_, declared := doc.Config[siteconfig.ConfigNamespace+":"+key]
		if !declared && !regexp.MustCompile(`\b`+key+`\b`).MatchString(comments.String()) {
			problems = append(problems, fmt.Sprintf("%s:%s is neither declared nor named in the comments", siteconfig.ConfigNamespace, key))
		}
	}
	for full, decl := range doc.Config {
		key, ok := strings.CutPrefix(full, siteconfig.ConfigNamespace+":")
		n := schema[key]
		if !ok || n == nil || strings.Contains(key, ".") {
			problems = append(problems, full+" is declared but the program does not read it")
			continue
		}
		if decl.Description == "" {
			problems = append(problems, full+" has no description")
		}
		if n.isGroup() {
			g := parseGroup(decl.Description)
			if g == nil {
				problems = append(problems, full+": the description does not list its fields as {a, b, ...}")
				continue
			}
			problems = append(problems, checkGroup(schema, n, g)...)
		}
	}
	slices.Sort(problems)
	return problems
}

// The README's configuration reference has a row for every field (or for a group whose
// description lists its fields), and no row for a field that does not exist.
func TestREADMEConfigurationReference(t *testing.T) {
	for _, p := range readmeProblems(t, readRepoFile(t, "README.md")) {
		t.Error("README, Configuration reference: " + p)
	}
}

var tableKey = regexp.MustCompile("`([^`]+)`")

func readmeProblems(t *testing.T, b []byte) []string {
	t.Helper()
	text := string(b)
	start := strings.Index(text, "### Configuration reference")
	if start < 0 {
		t.Fatal("README has no Configuration reference")
	}
	schema := configSchema()
	covered := map[string]bool{}
	var problems []string
	for _, line := range strings.Split(text[start:], "\n")[1:] {
		if strings.HasPrefix(line, "#") {
			break
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") || strings.TrimSpace(cells[1]) == "key" {
			continue
		}
		parent := ""
		for _, m := range tableKey.FindAllStringSubmatch(cells[1], -1) {
			key := strings.TrimSuffix(m[1], "[]")
			if rel, ok := strings.CutPrefix(key, "."); ok {
				key = parent + "." + rel
			} else if i := strings.LastIndex(key, "."); i >= 0 {
				parent = key[:i]
			}
			n := schema[key]
			if n == nil {
				problems = append(problems, fmt.Sprintf("`%s` is documented but does not exist", m[1]))
				continue
			}
			covered[key] = true
			if g := parseGroup(cells[2]); n.isGroup() && g != nil {
				problems = append(problems, checkGroup(schema, n, g)...)
				for p := range schema {
					if strings.HasPrefix(p, key+".") || strings.HasPrefix(p, key+"[].") {
						covered[p] = true
					}
				}
			}
		}
	}
	for p, n := range schema {
		if !n.isGroup() && !covered[p] {
			problems = append(problems, fmt.Sprintf("`%s` has no row (or a group row listing it)", p))
		}
	}
	slices.Sort(problems)
	return problems
}

// The annotated example, with every commented block and field turned on, as it stands after
// `pulumi stack init` rewrote it (the engine re-emits the file and appends encryptionsalt),
// is a valid stack whose workload images are pinned without a bundle: it previews as shipped.
func TestExampleValidWithEveryBlockOn(t *testing.T) {
	example := readRepoFile(t, "stacks/Pulumi.example.yaml")
	for name, text := range map[string][]byte{"as shipped": example, "after pulumi stack init": afterStackInit(t, example)} {
		t.Run(name, func(t *testing.T) {
			on, turnedOn := uncomment(string(text))
			for _, want := range []string{"airgap-site:bootstrap", "airgap-site:images", "airgap-site:kubernetes", "airgap-site:site"} {
				if !slices.Contains(turnedOn, want) {
					t.Errorf("%s was not found commented, to turn on (found %v)", want, turnedOn)
				}
			}
			file := filepath.Join(t.TempDir(), "Pulumi.example.yaml")
			if err := os.WriteFile(file, []byte(on), 0o644); err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(on), &doc); err != nil {
				t.Fatalf("not YAML with every block on: %v\n%s", err, on)
			}
			for k := range doc {
				if k != "config" && k != "encryptionsalt" {
					t.Errorf("%s sits outside config: once uncommented:\n%s", k, on)
				}
			}
			src := stackSource(t, file)
			c, _, err := siteconfig.Load(src, "osaka")
			if err != nil {
				t.Fatalf("the example with every block on does not load: %v\n%s", err, on)
			}
			if c.Bootstrap.Endpoint == "" || c.Images.Bundle == "" || c.Kubernetes.Kubeconfig == "" {
				t.Errorf("blocks not on: %+v", c)
			}
		})
	}
	// As shipped (no bundle written yet), the workload images are pinned by digest.
	src := stackSource(t, "../../stacks/Pulumi.example.yaml")
	c, _, err := siteconfig.Load(src, "osaka")
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if _, err := PinnedImage("registry.image", c.Registry.Image, "", bundleTrustNone); err != nil {
		t.Errorf("as shipped: %v", err)
	}
	if c.ObjectStore.Tenant != nil {
		if _, err := PinnedImage("objectStore.tenant.image", c.ObjectStore.Tenant.Image, "", bundleTrustNone); err != nil {
			t.Errorf("as shipped: %v", err)
		}
	}
}

// afterStackInit rewrites a stack file as `pulumi stack init` does: a YAML node round trip
// (comments kept where the encoder puts them) with encryptionsalt appended.
func afterStackInit(t *testing.T, b []byte) []byte {
	t.Helper()
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	m := root.Content[0]
	m.Content = append(m.Content,
		&yamlv3.Node{Kind: yamlv3.ScalarNode, Value: "encryptionsalt"},
		&yamlv3.Node{Kind: yamlv3.ScalarNode, Value: "v1:7l019gTIXX0=:v1:PjEy3XllbNzRpGJW:HwrjWN3tMnNN1bZ7q8EAUb12WIo2Gg=="})
	var out strings.Builder
	enc := yamlv3.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		t.Fatal(err)
	}
	return []byte(out.String())
}

var (
	commentedKey   = regexp.MustCompile(`^(\s*)# (airgap-site:[A-Za-z]+):(.*)$`)
	commentedField = regexp.MustCompile(`^(\s{4,})# ([A-Za-z]+: .*)$`)
)

// uncomment turns on every commented top-level key (with the "#   " lines under it) and every
// commented field inside an active block ("    # plainHTTP: true": a one-word key, indented
// under a key). It returns the text and the keys turned on.
func uncomment(text string) (string, []string) {
	lines := strings.Split(text, "\n")
	var on []string
	inBlock, blockIndent := false, ""
	for i, l := range lines {
		if m := commentedKey.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + m[2] + ":" + m[3]
			on = append(on, m[2])
			inBlock, blockIndent = true, m[1]
			continue
		}
		if inBlock {
			if rest, ok := strings.CutPrefix(l, blockIndent+"#   "); ok {
				lines[i] = blockIndent + "  " + rest
				continue
			}
			inBlock = false
		}
		if m := commentedField.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + m[2]
		}
	}
	return strings.Join(lines, "\n"), on
}

// bundleTrustNone trusts no key: a pin must not need a bundle.
var bundleTrustNone bundle.Trust

func readRepoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The checks above fail on drift: a field without its row or its place in a description, and
// a documented field that does not exist.
func TestDocsChecksCatchDrift(t *testing.T) {
	readme := string(readRepoFile(t, "README.md"))
	row := regexp.MustCompile("(?m)^\\| `registry.pushNodePort` .*\\n").FindString(readme)
	if row == "" {
		t.Fatal("no pushNodePort row")
	}
	fake := strings.Replace(readme, row, "| `talos.registry.scheme` | gone | none |\n", 1)
	got := strings.Join(readmeProblems(t, []byte(fake)), "\n")
	for _, want := range []string{"`registry.pushNodePort` has no row", "`talos.registry.scheme` is documented but does not exist"} {
		if !strings.Contains(got, want) {
			t.Errorf("README check misses %q:\n%s", want, got)
		}
	}
	pulumi := string(readRepoFile(t, "Pulumi.yaml"))
	fake = strings.Replace(pulumi, "pushNodePort (nodePort + 1), ", "", 1)
	fake = strings.Replace(fake, "Talos {manage,", "Talos {manage, registry {scheme, ca},", 1)
	got = strings.Join(pulumiYAMLProblems(t, []byte(fake)), "\n")
	for _, want := range []string{"registry.pushNodePort is not documented", "talos.registry is documented but does not exist"} {
		if !strings.Contains(got, want) {
			t.Errorf("Pulumi.yaml check misses %q:\n%s", want, got)
		}
	}
}
