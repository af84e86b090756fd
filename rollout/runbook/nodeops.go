package runbook

import "fmt"

// NodeOp is an operation on one node. Its word is also the journal's op
// ("stop", "swap", "rollback"…). What each does to the machine's picture
// of the node is written here, once, whatever step runs it.
type NodeOp int

// Node operations.
const (
	OpStage       NodeOp = iota + 1 // upload the target to <binary>.new and verify it
	OpBackup                        // tar the data root to the backup dir (0600), record its sha256
	OpStop                          // stop the unit (SIGTERM, drain)
	OpKeepPrev                      // copy the binary in place to <binary>.prev
	OpSwap                          // rename <binary>.new over the binary (atomic)
	OpRestorePrev                   // rename <binary>.prev over the binary (atomic)
	OpStart                         // start the unit
	OpUnstage                       // remove <binary>.new (the target, never put in place)
)

type nodeOpDef struct {
	word string
	busy NodeStatus // the node's status while it runs
	line func(c stepCtx) string
	// ok is what a success does to the node; data is the effect's answer.
	ok func(m *Machine, n *NodeState, data any)
}

var nodeOps = map[NodeOp]nodeOpDef{
	OpStage: {word: "stage", busy: NodeStaging,
		line: func(c stepCtx) string { return "upload the target to " + c.opts().Binary + ".new" },
		ok:   func(_ *Machine, n *NodeState, _ any) { n.Staged = true }},
	OpBackup: {word: "backup", busy: NodeBackingUp,
		line: func(c stepCtx) string {
			o := c.opts()
			if o.Backup == BackupLive {
				return "tar " + o.DataRoot + " to " + o.BackupDir + " (mode 0600) while running, and record its sha256"
			}
			return "tar " + o.DataRoot + " to " + o.BackupDir + " (mode 0600) and record its sha256"
		},
		ok: func(_ *Machine, n *NodeState, data any) {
			if b, ok := data.(BackupInfo); ok {
				n.Backup = b
			}
		}},
	OpStop: {word: "stop", busy: NodeStopping,
		line: func(c stepCtx) string { return "stop " + c.opts().Unit }},
	OpKeepPrev: {word: "keep-prev", busy: NodeSwapping,
		line: func(c stepCtx) string { return "keep the running binary as " + c.opts().Binary + ".prev" },
		ok:   func(_ *Machine, n *NodeState, _ any) { n.PrevKept = true }},
	OpSwap: {word: RecordOpSwap, busy: NodeSwapping,
		line: func(c stepCtx) string {
			return "rename " + c.opts().Binary + ".new over " + c.opts().Binary + " (atomic)"
		},
		ok: func(m *Machine, n *NodeState, _ any) {
			n.Binary, n.Swapped, n.Staged = m.Plan.Target, true, false
			m.swapSeq++
			n.SwapSeq = m.swapSeq
		}},
	OpRestorePrev: {word: RecordOpRollback, busy: NodeRollingBack,
		line: func(c stepCtx) string {
			return "rename " + c.opts().Binary + ".prev over " + c.opts().Binary + " (atomic): back to " + c.node.Previous.Label()
		},
		ok: func(_ *Machine, n *NodeState, _ any) { n.Binary, n.Swapped, n.PrevKept = n.Previous, false, false }},
	OpStart: {word: "start", busy: NodeStarting,
		line: func(c stepCtx) string { return "start " + c.opts().Unit },
		ok:   func(_ *Machine, n *NodeState, _ any) { n.Down, n.StartUnsure = false, false }},
	OpUnstage: {word: "unstage",
		line: func(c stepCtx) string {
			return "remove " + c.opts().Binary + ".new, the target staged and never put in place"
		},
		ok: func(m *Machine, n *NodeState, _ any) {
			n.Staged = false
			if n.Status == NodeStaged {
				m.setNode(n, NodePending) // back where it started
			}
		}},
}

func (o NodeOp) def() nodeOpDef { return nodeOps[o] }

func (o NodeOp) line(c stepCtx) string { return o.def().line(c) }

// String is the op's journal word.
func (o NodeOp) String() string {
	if d, ok := nodeOps[o]; ok {
		return d.word
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// StopsOrStarts: a failure of these may leave the node down either way.
func (o NodeOp) stopsOrStarts() bool { return o == OpStop || o == OpStart }
