package pull

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	want := []string{"docker.io/library/nginx:1.27", "ghcr.io/org/app:2", "registry.k8s.io/pause:3.10"}
	for name, doc := range map[string]string{
		"list": `
- nginx:1.27
- image: ghcr.io/org/app:2
- image: factory/scanner:1
  build: {context: ./scanner, dockerfile: Dockerfile}
- registry.k8s.io/pause:3.10
- docker.io/library/nginx:1.27   # the same image again
`,
		"object": `
images:
  - docker.io/nginx:1.27
  - {image: ghcr.io/org/app:2}
  - image: factory/scanner:1
    build:
      context: ./scanner
  - image: registry.k8s.io/pause:3.10
    build: null
`,
	} {
		t.Run(name, func(t *testing.T) {
			list, err := ParseList([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(list.Refs) != fmt.Sprint(want) {
				t.Errorf("refs = %v, want %v", list.Refs, want)
			}
			if fmt.Sprint(list.Build) != "[docker.io/factory/scanner:1]" {
				t.Errorf("build entries = %v, want the scanner", list.Build)
			}
		})
	}
}

func TestParseListErrors(t *testing.T) {
	for doc, msg := range map[string]string{
		``:                             "no images",
		`images: []`:                   "no images",
		`nginx:1.27`:                   "want a list",
		`- ""`:                         "entry 1: image is required",
		`- nginx:1.27` + "\n- Bad Ref": `entry 2: parsing reference "Bad Ref"`,
		`- imge: nginx:1.27`:           `unknown field "imge"`,
		`imgs: [nginx]`:                `unknown field "imgs"`,
		"- {image: a:1, key: a.pub}\n- {image: a:1, key: b.pub}": "docker.io/library/a:1 is listed with key a.pub and with key b.pub",
		"- {image: a:1, key: a.pub, build: {context: .}}":        "built at the site: it cannot have a key",
	} {
		_, err := ParseList([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseList(%q) error = %v, want it to contain %q", doc, err, msg)
		}
	}
}

// A file with only site-built images is valid; there is just nothing to pull.
func TestParseListOnlyBuilds(t *testing.T) {
	list, err := ParseList([]byte("- {image: a:1, build: {context: .}}\n"))
	if err != nil || len(list.Refs) != 0 || fmt.Sprint(list.Build) != "[docker.io/library/a:1]" {
		t.Errorf("ParseList = %+v, %v; want one build entry", list, err)
	}
}

func TestParseListKeys(t *testing.T) {
	list, err := ParseList([]byte(`
- {image: vendor/app:1, key: keys/vendor.pub}
- vendor/app:1                                 # again, without: the key stays
- {image: vendor/app:1, key: keys/vendor.pub}  # again, the same key
- nginx:1.27
`))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(list.Refs) != "[docker.io/vendor/app:1 docker.io/library/nginx:1.27]" ||
		fmt.Sprint(list.Keys) != "map[docker.io/vendor/app:1:keys/vendor.pub]" {
		t.Errorf("ParseList = %+v", list)
	}
}
