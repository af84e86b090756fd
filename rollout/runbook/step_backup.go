package runbook

import "fmt"

// Back up one node. Quiesced (the default): stop it, tar its data root,
// start it, and pass the restart gates, approved like an upgrade since it
// stops the node. Live: tar while it runs.
func backupStep(c stepCtx) stepDef {
	o := c.opts()
	d := stepDef{Title: fmt.Sprintf("Back up %s (%s), %s", c.node.Name, c.role(), o.Backup), Phase: PhaseBackup,
		Busy: NodeBackingUp, Done: NodeBackedUp}
	if o.Backup == BackupLive {
		d.Ops = []op{nodeOp(OpBackup)}
		return d
	}
	d.Ops = []op{quorumOp{}, approveOp{}, quorumOp{final: true},
		chainOp{[]NodeOp{OpStop, OpBackup, OpStart}},
		restartGate(c, c.node.Binary)}
	return d
}
