package inventory

import (
	"fmt"
	"sort"
	"strings"
)

// Issue is one problem in an inventory: where it is and how to fix it.
type Issue struct {
	File string // the inventory path as given to Load (or the ssh_config file)
	Line int    // 1-based; 0 when the problem has no single line
	Msg  string // what is wrong, then the fix
}

func (i Issue) Error() string {
	if i.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", i.File, i.Line, i.Msg)
	}
	return fmt.Sprintf("%s: %s", i.File, i.Msg)
}

// Error is what Load returns for an inventory it refuses: every problem found,
// in file order, each naming the file, the line and the fix.
type Error struct {
	Issues []Issue
}

// maxIssues bounds the list: past it the first ones are the useful ones.
const maxIssues = 20

func (e *Error) Error() string {
	if len(e.Issues) == 1 {
		return e.Issues[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems in the inventory:", len(e.Issues))
	for _, is := range e.Issues {
		b.WriteString("\n  ")
		b.WriteString(is.Error())
	}
	return b.String()
}

// collector gathers issues while the loader walks the file.
type collector struct {
	file   string
	issues []Issue
	seen   map[string]bool
}

func (c *collector) add(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	key := fmt.Sprintf("%d\x00%s", line, msg)
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.issues = append(c.issues, Issue{File: c.file, Line: line, Msg: msg})
}

func (c *collector) err() error {
	if len(c.issues) == 0 {
		return nil
	}
	is := append([]Issue(nil), c.issues...)
	sort.SliceStable(is, func(a, b int) bool { return is[a].Line < is[b].Line })
	if len(is) > maxIssues {
		is = append(is[:maxIssues], Issue{File: c.file, Msg: fmt.Sprintf("... and %d more", len(c.issues)-maxIssues)})
	}
	return &Error{Issues: is}
}

// suggest returns ` (did you mean "x"?)` for the closest known key, or "".
func suggest(got string, known []string) string {
	best, bestD := "", 1<<30
	lg := strings.ToLower(got)
	for _, k := range known {
		d := editDistance(lg, k)
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := 2
	if len(got) <= 3 {
		limit = 1
	}
	if best != "" && (bestD <= limit || strings.HasPrefix(best, lg) && len(lg) >= 3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// editDistance is the Damerau–Levenshtein distance (optimal string alignment),
// so a transposition such as "hots" for "host" counts as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := 0; j <= len(rb); j++ {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
