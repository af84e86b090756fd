package runbook

import (
	"fmt"
	"strings"
)

// Summary is how a run leaves the cluster, derived from the machine: what
// each node runs, what is left beside its binary, where its backup is, and
// the sysdumps the run saved. The console's end screen and the headless
// runner's last lines both print it (Lines).
type Summary struct {
	Nodes    []NodeSummary
	Sysdumps []SavedSysdump // in the order the run takes them
	Cloud    bool           // the nodes are a group's instances: images, not binaries
}

// NodeSummary is one node as a run leaves it.
type NodeSummary struct {
	Name    string
	Runs    BuildRef   // the build in place
	Stopped bool       // this run may have left it stopped
	Staged  BuildRef   // what <binary>.new holds, if the run left it there
	Kept    BuildRef   // what <binary>.prev holds, if the run left it there
	Backup  BackupInfo // the backup this run took of it, if any
	// Cloud mode: launched by this run (to replace Replaces), or retired.
	Launched bool
	Replaces string
	Retired  bool
}

// SavedSysdump is a sysdump the run saved, where, and why.
type SavedSysdump struct {
	Purpose SysdumpPurpose
	Path    string
}

// sysdumpOrder is the order a run takes its sysdumps in.
var sysdumpOrder = []SysdumpPurpose{SysdumpBaseline, SysdumpFailure, SysdumpManual, SysdumpFinal}

// Summary is the machine's nodes and sysdumps as they stand now.
func (m Machine) Summary() Summary {
	s := Summary{Cloud: m.Plan.Cloud != nil}
	for _, n := range m.Nodes {
		ns := NodeSummary{Name: n.Name, Runs: n.Binary, Stopped: n.Down, Backup: n.Backup, Launched: n.Launched, Replaces: n.Replaces, Retired: n.Retired}
		if n.Staged && n.Binary.SHA256 != m.Plan.Target.SHA256 {
			ns.Staged = m.Plan.Target
		}
		if n.PrevKept {
			ns.Kept = n.Previous
		}
		if o := m.Plan.Options; ns.Backup.Path == "" && o.Backup == BackupReuse {
			ns.Backup.Set = o.BackupSet
		}
		s.Nodes = append(s.Nodes, ns)
	}
	for _, p := range sysdumpOrder {
		if path := m.Sysdumps[p]; path != "" {
			s.Sysdumps = append(s.Sysdumps, SavedSysdump{Purpose: p, Path: path})
		}
	}
	return s
}

// cloudLine is an instance as a cloud run leaves it:
//
//	i-0abc: retired (it ran 1.0.0, image ami-0old)
//	i-0def: runs 1.1.0 (image ami-0new), launched by this run to replace i-0abc
func (n NodeSummary) cloudLine() string {
	img := ""
	if n.Runs.Image != "" {
		img = " (image " + n.Runs.Image + ")"
	}
	switch {
	case n.Retired && n.Runs.Image != "":
		return "retired (it ran " + n.Runs.Label() + ", image " + n.Runs.Image + ")"
	case n.Retired:
		return "retired (it ran " + n.Runs.Label() + ")"
	case n.Launched && n.Replaces != "":
		return "runs " + n.Runs.Label() + img + ", launched by this run to replace " + n.Replaces
	case n.Launched:
		return "runs " + n.Runs.Label() + img + ", launched during this run"
	}
	return "runs " + n.Runs.Label() + img
}

// Lines are the summary as people read it, one line per node and one for
// the sysdumps:
//
//	fw-a: runs 1.0.0; nothing left staged; backup /var/backups/neuwerk/fw-a.tar.gz (set 20260404-1)
//	fw-b: runs 1.0.0; left staged: 1.1.0 in .new; no backup by this run
//	sysdumps: baseline /state/lab/sysdumps/…-baseline.tar.gz; failure /state/…
func (s Summary) Lines() []string {
	var out []string
	for _, n := range s.Nodes {
		if s.Cloud {
			out = append(out, n.Name+": "+n.cloudLine())
			continue
		}
		parts := []string{"runs " + n.Runs.Label()}
		if n.Stopped {
			parts[0] += " (may be stopped: start it by hand)"
		}
		if n.Staged.SHA256 != "" {
			parts = append(parts, "left staged: "+n.Staged.Label()+" in .new")
		} else {
			parts = append(parts, "nothing left staged")
		}
		if n.Kept.SHA256 != "" {
			parts = append(parts, "kept: "+n.Kept.Label()+" in .prev")
		}
		switch b := n.Backup; {
		case b.Path != "" && b.Set != "":
			parts = append(parts, fmt.Sprintf("backup %s (set %s)", b.Path, b.Set))
		case b.Path != "":
			parts = append(parts, "backup "+b.Path)
		case b.Set != "":
			parts = append(parts, "backup set "+b.Set+" (reused)")
		default:
			parts = append(parts, "no backup by this run")
		}
		out = append(out, n.Name+": "+strings.Join(parts, "; "))
	}
	var dumps []string
	for _, d := range s.Sysdumps {
		dumps = append(dumps, string(d.Purpose)+" "+d.Path)
	}
	if len(dumps) == 0 {
		dumps = []string{"none"}
	}
	return append(out, "sysdumps: "+strings.Join(dumps, "; "))
}
