package cli

import "runtime/debug"

// Set at build time by the Dockerfile (and anyone packaging a release):
//
//	go build -ldflags "-X github.com/orb-sync/orb-sync/cmd/orb-sync/internal/cli.version=v1.2.3
//	  -X github.com/orb-sync/orb-sync/cmd/orb-sync/internal/cli.commit=$(git rev-parse HEAD)"
//
// Unset, they fall back to what the Go toolchain stamped into the binary
// (module version; VCS revision when built from a checkout).
var (
	version string
	commit  string
)

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
