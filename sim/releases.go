package sim

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nwroll/nwroll/rollout/release"
)

// ReleaseSpec is one of the simulator's releases. Faults travel with a
// release, as real bugs do (docs/sim.md).
type ReleaseSpec struct {
	Version string
	Fault   string // none | never-ready | crashloop | stall | failclosed | never-joins
	About   string
}

// Releases are built into DIR/releases/<version>/ by `sim up`.
var Releases = []ReleaseSpec{
	{"1.0.0", "none", "good; installed on every node by sim up"},
	{"1.1.0", "none", "good"},
	{"1.1.1-never-ready", "never-ready", "policy_replication never becomes ok"},
	{"1.1.1-crashloop", "crashloop", "exits 2 a few seconds after start, as a failed join does"},
	{"1.1.1-stall", "stall", "becomes ready, then stops applying the Raft log"},
	{"1.1.1-never-joins", "never-joins", "never runs the cluster join: never a member, /ready's cluster check never passes"},
	{"1.1.1-failclosed", "failclosed", "ready and caught up, then 3 s later TLS intercept fails closed: svc_fail_closed_total grows"},
}

// DefaultRelease is installed on every node unless Options.Release says otherwise.
const DefaultRelease = "1.0.0"

func releaseSpec(version string) (ReleaseSpec, bool) {
	for _, r := range Releases {
		if r.Version == version {
			return r, true
		}
	}
	return ReleaseSpec{}, false
}

// KnownRelease reports whether version is one of the simulator's releases.
func KnownRelease(version string) bool {
	_, ok := releaseSpec(version)
	return ok
}

// ReleaseVersions lists the simulator's releases, comma-separated.
func ReleaseVersions() string {
	vs := make([]string, len(Releases))
	for i, r := range Releases {
		vs[i] = r.Version
	}
	return strings.Join(vs, ", ")
}

// writeRelease builds DIR/releases/<version>/{neuwerk,manifest.json,SHA256SUMS}.
func writeRelease(dir, simExe string, r ReleaseSpec) (ReleaseInfo, error) {
	rdir := filepath.Join(dir, "releases", r.Version)
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return ReleaseInfo{}, err
	}
	script := []byte(releaseScript(simExe, r.Version, r.Fault))
	bin := filepath.Join(rdir, "neuwerk")
	if err := os.WriteFile(bin, script, 0o755); err != nil {
		return ReleaseInfo{}, err
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return ReleaseInfo{}, err
	}
	sum := sha256.Sum256(script)
	sha := hex.EncodeToString(sum[:])
	rev := sha1.Sum([]byte("neuwerk-sim " + r.Version))
	m := release.Manifest{ // manifest.json, in Neuwerk's release-manifest shape
		ReleaseVersion: r.Version,
		GitRevision:    hex.EncodeToString(rev[:]),
		Artifacts:      []release.Artifact{{Path: "neuwerk", Size: int64(len(script)), SHA256: sha}},
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return ReleaseInfo{}, err
	}
	if err := os.WriteFile(filepath.Join(rdir, "manifest.json"), append(mb, '\n'), 0o644); err != nil {
		return ReleaseInfo{}, err
	}
	if err := os.WriteFile(filepath.Join(rdir, "SHA256SUMS"), []byte(sha+"  neuwerk\n"), 0o644); err != nil {
		return ReleaseInfo{}, err
	}
	return ReleaseInfo{Dir: rdir, Binary: bin, SHA256: sha, Fault: r.Fault}, nil
}

// copyFile copies src to dst with mode perm (replacing dst by rename).
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return copyAtomic(dst, in, perm)
}

// releaseOf names the release whose binary has sha, or "unknown (sha256 abcdef012345)".
func (in *Info) releaseOf(sha string) string {
	for v, r := range in.Releases {
		if r.SHA256 == sha {
			return v
		}
	}
	if len(sha) > 12 {
		sha = sha[:12]
	}
	return fmt.Sprintf("unknown (sha256 %s)", sha)
}
