package rollout

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nwroll/nwroll/rollout/journal"
)

// RunsReport is `nwroll runs`: the cluster's runs, newest first.
type RunsReport struct {
	Schema  string               `json:"schema"` // SchemaRuns
	Cluster string               `json:"cluster"`
	Journal string               `json:"journal_dir"`
	Runs    []journal.RunSummary `json:"runs"`
	// Unfinished is the run resume and rollback pick, if one is unfinished.
	Unfinished string `json:"unfinished,omitempty"`
}

// Runs reads the cluster's run history (no node is contacted).
func Runs(env Env) (RunsReport, error) {
	h, err := History(env)
	if err != nil {
		return RunsReport{}, err
	}
	dir, _ := journal.ClusterStateDir(env.StateDir, env.Inventory.Cluster)
	rep := RunsReport{Schema: SchemaRuns, Cluster: env.Inventory.Cluster, Journal: dir, Runs: make([]journal.RunSummary, 0, len(h))}
	if u, ok := journal.NewestUnfinished(h); ok {
		rep.Unfinished = u.ID
	}
	for i := len(h) - 1; i >= 0; i-- {
		rep.Runs = append(rep.Runs, h[i])
	}
	return rep, nil
}

// RenderRuns writes the history as a table, then the way out of an
// unfinished run, if there is one.
func RenderRuns(w io.Writer, rep RunsReport, inventoryPath string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if len(rep.Runs) == 0 {
		_, err := fmt.Fprintf(w, "cluster %s: no runs on record in %s\n", rep.Cluster, rep.Journal)
		return err
	}
	fmt.Fprintf(w, "cluster %s: %d run(s), newest first (%s)\n", rep.Cluster, len(rep.Runs), rep.Journal)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tBY\tRELEASE\tOUTCOME\tCHANGED")
	for _, r := range rep.Runs {
		outcome := string(r.Outcome)
		if r.Unfinished {
			outcome += " (unfinished)"
		}
		rel := r.Target
		if r.From != "" {
			rel = r.From + " → " + r.Target
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Started.Local().Format(time.DateTime), orDash(r.StartedBy), orDash(rel), outcome, r.ChangesText())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Why each run that failed stopped: the table has no room for it.
	first := true
	for _, r := range rep.Runs {
		if r.Failure == "" {
			continue
		}
		if first {
			fmt.Fprintln(w)
			first = false
		}
		fmt.Fprintf(w, "run %s stopped on %s\n", r.ID, r.Failure)
	}
	if id := rep.Unfinished; id != "" {
		fmt.Fprintf(w, "\nrun %s is unfinished: `nwroll resume -i %s` continues it, `nwroll rollback -i %s` undoes it\n", id, inventoryPath, inventoryPath)
	}
	return nil
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
