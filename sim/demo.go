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

// DemoNote says on screen how a demo's cluster differs from Neuwerk's:
// "demo: short Raft election timeouts (0.5–1s)".
func DemoNote(electionTimeout time.Duration) string {
	return fmt.Sprintf("demo: short Raft election timeouts (%g–%gs)", electionTimeout.Seconds(), 2*electionTimeout.Seconds())
}
