package runbook

// Reuse a backup set (--backup-reuse SET): check it is on every node,
// intact, instead of taking a new one.
func backupReuseStep(c stepCtx) stepDef {
	return stepDef{Title: "Reuse backup set " + c.opts().BackupSet, Phase: PhaseBackup, Ops: []op{verifyBackupOp{}}}
}
