package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/rollout/release"
	"github.com/nwroll/nwroll/rollout/remote"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Stage checks free disk, uploads the target binary to <binary>.new on the
// node and verifies its sha256 there (remote.Upload renames the file into
// place only once the node has verified it).
func (x *Executor) Stage(ctx context.Context, name, sha string) error {
	rel := x.cfg.Release
	if rel == nil || rel.BinaryPath == "" {
		return errors.New("stage: no release binary to upload")
	}
	if want := runbook.NormSHA(sha); want != "" && want != rel.SHA256 {
		return fmt.Errorf("stage: asked for sha256 %s, but the release binary is %s", release.ShortSHA(want), rel.ShortSHA())
	}
	n, err := x.node(name)
	if err != nil {
		return err
	}
	dest := n.Paths.Binary + ".new"
	if err := x.checkFree(ctx, n, path.Dir(dest), rel.Size+stageMargin); err != nil {
		return err
	}
	r, err := x.remoteFor(ctx, n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, stageTimeout)
	defer cancel()
	progress := monotonic(x.progress(name, "stage"))
	err = r.Upload(ctx, rel.BinaryPath, dest, 0o755, rel.SHA256, progress)
	if err != nil && n.Sudo && isPermission(err) {
		// The binary's directory belongs to root: the same upload with the
		// node-side work under sudo -n.
		err = r.UploadPrivileged(ctx, rel.BinaryPath, dest, 0o755, rel.SHA256, progress)
	}
	if err != nil {
		return fmt.Errorf("stage on %s: %w", name, err)
	}
	return nil
}

// monotonic passes on progress that never goes back: an upload refused
// for want of permission may have sent some bytes before the one under sudo
// starts again from 0.
func monotonic(progress func(done, total int64)) func(done, total int64) {
	var mu sync.Mutex
	var high int64
	return func(done, total int64) {
		mu.Lock()
		if done < high {
			done = high
		}
		high = done
		mu.Unlock()
		progress(done, total)
	}
}

func isPermission(err error) bool {
	return errors.Is(err, os.ErrPermission) || strings.Contains(strings.ToLower(err.Error()), "permission denied")
}

// checkFree refuses when dir on the node has less than need bytes free.
// Connect's reading is used while it is under two minutes old.
func (x *Executor) checkFree(ctx context.Context, n inventory.Node, dir string, need int64) error {
	x.mu.Lock()
	kb, ok := x.freeKB[n.Name]
	recent := ok && time.Since(x.connectedAt) < 2*time.Minute && dir == path.Dir(n.Paths.Binary)
	x.mu.Unlock()
	if recent {
		if kb*1024 < need {
			return fmt.Errorf("only %d MiB free in %s on %s, %d MiB needed to stage the release: free some space first", kb>>10, dir, n.Name, need>>20)
		}
		return nil
	}
	out, err := x.run(ctx, n, "df", remote.Cmd("df", "-Pk", dir), false, time.Minute)
	if err != nil {
		return err
	}
	if out.Code != 0 {
		return commandError("df -Pk "+dir, n.Name, out)
	}
	lines := strings.Split(strings.TrimSpace(out.Stdout), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	if len(lines) < 2 || len(fields) < 4 {
		return fmt.Errorf("df -Pk %s on %s: unexpected output %q", dir, n.Name, lastLine(out.Stdout))
	}
	kb, err = strconv.ParseInt(fields[3], 10, 64)
	if err != nil {
		return fmt.Errorf("df -Pk %s on %s: unexpected output %q", dir, n.Name, lastLine(out.Stdout))
	}
	if kb*1024 < need {
		return fmt.Errorf("only %d MiB free in %s on %s, %d MiB needed to stage the release: free some space first", kb>>10, dir, n.Name, need>>20)
	}
	return nil
}

// progress returns a throttled progress callback that emits Notes.
func (x *Executor) progress(node, op string) func(done, total int64) {
	var mu sync.Mutex
	var last time.Time
	return func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= 500*time.Millisecond || done == total {
			last = now
			x.note(Note{Node: node, Kind: NoteProgress, Op: op, Done: done, Total: total})
		}
	}
}
