package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/nwroll/nwroll/rollout/journal"
	"github.com/nwroll/nwroll/rollout/release"
)

// The rollout lock (design §3 "Lock") lives on the nodes: a small JSON file
// naming its holder, by default /var/lib/neuwerk-rollout/lock.json (the
// directory facts §3 suggests for the console's own marker files, next to
// the data root). Remote execution belongs to the executor, so this file
// builds the shell commands and parses their output; AcquireLocks and
// ReleaseLocks drive them over any CommandRunner.
//
// The commands are POSIX sh. They need write access to the lock directory,
// so the executor runs them the way it runs other privileged commands (under
// `sudo -n sh -c …` when the inventory says sudo).

// LockDirName is the lock's directory, a sibling of the data root.
const LockDirName = "neuwerk-rollout"

// LockFileName is the lock file inside LockDirName.
const LockFileName = "lock.json"

// LockHeldExitCode is the exit status of the lock commands when another run
// holds the lock; they then print its holder's JSON on stdout.
const LockHeldExitCode = 73

// LockPathForDataRoot is the lock path for a node whose data root is
// dataRoot: /var/lib/neuwerk → /var/lib/neuwerk-rollout/lock.json.
func LockPathForDataRoot(dataRoot string) string {
	return path.Join(path.Dir(path.Clean(dataRoot)), LockDirName, LockFileName)
}

