// Command zeroobjects prints, for every built-in kind client-go knows, the JSON of its zero
// value (`json.Marshal(&T{})`): the "live object" upstream's field manager compares a create
// against. Capstan embeds the output (src/patch/zero_objects.json); regenerate with
// `cd tests/clients/go && go run ./zeroobjects > ../../../src/patch/zero_objects.json`.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	out := map[string]json.RawMessage{}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == "__internal" || strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") {
			continue
		}
		obj, err := scheme.Scheme.New(gvk)
		if err != nil {
			continue
		}
		b, err := json.Marshal(obj)
		if err != nil {
			fmt.Fprintln(os.Stderr, gvk, err)
			os.Exit(1)
		}
		key := gvk.Version + "/" + gvk.Kind
		if gvk.Group != "" {
			key = gvk.Group + "/" + key
		}
		out[key] = b
	}
	keys := make([]string, 0, len(out))
	for k := range out {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println("{")
	for i, k := range keys {
		sep := ","
		if i == len(keys)-1 {
			sep = ""
		}
		fmt.Printf("  %q: %s%s\n", k, out[k], sep)
	}
	fmt.Println("}")
}
