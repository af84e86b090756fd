package runbook

import (
	"github.com/nwroll/nwroll/health"
)

// Effects are what the machine asks the executor to do, as data. The
// executor performs them in the order returned: Record, SaveBaseline and
// Finish are synchronous and expect no answer (a Record intent is written
// and fsync'd before the effect it names is started); every other effect
// is asynchronous and must be answered by exactly one event: a Snapshot for
// PollHealth, an EffectResult for the rest, carrying the effect's ID.
type Effect interface {
	Meta() EffectMeta
	Kind() string // also the Op of its journal records: "stop", "swap", "rollback"…
}

// EffectID identifies one effect; results name it.
type EffectID uint64

// EffectMeta is embedded in every effect.
type EffectMeta struct {
	ID   EffectID
	Step StepID // the step it belongs to ("" for none)
}

// Meta returns the effect's id and step.
func (m EffectMeta) Meta() EffectMeta { return m }

// ConnectNodes: ssh to every node in parallel, verify host keys, fetch and
// pin the CA (unless given), mint a token (unless given), map node ids.
// Read-only. An error refuses the run (exit 3).
type ConnectNodes struct {
	EffectMeta
	Nodes []string
}

// ReadNodeFiles: the sha256 of each node's binary and whether <binary>.new
// and <binary>.prev exist (with their sha256), whether the service is
// active, and its unit's state and restart count. Read-only. Answer: Data []NodeFiles, one per node asked.
type ReadNodeFiles struct {
	EffectMeta
	Nodes []string
}

// PollHealth: poll every node (health/api.Refresh). Answer: a Snapshot event.
type PollHealth struct {
	EffectMeta
	Nodes []string
}

// SaveBaseline: store the pre-check's snapshot (every node's /metrics) as
// the baseline, locally. Synchronous.
type SaveBaseline struct {
	EffectMeta
	Snap health.ClusterSnapshot
}

// SysdumpPurpose says why a sysdump is taken; it names the saved file.
type SysdumpPurpose string

// Sysdump purposes.
const (
	SysdumpBaseline SysdumpPurpose = "baseline" // after the pre-check
	SysdumpFailure  SysdumpPurpose = "failure"  // first thing on a gate failure, before anything changes
	SysdumpFinal    SysdumpPurpose = "final"    // after validation
	SysdumpManual   SysdumpPurpose = "manual"   // the operator asked
)

// TakeSysdump: a cluster sysdump (POST …/sysdump/cluster to any node), or,
// with PerNode, one node sysdump from each of Nodes because there is no
// leader. Read-only. Answer: Data SysdumpInfo.
type TakeSysdump struct {
	EffectMeta
	Purpose SysdumpPurpose
	PerNode bool
	Nodes   []string
}

// LockNodes: take the lock on every node. Resume: the journal says this
// run's lock is still held, so our own lock is taken over. An error
// (another holder) refuses the run (exit 3).
type LockNodes struct {
	EffectMeta
	Nodes  []string
	Resume bool
}

// UnlockNodes: release the lock on every node.
type UnlockNodes struct {
	EffectMeta
	Nodes []string
}

// NodeAction: one typed operation on one node (nodeops.go): stage the
// target to <binary>.new and verify it (SHA256 the target's), back up the
// data root (Backup says how; answer: Data BackupInfo), stop, keep .prev,
// swap .new in (SHA256 the target's), restore .prev (SHA256 the build
// expected back), start.
type NodeAction struct {
	EffectMeta
	Node   string
	Op     NodeOp
	SHA256 string
	Backup BackupMode
	// ChainLen > 1: this action is number ChainPos (from 0) of ChainLen
	// consecutive actions on Node in one batch, to be run in that order in
	// one command once every one of them is dispatched (chainOp).
	ChainPos, ChainLen int
}

// VerifyBackupSet: check that backup set Set exists on every node with
// matching checksums (--backup-reuse). Read-only.
type VerifyBackupSet struct {
	EffectMeta
	Set   string
	Nodes []string
}

// RecordKind is the kind of a journal record; the words are those of
// journal.Kind.
type RecordKind string

