package runbook

import (
	"fmt"
	"strings"
)

// Unknown build: a node runs a binary that matches no release manifest (a
// hotfix, say). Its upgrade keeps that binary as <binary>.prev, so a
// rollback would restore that same build: the operator accepts it first.
// The console asks; --yes refuses unless --allow-unknown-build. Read-only
// and before the lock: declining or refusing changes nothing on any node.
// The runbook has this step only when the plan saw such a node.
func unknownBuildStep(c stepCtx) stepDef {
	nodes := unknownBuilds(c.m)
	d := stepDef{Phase: PhaseIdentify, Refuses: true}
	switch len(nodes) {
	case 0:
		d.Title, d.Skip = "Accept unknown builds", "every node runs a known release"
		return d
	case 1:
		d.Title = fmt.Sprintf("Accept %s's unknown build (sha256 %s)", nodes[0].Name, ShortSHA(nodes[0].Binary.SHA256))
	default:
		d.Title = "Accept the unknown builds on " + strings.Join(nodeNames(nodes), ", ")
	}
	var does []string
	for _, n := range nodes {
		does = append(does, fmt.Sprintf("%s runs %s: its binary matches no release manifest nwroll knows", n.Name, n.Binary.Label()))
	}
	keeps := "upgrading " + nodes[0].Name + " keeps that build"
	if len(nodes) > 1 {
		keeps = "upgrading each keeps its build"
	}
	does = append(does, fmt.Sprintf("%s as %s.prev: a rollback of %s restores that same build, not a known release",
		keeps, c.opts().Binary, strings.Join(nodeNames(nodes), ", ")))
	if c.opts().AllowUnknownBuild {
		does = append(does, "--yes accepts it: --allow-unknown-build was given")
	} else {
		does = append(does, "--yes refuses here unless --allow-unknown-build is given (check the build first), or its release's directory is in --releases")
	}
	d.Ops = append(retryNote(c), noteOp(does), approveOp{headless: acceptUnknownBuilds})
	return d
}

// acceptUnknownBuilds is the --yes answer: accepted with
// --allow-unknown-build, refused without it.
func acceptUnknownBuilds(c stepCtx) (by, refusal string) {
	if c.opts().AllowUnknownBuild {
		return c.m.headlessApprover() + " with --allow-unknown-build", ""
	}
	nodes := unknownBuilds(c.m)
	var runs []string
	for _, n := range nodes {
		runs = append(runs, fmt.Sprintf("%s runs an unknown build (sha256 %s)", n.Name, ShortSHA(n.Binary.SHA256)))
	}
	return "", fmt.Sprintf("%s, matching no release manifest: a rollback would restore that same build. "+
		"Check the build, then run again with --allow-unknown-build, or put its release's directory in --releases so it is known",
		strings.Join(runs, " and "))
}

// unknownBuilds are the nodes that run a build matching no release
// manifest, as the machine sees them now.
func unknownBuilds(m *Machine) []NodeState {
	var out []NodeState
	for _, n := range m.Nodes {
		if n.Binary.SHA256 != "" && !n.Binary.Known() {
			out = append(out, n)
		}
	}
	return out
}

// planHasUnknownBuild reports whether the plan saw a node on a build that
// matches no release manifest: its runbook then has the step.
func planHasUnknownBuild(nodes []PlanNode) bool {
	for _, n := range nodes {
		if n.Current.SHA256 != "" && !n.Current.Known() {
			return true
		}
	}
	return false
}

func nodeNames(nodes []NodeState) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}