// LockHolder names who holds a node's lock.
type LockHolder struct {
	User      string    `json:"user"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	RunID     string    `json:"run_id"`
	Cluster   string    `json:"cluster"`
}

// NewLockHolder describes this process as the holder of run runID.
func NewLockHolder(cluster, runID string) LockHolder {
	return LockHolder{
		User:      journal.OperatorUser(),
		Host:      journal.OperatorHost(),
		PID:       os.Getpid(),
		StartedAt: time.Now().UTC().Truncate(time.Second),
		RunID:     runID,
		Cluster:   cluster,
	}
}

// String is "alice@ops-1 (pid 4242, run 7f3a, started 2026-11-23T10:15:00Z)".
func (h LockHolder) String() string {
	who := h.User + "@" + h.Host
	if h.User == "" && h.Host == "" {
		who = "an unknown holder"
	}
	started := "at an unknown time"
	if !h.StartedAt.IsZero() {
		started = h.StartedAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s (pid %d, run %s, started %s)", who, h.PID, h.RunID, started)
}

// LockJSON is the holder as the lock file holds it: compact JSON on one
// line, so `"run_id":"…"` appears verbatim for the commands to grep.
func LockJSON(h LockHolder) string {
	b, err := json.Marshal(h)
	if err != nil { // cannot happen for this struct
		panic(err)
	}
	return string(b)
}

// lockRunIDNeedle is the exact text a lock file held by runID contains.
func lockRunIDNeedle(runID string) string {
	b, _ := json.Marshal(runID)
	return `"run_id":` + string(b)
}

// lockQuote quotes s for POSIX sh: it wraps s in single quotes and writes
// each single quote inside as quote, backslash, quote, quote. Nothing inside
// is expanded.
func lockQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// LockAcquireCommand creates the lock file at p atomically (hard-linking a
// complete temp file into place, which fails if p exists) holding holder.
// If p already names holder.RunID (a resumed run) it is taken over. If
// another run holds it, the command prints that holder's JSON and exits
// LockHeldExitCode.
func LockAcquireCommand(p string, holder LockHolder) string {
	return strings.Join([]string{
		"umask 077",
		"f=" + lockQuote(p) + "; d=" + lockQuote(path.Dir(p)) + "; me=" + lockQuote(lockRunIDNeedle(holder.RunID)),
		`t="$f.tmp.$$"`,
		`if [ -d "$f" ]; then echo "nwroll: lock $f is a directory" >&2; exit 1; fi`,
		`mkdir -p -- "$d" || exit 1`,
		"printf '%s\\n' " + lockQuote(LockJSON(holder)) + ` > "$t" || { rm -f -- "$t"; exit 1; }`,
		`n=0`,
		`while :; do`,
		`  if err=$(ln -- "$t" "$f" 2>&1); then rm -f -- "$t"; echo 'nwroll-lock: acquired'; exit 0; fi`,
		`  if [ -f "$f" ] && grep -F -q -- "$me" "$f"; then mv -f -- "$t" "$f" && { echo 'nwroll-lock: re-acquired'; exit 0; }; fi`,
		`  if h=$(cat -- "$f" 2>/dev/null); then rm -f -- "$t"; printf '%s\n' "$h"; exit ` + fmt.Sprint(LockHeldExitCode) + `; fi`,
		`  n=$((n+1)); if [ "$n" -ge 5 ]; then rm -f -- "$t"; echo "nwroll: cannot create lock $f: $err" >&2; exit 1; fi`,
		`done`,
	}, "\n")
}

// LockReleaseCommand removes the lock at p only if run runID holds it. An
// absent lock is fine; a lock held by another run is left alone, its holder
// printed, and the command exits LockHeldExitCode.
func LockReleaseCommand(p, runID string) string {
	return strings.Join([]string{
		"f=" + lockQuote(p) + "; me=" + lockQuote(lockRunIDNeedle(runID)),
		`if [ ! -e "$f" ]; then echo 'nwroll-lock: absent'; exit 0; fi`,
		`if grep -F -q -- "$me" "$f"; then rm -f -- "$f" || exit 1; echo 'nwroll-lock: released'; exit 0; fi`,
		`cat -- "$f"; exit ` + fmt.Sprint(LockHeldExitCode),
	}, "\n")
}

// LockBreakCommand removes the lock at p whoever holds it and prints the
// holder it removed. With expectRunID set, it removes the lock only if that
// run still holds it (so a lock taken since it was looked at survives), and
// otherwise prints the new holder and exits LockHeldExitCode.
func LockBreakCommand(p, expectRunID string) string {
	lines := []string{
		"f=" + lockQuote(p),
		`if [ ! -e "$f" ]; then echo 'nwroll-lock: absent'; exit 0; fi`,
		`h=$(cat -- "$f") || exit 1`,
	}
	if expectRunID != "" {
		lines = append(lines, "me="+lockQuote(lockRunIDNeedle(expectRunID)),
			`if ! grep -F -q -- "$me" "$f"; then printf '%s\n' "$h"; exit `+fmt.Sprint(LockHeldExitCode)+`; fi`)
	}
	lines = append(lines, `rm -f -- "$f" || exit 1`, `printf '%s\n' "$h"`, `echo 'nwroll-lock: broken'`)
	return strings.Join(lines, "\n")
}

// LockReadCommand prints the lock at p, or nothing if there is none.
func LockReadCommand(p string) string {
	return "f=" + lockQuote(p) + "\n" + `if [ -e "$f" ]; then cat -- "$f"; fi`
}

// ParseLockHolder finds the holder in a lock command's output: the last
// line that is a JSON object (other lines, such as the commands' own
// "nwroll-lock:" notes or a login shell's noise, are skipped).
func ParseLockHolder(out []byte) (LockHolder, error) {
	lines := bytes.Split(out, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := bytes.TrimSpace(lines[i])
		if len(l) == 0 || l[0] != '{' {
			continue
		}
		var h LockHolder
		if err := json.Unmarshal(l, &h); err != nil {
			return LockHolder{}, fmt.Errorf("lock file is not nwroll's (%v): %q", err, release.Clip(string(l)))
		}
		if h.RunID == "" && h.User == "" && h.Host == "" {
			return LockHolder{}, fmt.Errorf("lock file names no holder: %q", release.Clip(string(l)))
		}
		return h, nil
	}
	return LockHolder{}, fmt.Errorf("no lock holder in %q", release.Clip(strings.TrimSpace(string(out))))
}

// CommandRunner runs a shell command on a node. err is for failures to run
// it at all (connection, context); a command that ran reports its exit
// status in exitCode.
type CommandRunner interface {
	RunCommand(ctx context.Context, node string, cmd string) (stdout string, exitCode int, err error)
}

// LockTarget is one node's lock: the node's name and the lock path on it
// (per node, since the inventory may set per-node paths).
type LockTarget struct {
	Node string
	Path string
}

// LockHeldError is a lock another run holds.
type LockHeldError struct {
	Node   string
	Path   string
	Holder LockHolder
	Raw    string // the lock file, when it could not be parsed
}

func (e *LockHeldError) Error() string {
	who := e.Holder.String()
	if HolderGone(e.Holder) {
		who = fmt.Sprintf("run %s, pid %d on this host, no longer running", e.Holder.RunID, e.Holder.PID)
	}
	if e.Raw != "" || (e.Holder.RunID == "" && e.Holder.User == "") {
		who = fmt.Sprintf("an unreadable lock file (%q)", release.Clip(strings.TrimSpace(e.Raw)))
	}
	return fmt.Sprintf("node %s is locked by %s (lock file %s): another nwroll run holds the rollout lock; "+
		"wait for it to finish, or if that run is dead, pass --break-lock explicitly to take the lock over",
		e.Node, who, e.Path)
}

// AcquireLocks takes the lock on every target, one node at a time in
// order of node name (so of two runs started at once, exactly one wins). If
// any node's lock is held by another run, it releases the locks this call
// took and returns a *LockHeldError naming the holder. With breakLock a held
// lock is broken first (only if its holder is still the one seen) and the
// broken holders are returned, for the journal.
func AcquireLocks(ctx context.Context, runner CommandRunner, targets []LockTarget, holder LockHolder, breakLock bool) (broken map[string]LockHolder, err error) {
	if holder.RunID == "" {
		return nil, errors.New("lock: the holder has no run id")
	}
	ts := slices.Clone(targets)
	slices.SortStableFunc(ts, func(a, b LockTarget) int { return strings.Compare(a.Node, b.Node) })
	for _, t := range ts {
		if !path.IsAbs(t.Path) {
			return nil, fmt.Errorf("lock path %q for node %s is not absolute", t.Path, t.Node)
		}
	}
	var taken []LockTarget
	undo := func() {
		// Best effort, on a fresh context: the caller's may be what failed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = ReleaseLocks(rctx, runner, taken, holder.RunID)
	}
	for _, t := range ts {
		_, err := lockAcquireOne(ctx, runner, t, holder)
		var held *LockHeldError
		if errors.As(err, &held) && breakLock {
			expect := "" // a lock file we cannot parse is broken whoever holds it
			if held.Raw == "" {
				expect = held.Holder.RunID
			}
			var h LockHolder
			h, err = lockBreakOne(ctx, runner, t, expect)
			if err == nil {
				if broken == nil {
					broken = map[string]LockHolder{}
				}
				broken[t.Node] = h
				_, err = lockAcquireOne(ctx, runner, t, holder)
			}
		}
		if err != nil {
			undo()
			return broken, err
		}
		taken = append(taken, t)
	}
	return broken, nil
}

func lockAcquireOne(ctx context.Context, runner CommandRunner, t LockTarget, holder LockHolder) (LockHolder, error) {
	out, code, err := runner.RunCommand(ctx, t.Node, LockAcquireCommand(t.Path, holder))
	if err != nil {
		return LockHolder{}, fmt.Errorf("lock %s on node %s: %w", t.Path, t.Node, err)
	}
	switch code {
	case 0:
		return holder, nil
	case LockHeldExitCode:
		return LockHolder{}, lockHeld(t, out)
	default:
		return LockHolder{}, fmt.Errorf("lock %s on node %s: the lock command exited %d: %s", t.Path, t.Node, code, release.Clip(strings.TrimSpace(out)))
	}
}

func lockBreakOne(ctx context.Context, runner CommandRunner, t LockTarget, expectRunID string) (LockHolder, error) {
	out, code, err := runner.RunCommand(ctx, t.Node, LockBreakCommand(t.Path, expectRunID))
	if err != nil {
		return LockHolder{}, fmt.Errorf("break lock %s on node %s: %w", t.Path, t.Node, err)
	}
	switch code {
	case 0:
		h, _ := ParseLockHolder([]byte(out)) // an unreadable lock is broken all the same
		return h, nil
	case LockHeldExitCode:
		return LockHolder{}, lockHeld(t, out)
	default:
		return LockHolder{}, fmt.Errorf("break lock %s on node %s: the command exited %d: %s", t.Path, t.Node, code, release.Clip(strings.TrimSpace(out)))
	}
}

func lockHeld(t LockTarget, out string) *LockHeldError {
	h, err := ParseLockHolder([]byte(out))
	if err != nil {
		raw := strings.TrimSpace(out)
		if raw == "" {
			raw = "(empty)"
		}
		return &LockHeldError{Node: t.Node, Path: t.Path, Raw: raw}
	}
	return &LockHeldError{Node: t.Node, Path: t.Path, Holder: h}
}

// ReleaseLocks releases run runID's lock on every target, carrying on past
// failures. A lock held by another run is left alone and reported as a
// *LockHeldError; an absent lock is fine.
func ReleaseLocks(ctx context.Context, runner CommandRunner, targets []LockTarget, runID string) error {
	var errs []error
	for _, t := range targets {
		out, code, err := runner.RunCommand(ctx, t.Node, LockReleaseCommand(t.Path, runID))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("release lock %s on node %s: %w", t.Path, t.Node, err))
		case code == LockHeldExitCode:
			errs = append(errs, lockHeld(t, out))
		case code != 0:
			errs = append(errs, fmt.Errorf("release lock %s on node %s: the command exited %d: %s", t.Path, t.Node, code, release.Clip(strings.TrimSpace(out))))
		}
	}
	return errors.Join(errs...)
}

// ReadLocks reads every target's lock holder (for status). A node with no
// lock is absent from the map; a node that could not be read is in the
// error.
func ReadLocks(ctx context.Context, runner CommandRunner, targets []LockTarget) (map[string]LockHolder, error) {
	out := map[string]LockHolder{}
	var errs []error
	for _, t := range targets {
		s, code, err := runner.RunCommand(ctx, t.Node, LockReadCommand(t.Path))
		if err == nil && code != 0 {
			err = fmt.Errorf("the command exited %d: %s", code, release.Clip(strings.TrimSpace(s)))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read lock %s on node %s: %w", t.Path, t.Node, err))
			continue
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		h, err := ParseLockHolder([]byte(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("read lock %s on node %s: %w", t.Path, t.Node, err))
			continue
		}
		out[t.Node] = h
	}
	return out, errors.Join(errs...)
}

// HolderGone reports whether h ran on this host and its process is no
// longer running (a crashed or killed run).
func HolderGone(h LockHolder) bool {
	return h.Host != "" && h.Host == journal.OperatorHost() && h.PID > 0 && !processAlive(h.PID)
}
