package runbook

// EffectNode is the node an effect acts on (StageBinary, BackupNode,
// StopService, KeepPrev, SwapBinary, RestorePrev, StartService, and the
// node a Record names), or "" for cluster-wide effects. Executors and test
// fakes use it to route and label effects.
func EffectNode(e Effect) string { return effectNode(e) }
