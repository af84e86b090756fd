package viewer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/aymanbagabas/go-udiff/lcs"

	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/tui/style"
)

// viewerDiffResult is a diff made ready to show.
type viewerDiffResult struct {
	lines  []string
	hidden int // lines that differ only in volatile fields, left out of the diff
	err    error
}

// viewerVolatileWhat names what a diff leaves out unless asked for everything.
const viewerVolatileWhat = "generated_at, timestamps, uptime"

// viewerDiffSummary starts a diff's summary line: lines removed and added,
// and how many differences in volatile fields were hidden.
const viewerDiffSummary = "lines "

// viewerDiffMember diffs a member of cur against the same member of base.
// Unless all, lines that differ only in volatile fields (viewerMask) count
// as the same, and the summary line says how many there were.
func viewerDiffMember(cur, base *sysdump.Archive, member, shown string, all bool) viewerDiffResult {
	now, err := cur.Read(member)
	if err != nil {
		return viewerDiffResult{err: err}
	}
	var head []string
	was, err := base.Read(member)
	switch {
	case errors.Is(err, sysdump.ErrMemberNotFound):
		head = append(head, style.GlyphWarn+" not in the baseline: every line is new")
	case err != nil:
		return viewerDiffResult{err: err}
	}
	if viewerBinary(now) || viewerBinary(was) {
		same := bytes.Equal(now, was) && err == nil
		verdict := "they differ"
		if same {
			verdict = "they are the same"
		}
		return viewerDiffResult{lines: append(head, fmt.Sprintf("%s binary member: %s here, %s in the baseline; %s",
			style.GlyphWarn, rollout.HumanBytes(int64(len(now))), rollout.HumanBytes(int64(len(was))), verdict))}
	}
	a, b := viewerDiffText(member, was), viewerDiffText(member, now)
	ma, mb := a, b
	hidden := 0
	if !all {
		ma, mb = viewerMask(member, a), viewerMask(member, b)
		hidden = viewerHiddenCount(a, b, ma, mb)
	}
	body, removed, added := viewerUnifiedDiff(a, b, ma, mb, "baseline  "+shown, "this      "+shown)
	if removed+added == 0 {
		head = append(head, style.GlyphOK+" no differences: "+shown+" is the same in the baseline")
		if hidden > 0 {
			head = append(head, fmt.Sprintf("%s-0 +0 · %d volatile hidden (%s) · a: show all", viewerDiffSummary, hidden, viewerVolatileWhat))
		}
		return viewerDiffResult{lines: head, hidden: hidden}
	}
	summary := fmt.Sprintf("%s-%d +%d", viewerDiffSummary, removed, added)
	switch {
	case all:
		summary += " · all fields · a: hide volatile"
	case hidden > 0:
		summary += fmt.Sprintf(" · %d volatile hidden · a: show all", hidden)
	default:
		summary += " · none volatile hidden"
	}
	head = append(head, summary)
	return viewerDiffResult{lines: append(head, body...), hidden: hidden}
}

// viewerUnifiedDiff is the unified diff of the masked lines ma and mb,
// shown with the real lines a and b, and how many lines it removes and adds.
func viewerUnifiedDiff(a, b, ma, mb []string, from, to string) (lines []string, removed, added int) {
	before, after := viewerJoin(ma), viewerJoin(mb)
	u, err := udiff.ToUnifiedDiff(from, to, before, udiff.Lines(before, after), viewerDiffContext)
	if err != nil || len(u.Hunks) == 0 {
		return nil, 0, 0
	}
	for _, h := range u.Hunks {
		oi, ni := h.FromLine-1, h.ToLine-1
		for i := range h.Lines {
			l := &h.Lines[i]
			switch l.Kind {
			case udiff.Delete:
				l.Content = a[oi] + "\n"
				oi++
				removed++
			case udiff.Insert:
				l.Content = b[ni] + "\n"
				ni++
				added++
			default:
				l.Content = b[ni] + "\n"
				oi++
				ni++
			}
		}
	}
	return strings.Split(strings.TrimSuffix(u.String(), "\n"), "\n"), removed, added
}

func viewerJoin(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// viewerHiddenCount is how many lines the masked diff pairs as the same
// although the real lines differ.
func viewerHiddenCount(a, b, ma, mb []string) int {
	n, i, j := 0, 0, 0
	count := func(toI int) {
		for ; i < toI; i, j = i+1, j+1 {
			if a[i] != b[j] {
				n++
			}
		}
	}
	for _, d := range lcs.DiffLines(ma, mb) {
		count(d.Start)
		i, j = d.End, d.ReplEnd
	}
	count(len(a))
	return n
}

// viewerDiffText is a member as lines for diffing; JSON is pretty-printed
// first so that one changed value is one changed line.
func viewerDiffText(member string, data []byte) []string {
	if viewerLooksJSON(member, data) {
		var buf bytes.Buffer
		if json.Indent(&buf, bytes.TrimSpace(data), "", "  ") == nil {
			data = buf.Bytes()
		}
	}
	return viewerLines(data)
}

const viewerMasked = "<volatile>"

var (
	// a pretty-printed JSON member's "key": value line
	viewerJSONLine = regexp.MustCompile(`^(\s*"((?:[^"\\]|\\.)*)"\s*:\s*)(.*?)(,?)$`)
	// a Prometheus sample: name{labels} value [timestamp]
	viewerPromLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+\S+(\s+\S+)?$`)
	// RFC 3339 times, and the syslog/journal "Apr 04 10:00:01" stamp
	viewerTimestamp = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?` +
		`|\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-3]\d \d{2}:\d{2}:\d{2}(\.\d+)?`)
)

// viewerVolatileName reports whether a JSON key or metric name holds a
// value that changes on its own: when a dump was made, a time, an uptime.
func viewerVolatileName(name string) bool {
	n := strings.ToLower(name)
	return n == "generated_at" || strings.HasSuffix(n, "_at") || n == "time" || n == "ts" ||
		strings.Contains(n, "timestamp") || strings.Contains(n, "uptime") || strings.Contains(n, "start_time") ||
		strings.HasPrefix(n, "millis_since") || strings.HasPrefix(n, "seconds_since")
}

// viewerMask replaces the volatile parts of a member's lines with a
// placeholder, so that a diff of the masked lines leaves them out.
func viewerMask(member string, lines []string) []string {
	_, name := sysdump.SplitNested(member)
	if path.Base(name) == "uptime" { // proc/uptime is nothing but counters
		out := make([]string, len(lines))
		for i := range out {
			out[i] = viewerMasked
		}
		return out
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if m := viewerJSONLine.FindStringSubmatch(l); m != nil && viewerVolatileName(m[2]) &&
			m[3] != "{" && m[3] != "[" {
			out[i] = m[1] + viewerMasked + m[4]
			continue
		}
		if m := viewerPromLine.FindStringSubmatch(l); m != nil && viewerVolatileName(m[1]) {
			out[i] = m[1] + m[2] + " " + viewerMasked
			continue
		}
		out[i] = viewerTimestamp.ReplaceAllString(l, viewerMasked)
	}
	return out
}
