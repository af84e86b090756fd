package runbook

import (
	"fmt"
	"slices"
)

// The catalogue: the step kinds, the runbook's order, written once, and
// which definition each kind has. A new step is a file of its own with its
// definition (step_*.go), and its kind and place here.

// StepKind says which definition a step has (catalogue.go).
type StepKind int

// Step kinds.
const (
	StepConnect StepKind = iota + 1
	StepIdentify
	StepPreCheck
	StepLock
	StepStage
	StepBackup       // one node: quiesced (stop, tar, start, gates) or live (tar while running)
	StepBackupReuse  // verify that an existing backup set is on every node
	StepUpgrade      // one node: the follower or the leader definition, by its role now
	StepValidate     // every node ready, caught up and on target; final sysdump
	StepRelease      // release the lock
	StepRecover      // resume: start a node found stopped (or gate one found unverified)
	StepRollback     // one node: stop, restore .prev, start, gates
	StepBake         // --bake: keep every gate on the first upgraded node for a while
	StepUnknownBuild // approve nodes whose build matches no release manifest

	// Cloud mode (image-first, step_cloud.go).
	StepGroupCheck    // the group's pre-check: stable, room to surge, hook, image, template version, membership
	StepGroupPrepare  // a template version with the target image; the group's movers frozen
	StepReplace       // one node: surge a new instance, join gate, retire the old one, post gate
	StepGroupValidate // every instance on the target image, N voters, capacity back to N
	StepGroupThaw     // resume exactly the movers the prepare froze; how a cloud run ends
	StepUnsurge       // one node: retire an instance this run launched that replaced nothing
	StepGroupRevert   // rollback: the group back on the template version it had
	StepReplaceBack   // rollback: one new node replaced by one on the previous image
	StepObserve       // --observe: watch the operator's instance refresh with the gates
	StepObserveEnd    // --observe: an abort cancels the refresh; how an observe run ends

	StepPauseNode   // --pause-before NODE: hold the run before that node's upgrade
	StepPauseLeader // --pause-before leader: hold the run before the leader's upgrade
)

// rollbackKinds are the steps a rollback runs; endKinds the step that ends
// a run (and runs as its end after a failure or an abort).
var (
	rollbackKinds = []StepKind{StepRollback, StepUnsurge, StepGroupRevert, StepReplaceBack}
	endKinds      = []StepKind{StepRelease, StepGroupThaw, StepObserveEnd}
)

func isRollbackKind(k StepKind) bool { return slices.Contains(rollbackKinds, k) }
func isEndKind(k StepKind) bool      { return slices.Contains(endKinds, k) }

var stepKindNames = map[StepKind]string{
	StepConnect: "connect", StepIdentify: "identify", StepPreCheck: "precheck", StepLock: "lock",
	StepStage: "stage", StepBackup: "backup", StepBackupReuse: "backup-reuse", StepUpgrade: "upgrade",
	StepValidate: "validate", StepRelease: "release", StepRecover: "recover", StepRollback: "rollback",
	StepBake: "bake", StepUnknownBuild: "unknown-build",
	StepGroupCheck: "group-check", StepGroupPrepare: "group-prepare", StepReplace: "replace",
	StepGroupValidate: "group-validate", StepGroupThaw: "group-thaw",
	StepUnsurge: "unsurge", StepGroupRevert: "group-revert", StepReplaceBack: "replace-back",
	StepObserve: "observe", StepObserveEnd: "observe-end",
	StepPauseNode: "pause-before", StepPauseLeader: "pause-before-leader",
}

func (k StepKind) String() string {
	if s, ok := stepKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("step(%d)", int(k))
}

// runbook lays out the steps of a plan in order. Node steps run followers
// first in inventory order and the leader last; the machine keeps the
// leader last as leadership moves.
func runbook(p Plan) []Step {
	leader := ""
	if l, ok := p.Leader(); ok {
		leader = l.Name
	}
	order := nodeOrder(p.Nodes, leader)
	if p.Cloud != nil {
		return cloudRunbook(p, order)
	}
	var steps []Step
	add := func(kind StepKind, node string) {
		steps = append(steps, Step{ID: StepIDFor(kind, node), Index: len(steps) + 1, Kind: kind, Node: node})
	}
	add(StepConnect, "")
	add(StepIdentify, "")
	if planHasUnknownBuild(p.Nodes) {
		add(StepUnknownBuild, "")
	}
	add(StepPreCheck, "")
	add(StepLock, "")
	add(StepStage, "")
	if p.Options.Backup == BackupReuse {
		add(StepBackupReuse, "")
	} else {
		for _, n := range order {
			add(StepBackup, n.Name)
		}
	}
	for i, n := range order {
		add(StepUpgrade, n.Name)
		if i == 0 && p.Options.Bake > 0 {
			add(StepBake, "")
		}
	}
	add(StepValidate, "")
	add(StepRelease, "")
	return withPauses(steps, p.Options.PauseBefore)
}

// leaderLastKinds are the kinds whose steps take the leader last: a node
// that becomes the leader before its step changed anything waits until the
// others of its kind are done.
var leaderLastKinds = []StepKind{StepBackup, StepUpgrade, StepReplace, StepReplaceBack}

// definitions maps a step kind to its definition.
var definitions = map[StepKind]func(c stepCtx) stepDef{
	StepConnect:     connectStep,
	StepIdentify:    identifyStep,
	StepPreCheck:    preCheckStep,
	StepLock:        lockStep,
	StepStage:       stageStep,
	StepBackup:      backupStep,
	StepBackupReuse: backupReuseStep,
	StepUpgrade: func(c stepCtx) stepDef {
		if c.leads() {
			return upgradeLeaderStep(c)
		}
		return upgradeFollowerStep(c)
	},
	StepValidate:     validateStep,
	StepRelease:      releaseStep,
	StepRecover:      recoverStep,
	StepRollback:     rollbackStep,
	StepBake:         bakeStep,
	StepUnknownBuild: unknownBuildStep,

	StepGroupCheck:    groupCheckStep,
	StepGroupPrepare:  groupPrepareStep,
	StepReplace:       replaceStep,
	StepGroupValidate: groupValidateStep,
	StepGroupThaw:     groupThawStep,
	StepUnsurge:       unsurgeStep,
	StepGroupRevert:   groupRevertStep,
	StepReplaceBack:   replaceStep,
	StepObserve:       observeStep,
	StepObserveEnd:    observeEndStep,
	StepPauseNode:     pauseStep,
	StepPauseLeader:   pauseStep,
}

// define is the step's definition as it stands now.
func (m *Machine) define(s *StepState) stepDef {
	c := stepCtx{m: m, step: s, node: m.node(s.Node)}
	if s.Node != "" && c.node == nil {
		return stepDef{Title: string(s.ID), Skip: "node " + s.Node + " is not in the plan"}
	}
	return definitions[s.Kind](c)
}
