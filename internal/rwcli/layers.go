package rwcli

import (
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/rwanda-go/rwanda/registry"
)

var layersCmd = &command{
	name: "layers", args: "[NAME...]",
	summary: `List the protocol layers a QoS string may name, with their parameters,
kinds, defaults and the bounds receivers accept, and the profiles (names
for whole stacks). With NAMEs, only those layers or profiles.`,
	setup: func(fs *flag.FlagSet) runner {
		asJSON := fs.Bool("json", false, "print the registry's descriptions as JSON")
		return func(e *env, args []string) error {
			reg := registry.Default()
			layers, profiles := reg.Layers(), reg.Profiles()
			if len(args) > 0 {
				known := map[string]bool{}
				layers = slices.DeleteFunc(layers, func(l registry.Info) bool { known[l.Name] = slices.Contains(args, l.Name); return !known[l.Name] })
				profiles = slices.DeleteFunc(profiles, func(p registry.Profile) bool { known[p.Name] = slices.Contains(args, p.Name); return !known[p.Name] })
				for _, a := range args {
					if !known[a] {
						var names []string
						for _, l := range reg.Layers() {
							names = append(names, l.Name)
						}
						for _, p := range reg.Profiles() {
							names = append(names, p.Name)
						}
						return fmt.Errorf("no layer or profile %q (there are: %s)", a, strings.Join(names, ", "))
					}
				}
			}
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Profiles []registry.Profile
					Layers   []registry.Info
				}{profiles, layers})
			}
			w := e.stdout
			if len(profiles) > 0 {
				fmt.Fprintln(w, "profiles (a name for a whole stack; usable anywhere a layer is)")
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				for _, p := range profiles {
					q := p.QoS
					if q == "" {
						q = "(empty)"
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Name, q, p.Doc)
				}
				tw.Flush()
				fmt.Fprintln(w)
			}
			if len(layers) > 0 {
				fmt.Fprintln(w, "layers (application side first in a QoS string: frag(mtu=1200)/window(size=256)/order)")
			}
			for _, l := range layers {
				fmt.Fprintf(w, "\n%s — %s\n", l.Name, l.Summary)
				if caps := capabilities(l); caps != "" {
					fmt.Fprintf(w, "  %s\n", caps)
				}
				if len(l.Params) == 0 {
					fmt.Fprintln(w, "  no parameters")
					continue
				}
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "  PARAMETER\tKIND\tDEFAULT\tRECEIVERS ACCEPT\tWHAT IT DOES")
				for _, p := range l.Params {
					def := p.Default
					if def == "" {
						def = "-"
					}
					kind := fmt.Sprint(p.Kind)
					if len(p.Choices) > 0 {
						kind = strings.Join(p.Choices, "|")
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, kind, def, bounds(p), p.Doc)
				}
				tw.Flush()
			}
			return nil
		}
	},
}

func bounds(p registry.ParamInfo) string {
	switch {
	case p.Min != "" && p.Max != "":
		return p.Min + ".." + p.Max
	case p.Min != "":
		return "≥ " + p.Min
	case p.Max != "":
		return "≤ " + p.Max
	}
	return "any"
}

func capabilities(l registry.Info) string {
	var parts []string
	if len(l.Capabilities.Provides) > 0 {
		var s []string
		for _, c := range l.Capabilities.Provides {
			s = append(s, fmt.Sprint(c))
		}
		parts = append(parts, "provides "+strings.Join(s, ", "))
	}
	if len(l.Capabilities.Requires) > 0 {
		var s []string
		for _, r := range l.Capabilities.Requires {
			s = append(s, fmt.Sprint(r))
		}
		parts = append(parts, "requires "+strings.Join(s, ", "))
	}
	return strings.Join(parts, "; ")
}