// Record kinds.
const (
	RecordIntent   RecordKind = "intent"   // an effect is about to run
	RecordOutcome  RecordKind = "outcome"  // an effect finished
	RecordEvent    RecordKind = "event"    // something observed or decided
	RecordApproval RecordKind = "approval" // an operator approved a step
)

// Record ops that the journal's progress summary interprets. Any other op
// is recorded and counted as completed or in flight, but has no special
// meaning.
const (
	RecordOpRun      = "run"      // intent at start of a run, outcome at its end
	RecordOpSwap     = "swap"     // OpSwap: node's binary replaced by the target: the node counts as upgraded
	RecordOpRollback = "rollback" // OpRestorePrev: node's .prev restored: the node no longer counts as upgraded
)

// Record is one journal line for the executor to write (and fsync) before
// going on. An intent is emitted right before the node-changing effect it
// names (For) and an outcome right after that effect's result.
type Record struct {
	EffectMeta
	Type       RecordKind
	For        EffectID // intent/outcome: the effect recorded
	Node       string
	Op         string // intent/outcome: the effect's Kind(); event: what happened ("gate-passed", "failure"…)
	Detail     string
	OK         bool   // outcome: success
	Error      string // outcome: why not
	By         string // approval: user@host
	GateValues []health.GateValue
	// Typed results, each on the outcome it belongs to.
	Backup   *BackupInfo // a backup's: the set, the archive, its sha256
	Build    *BuildRef   // a swap's: the build put in place
	ExitCode *int        // the run's end
	Cloud    *CloudRecord
}

// Finish ends the run with an exit code (design §1): 0 success, 1 failed
// and stopped, 3 pre-check refused, 4 rolled back. Synchronous; nothing
// follows it.
type Finish struct {
	EffectMeta
	ExitCode int
	Reason   string
}

// Kind implementations: the op words of the journal.
func (ConnectNodes) Kind() string    { return "connect" }
func (ReadNodeFiles) Kind() string   { return "read-files" }
func (PollHealth) Kind() string      { return "poll" }
func (SaveBaseline) Kind() string    { return "save-baseline" }
func (TakeSysdump) Kind() string     { return "sysdump" }
func (LockNodes) Kind() string       { return "lock" }
func (UnlockNodes) Kind() string     { return "unlock" }
func (e NodeAction) Kind() string    { return e.Op.String() }
func (VerifyBackupSet) Kind() string { return "verify-backup" }
func (Record) Kind() string          { return "record" }
func (Finish) Kind() string          { return "finish" }

// EffectNeedsResult reports whether the executor must answer e with an
// event (a Snapshot for PollHealth, an EffectResult otherwise).
func EffectNeedsResult(e Effect) bool {
	switch e.(type) {
	case Record, SaveBaseline, Finish:
		return false
	}
	return true
}

// EffectChangesNode reports whether e changes anything on a node; each
// such effect is preceded by a Record intent naming it.
func EffectChangesNode(e Effect) bool {
	switch e.(type) {
	case LockNodes, UnlockNodes, NodeAction:
		return true
	}
	return cloudChanges(e)
}

// EffectNode is the node an effect acts on (a NodeAction's, or the node a
// Record names), or "" for cluster-wide effects.
func EffectNode(e Effect) string {
	switch e := e.(type) {
	case NodeAction:
		return e.Node
	case Record:
		return e.Node
	case CloudRetire:
		return e.Node
	case RemoveMember:
		return e.Node
	case CloudCompleteLaunch:
		return e.Node
	}
	return ""
}

// NodeFiles is what ReadNodeFiles found on one node (and, for resume,
// each node's real state).
type NodeFiles struct {
	Node        string
	SHA256      string // of <binary>; "" if missing
	NewPresent  bool   // <binary>.new exists
	NewSHA256   string
	PrevPresent bool // <binary>.prev exists
	PrevSHA256  string
	Active      bool        // the unit is active (the inventory's is-active command)
	Unit        health.Unit // systemctl show -p ActiveState,SubState,NRestarts
}

// SysdumpInfo answers TakeSysdump.
type SysdumpInfo struct {
	Path    string
	Partial bool
}

// BackupInfo answers a NodeAction with OpBackup.
type BackupInfo struct {
	Set    string
	Path   string
	SHA256 string
}
