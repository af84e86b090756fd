package runbook

import "fmt"

// Upgrade the leader, last: as a follower's upgrade, but stopping it
// starts an election (the leader does not hand off, facts §0.7), so its
// restart gates also wait for a new leader and a stable leadership.
func upgradeLeaderStep(c stepCtx) stepDef {
	return upgradeStep(c, PhaseLeader, []string{
		fmt.Sprintf("expect 502/503 on leader-proxied calls while a new leader is elected (tolerated for %s)", c.opts().ElectionWindow),
	})
}
