package rollout

import (
	"fmt"
	"sort"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// LockedError: another run's lock is on the nodes (exit 3), found by the
// survey before this run took anything. When its holder ran on this host
// and is gone, the console offers to take the lock over; headless needs
// --break-lock either way.
type LockedError struct {
	Node   string
	Holder executor.LockHolder
	Gone   bool // the holder ran on this host and its process is no longer running
}

func (e *LockedError) Error() string {
	h := e.Holder
	if e.Gone {
		return fmt.Sprintf("node %s is locked by run %s of %s@%s, pid %d on this host, no longer running: take the lock over with --break-lock (or in the console)",
			e.Node, h.RunID, h.User, h.Host, h.PID)
	}
	return fmt.Sprintf("node %s is locked by %s: another nwroll run holds the rollout lock; wait for it to finish, or if that run is dead, pass --break-lock to take the lock over",
		e.Node, h)
}

// checkLocks refuses a lock on any node held by a run other than own,
// unless breakLock.
func checkLocks(s executor.Survey, own string, breakLock bool) error {
	if breakLock {
		return nil
	}
	nodes := make([]string, 0, len(s.Locks))
	for n := range s.Locks {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		h := s.Locks[n]
		if own != "" && h.RunID == own {
			continue
		}
		return &runbook.ExitError{Code: runbook.ExitRefused, Err: &LockedError{Node: n, Holder: h, Gone: executor.HolderGone(h)}}
	}
	return nil
}
