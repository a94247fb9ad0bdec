package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersion is what a netctl binary knows of its own build, from the
// build info the go command writes into it: no version is kept by hand.
type buildVersion struct {
	// Module is the module version: v1.2.3 for 'go install …@v1.2.3', a
	// pseudo-version (v0.0.0-20261129170055-5538500ed9fe) for a build in a
	// git checkout, or (devel) when the go command knew neither.
	Module string
	// Revision, Time and Modified describe the commit built, when the
	// go command stamped it (-buildvcs, on by default in a git checkout).
	Revision string
	Time     string
	Modified bool
	// Go is the toolchain that built netctl.
	Go string
}

// readBuildVersion reads the running binary's build info.
func readBuildVersion() buildVersion {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(bi)
}

// versionOf extracts the version from build info; nil (a binary built
// without module support) gives (devel).
func versionOf(bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Module: "(devel)"}
	if bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Module = bi.Main.Version
	}
	v.Go = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is what 'netctl version' and 'netctl --version' print:
//
//	netctl v1.2.3
//	revision 5538500ed9fe9ef19df0464c391657ef4a8fc03b (2026-11-29T17:00:55Z, modified)
//	go1.26.8
func (v buildVersion) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "netctl %s\n", v.Module)
	if v.Revision == "" {
		b.WriteString("revision unknown (built without VCS information)\n")
	} else {
		var about []string
		if v.Time != "" {
			about = append(about, v.Time)
		}
		if v.Modified {
			about = append(about, "modified")
		}
		fmt.Fprintf(&b, "revision %s", v.Revision)
		if len(about) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(about, ", "))
		}
		b.WriteString("\n")
	}
	if v.Go != "" {
		fmt.Fprintf(&b, "%s\n", v.Go)
	}
	return b.String()
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print netctl's version and the revision it was built from",
		Long: `Print the module version, the VCS revision (with its commit time, and
"modified" for a build with uncommitted changes) and the Go version, as the go
command recorded them in the binary. The same as 'netctl --version'. JSON
documents carry the module version as "netctl_version".`,
		Example: `  netctl version
  netctl --version`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(c.OutOrStdout(), readBuildVersion())
			return err
		},
	}
}
