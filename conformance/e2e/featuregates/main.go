// Command featuregates prints every feature gate kube-apiserver knows, taken from the gate
// kube-apiserver itself builds: the kube component's gate in the ComponentGlobalsRegistry of
// options.NewServerRunOptions (utilfeature.DefaultMutableFeatureGate, where every package the
// kube-apiserver command links registers its gates), at emulation version 1.33.
//
// One line per gate, sorted by name: NAME<TAB>DEFAULT<TAB>PRERELEASE<TAB>LOCKED, PRERELEASE
// being ALPHA, BETA, GA, DEPRECATED or PRE-ALPHA (known, but not available at 1.33).
// scripts/gen_feature_gates.sh turns this into src/config/feature_gates_v133.rs.
package main

import (
	"fmt"
	"os"
	"sort"

	"k8s.io/apimachinery/pkg/util/version"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

func main() {
	// Building the command registers what the binary registers before it parses flags.
	_ = app.NewAPIServerCommand()
	s := options.NewServerRunOptions()
	gate, ok := s.GenericServerRunOptions.ComponentGlobalsRegistry.
		FeatureGateFor(basecompatibility.DefaultKubeComponent).(featuregate.MutableVersionedFeatureGate)
	if !ok {
		fmt.Fprintln(os.Stderr, "featuregates: the kube component's feature gate is not versioned")
		os.Exit(1)
	}
	if err := gate.SetEmulationVersion(version.MajorMinor(1, 33)); err != nil {
		fmt.Fprintln(os.Stderr, "featuregates:", err)
		os.Exit(1)
	}
	// GetAll leaves out the gates that are PreAlpha at the emulation version; list them too
	// (upstream refuses setting them, with its own message).
	available := gate.GetAll()
	var names []string
	for name := range gate.GetAllVersioned() {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, name := range names {
		stage, def, locked := string(featuregate.PreAlpha), false, false
		if spec, ok := available[featuregate.Feature(name)]; ok {
			stage, def, locked = string(spec.PreRelease), spec.Default, spec.LockToDefault
			if spec.PreRelease == featuregate.GA {
				stage = "GA" // featuregate.GA is ""
			}
		}
		fmt.Printf("%s\t%t\t%s\t%t\n", name, def, stage, locked)
	}
}
