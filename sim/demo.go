package sim

import (
	"fmt"
	"time"
)

// DemoElectionTimeout is the Raft election timeout of `nwroll demo`'s
// cluster (Options.DemoElectionTimeout): elections start after a random
// 0.5–1 s without a leader instead of Neuwerk's 2–4 s, so the demo's
// cluster is up in about a second. It is still 10 of the leader's
// heartbeats, so a busy machine does not cause elections of its own.
const DemoElectionTimeout = 500 * time.Millisecond

// DemoNote is what the console's header says about a demo's cluster, short
// enough to fit at 80 columns beside the first dialog's phase; the demo's
// start-up line and help give the figures (DemoLine).
const DemoNote = "demo: short election timeouts"

// DemoLine says how a demo's cluster with this election timeout differs
// from Neuwerk's: "Raft elections after 500ms–1s without a leader, Neuwerk's
// take 2–4s".
func DemoLine(electionTimeout time.Duration) string {
	return fmt.Sprintf("Raft elections after %v–%v without a leader, Neuwerk's take 2–4s", electionTimeout, 2*electionTimeout)
}
