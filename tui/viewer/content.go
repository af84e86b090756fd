package viewer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/tui/style"
)

const (
	viewerShowLimit   = 1 << 20 // a member shown is cut after this many bytes
	viewerDiffLimit   = 8 << 20 // a member diffed is refused above this size
	viewerHexLimit    = 4 << 10 // a binary member shows this many bytes as hex
	viewerHitLimit    = 1000    // a search stops after this many hits
	viewerHitText     = 200     // a hit keeps this many bytes of its line
	viewerDiffContext = 3
)

type contentKind int

const (
	contentOverview contentKind = iota
	contentMember
	contentDiff
	contentLoading
	contentError
)

// viewerContent is what the right pane shows. plain holds the text
// without styling; styled, when set, is the overview's own styling.
type viewerContent struct {
	kind   contentKind
	member string
	title  string
	plain  []string
	styled []string
	json   bool
	lead   int // lines before the member's first line (a "cut" note)
}

// viewerText is a member made ready to show.
type viewerText struct {
	lines []string
	json  bool
	lead  int
}

// viewerFormat turns a member's first bytes into lines: JSON
// pretty-printed, binary as hex, anything else as it is.
func viewerFormat(member string, data []byte, size int64) viewerText {
	var t viewerText
	cut := int64(len(data)) < size
	if cut {
		t.lines = append(t.lines, fmt.Sprintf("%s cut: showing the first %s of %s", style.GlyphWarn, rollout.HumanBytes(int64(len(data))), rollout.HumanBytes(size)))
		t.lead = 1
	}
	if viewerBinary(data) {
		n := min(len(data), viewerHexLimit)
		t.lines = append(t.lines, fmt.Sprintf("binary member, %s; the first %s as hex:", rollout.HumanBytes(size), rollout.HumanBytes(int64(n))))
		t.lead = len(t.lines)
		t.lines = append(t.lines, strings.Split(strings.TrimSuffix(hex.Dump(data[:n]), "\n"), "\n")...)
		return t
	}
	if !cut && viewerLooksJSON(member, data) {
		var buf bytes.Buffer
		if json.Indent(&buf, bytes.TrimSpace(data), "", "  ") == nil {
			data, t.json = buf.Bytes(), true
		}
	}
	t.lines = append(t.lines, viewerLines(data)...)
	return t
}

func viewerLooksJSON(member string, data []byte) bool {
	if strings.HasSuffix(member, ".json") {
		return true
	}
	d := bytes.TrimSpace(data)
	return len(d) > 0 && (d[0] == '{' || d[0] == '[') && json.Valid(d)
}

func viewerBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0
}

// viewerLines splits text into display-safe lines.
func viewerLines(data []byte) []string {
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = viewerSanitize(strings.TrimSuffix(l, "\r"))
	}
	return lines
}

// viewerSanitize expands tabs and shows control bytes as ^X, so member
// text can never move the cursor or change colours.
func viewerSanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case r < 0x20 || r == 0x7f:
			b.WriteByte('^')
			b.WriteByte(byte(r) ^ 0x40)
			col += 2
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}

var viewerJSONKey = regexp.MustCompile(`^\s*("(?:[^"\\]|\\.)*")\s*:`)

// viewerStyleLines styles plain lines for the viewport: JSON keys, diff
// lines, and search matches (re may be nil).
func viewerStyleLines(st style.Styles, c viewerContent, re *regexp.Regexp) []string {
	if c.styled != nil {
		return c.styled
	}
	out := make([]string, len(c.plain))
	for i, l := range c.plain {
		var base *lipgloss.Style
		var key []int
		switch {
		case c.kind == contentDiff:
			base = viewerDiffStyle(st, l)
		case c.kind == contentError:
			base = &st.Fail
		case i < c.lead:
			base = &st.Warn
		case c.json:
			if m := viewerJSONKey.FindStringSubmatchIndex(l); m != nil {
				key = m[2:4]
			}
		}
		var matches [][]int
		if re != nil && c.kind != contentDiff {
			matches = re.FindAllStringIndex(l, -1)
		}
		out[i] = viewerStyleSpans(st, l, base, key, matches)
	}
	return out
}

func viewerDiffStyle(st style.Styles, l string) *lipgloss.Style {
	switch {
	case strings.HasPrefix(l, viewerDiffSummary):
		return &st.Dim
	case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
		return &st.Bold
	case strings.HasPrefix(l, "@@"):
		return &st.DiffHunk
	case strings.HasPrefix(l, "+"):
		return &st.DiffAdd
	case strings.HasPrefix(l, "-"):
		return &st.DiffDel
	case strings.HasPrefix(l, style.GlyphWarn), strings.HasPrefix(l, style.GlyphOK):
		return &st.Warn
	}
	return nil
}

// viewerStyleSpans renders l with base, the key span in JSONKey and the
// matches in Match (matches win).
func viewerStyleSpans(st style.Styles, l string, base *lipgloss.Style, key []int, matches [][]int) string {
	if base == nil && key == nil && matches == nil {
		return l
	}
	cuts := []int{0, len(l)}
	if key != nil {
		cuts = append(cuts, key[0], key[1])
	}
	for _, m := range matches {
		cuts = append(cuts, m[0], m[1])
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	in := func(p int, spans ...[]int) bool {
		for _, s := range spans {
			if s != nil && p >= s[0] && p < s[1] {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	for i := 0; i+1 < len(cuts); i++ {
		p, q := cuts[i], cuts[i+1]
		seg := l[p:q]
		switch {
		case in(p, matches...):
			b.WriteString(st.Match.Render(seg))
		case in(p, key):
			b.WriteString(st.JSONKey.Render(seg))
		case base != nil:
			b.WriteString(base.Render(seg))
		default:
			b.WriteString(seg)
		}
	}
	return b.String()
}

// viewerOverview is what the overview page is built from.
type viewerOverview struct {
	file    string
	size    int64
	head    sysdump.Head
	members int // outer members; -1 until listed
	nested  int
	listErr string
}

// viewerOverviewLines renders the overview page at width.
func viewerOverviewLines(st style.Styles, o viewerOverview, names, ids map[string]string, width int) []string {
	var out []string
	add := func(s string) { out = append(out, s) }
	h := o.head
	add(st.Bold.Render(o.file))
	switch {
	case h.Manifest != nil:
		add(st.Dim.Render(rollout.HumanBytes(o.size) + " · cluster sysdump"))
		add(st.Dim.Render("generated " + h.Manifest.GeneratedAt))
	case h.Overview != nil:
		add(st.Dim.Render(rollout.HumanBytes(o.size) + " · cluster sysdump"))
		add(st.Dim.Render("generated " + h.Overview.GeneratedAt))
	default:
		add(st.Dim.Render(rollout.HumanBytes(o.size) + " · per-node sysdump"))
		add(st.Dim.Render("(no manifest.json or cluster/overview.json)"))
	}
	add("")

	partial, ok, failed := false, uint64(0), uint64(0)
	known := true
	switch {
	case h.Manifest != nil:
		partial, ok, failed = h.Manifest.Partial, h.Manifest.NodesSucceeded, h.Manifest.NodesFailed
	case h.Overview != nil:
		partial, ok, failed = h.Overview.Partial, h.Overview.NodesSucceeded, h.Overview.NodesFailed
	default:
		known = false
	}
	if known {
		if partial {
			add(st.Warn.Render(fmt.Sprintf("%s partial: %d of %d nodes captured, %d failed", style.GlyphWarn, ok, ok+failed, failed)))
		} else {
			add(st.OK.Render(fmt.Sprintf("%s complete: %d of %d nodes captured", style.GlyphOK, ok, ok+failed)))
		}
	}
	if ov := h.Overview; ov != nil {
		if ov.LeaderNodeID == "" {
			add(st.Warn.Render(style.GlyphWarn + " no leader recorded"))
		} else {
			who := names[ov.LeaderNodeID]
			if who == "" {
				who = ids[ov.LeaderNodeID]
			}
			add(st.Leader.Render(style.GlyphLeader+" leader ") + who)
			add(st.Dim.Render("  id " + ov.LeaderNodeID))
		}
	}
	if ms := h.Membership; ms != nil {
		add(st.Dim.Render(fmt.Sprintf("  term %d · last log index %d · applied %d · %d voters of %d nodes",
			ms.CurrentTerm, ms.LastLogIndex, ms.LastAppliedIndex, ms.VoterCount, ms.NodeCount)))
	}
	for _, p := range h.Problems {
		add(st.Warn.Render(style.GlyphWarn + " " + p))
	}

	if ov := h.Overview; ov != nil && len(ov.Nodes) > 0 {
		add("")
		add(st.Bold.Render(fmt.Sprintf("nodes (%d)", len(ov.Nodes))))
		type row struct{ lead, name, id, addr, role, status string }
		rows := make([]row, 0, len(ov.Nodes))
		wName, wID, wAddr, wRole := 0, 0, 0, 0
		for _, n := range ov.Nodes {
			r := row{lead: " ", name: names[n.NodeID], id: ids[n.NodeID], addr: n.Addr, role: n.Role, status: n.Status}
			if r.id == "" {
				r.id = n.NodeID
			}
			if r.name == "" {
				r.name = "-"
			}
			if n.NodeID == ov.LeaderNodeID {
				r.lead = style.GlyphLeader
			}
			wName, wID = max(wName, ansi.StringWidth(r.name)), max(wID, ansi.StringWidth(r.id))
			wAddr, wRole = max(wAddr, len(r.addr)), max(wRole, len(r.role))
			rows = append(rows, r)
		}
		wStatus := 0
		for _, r := range rows {
			wStatus = max(wStatus, 2+len(r.status))
		}
		// Too narrow for every column: the address goes first.
		withAddr := 4+wName+2+wID+2+wAddr+2+wRole+2+wStatus <= width || width <= 0
		for _, r := range rows {
			status := st.OK.Render(style.GlyphOK + " " + r.status)
			if r.status != "ok" {
				status = st.Fail.Render(style.GlyphFail + " " + r.status)
			}
			lead := r.lead
			if lead == style.GlyphLeader {
				lead = st.Leader.Render(lead)
			}
			addr := ""
			if withAddr {
				addr = viewerPad(r.addr, wAddr) + "  "
			}
			add(fmt.Sprintf("  %s %s  %s  %s%s  %s", lead, viewerPad(r.name, wName), viewerPad(r.id, wID),
				addr, viewerPad(r.role, wRole), status))
		}
	}

	failures := viewerFailures(h)
	if len(failures) > 0 {
		add("")
		add(st.Bold.Render(fmt.Sprintf("failed nodes (%d)", len(failures))))
		for _, f := range failures {
			who := ids[f.NodeID]
			if who == "" {
				who = f.NodeID
			}
			if n := names[f.NodeID]; n != "" {
				who = n + "  " + who
			}
			add("  " + st.Fail.Render(style.GlyphFail+" "+who) + "  " + f.Addr)
			add("    " + f.Error)
		}
	}

	add("")
	switch {
	case o.listErr != "":
		add(st.Fail.Render(style.GlyphFail + " " + o.listErr))
	case o.members < 0:
		add(st.Dim.Render("listing members…"))
	default:
		s := fmt.Sprintf("%d members", o.members)
		if o.nested > 0 {
			s += fmt.Sprintf(", %d nested node archives (expand them in the tree)", o.nested)
		}
		add(st.Dim.Render(s))
	}

	var wrapped []string
	for _, l := range out {
		wrapped = append(wrapped, viewerWrapIndent(l, width)...)
	}
	return wrapped
}

// viewerWrapIndent wraps a line to width, indenting continuation lines
// as deep as the line itself.
func viewerWrapIndent(l string, width int) []string {
	if width <= 0 || ansi.StringWidth(l) <= width {
		return []string{l}
	}
	body := strings.TrimLeft(l, " ")
	indent := len(l) - len(body)
	if indent > width/2 {
		indent, body = 0, l
	}
	pad := strings.Repeat(" ", indent)
	lines := strings.Split(ansi.Wrap(body, width-indent, " /"), "\n")
	for i := range lines {
		lines[i] = pad + lines[i]
	}
	return lines
}

// viewerFailures is failures.json, or failed overview rows without it.
func viewerFailures(h sysdump.Head) []sysdump.Failure {
	if h.Failures != nil {
		return h.Failures.Failures
	}
	var out []sysdump.Failure
	if h.Overview != nil {
		for _, n := range h.Overview.Nodes {
			if n.Status == "failed" {
				f := sysdump.Failure{NodeID: n.NodeID, Addr: n.Addr}
				if n.Error != nil {
					f.Error = *n.Error
				}
				out = append(out, f)
			}
		}
	}
	return out
}

// viewerHit is one search result: a member whose name matches (line 0)
// or a line of its content.
type viewerHit struct {
	member string
	line   int
	text   string
}

var errViewerEnough = errors.New("enough hits")

// viewerSearch streams the whole archive, nested ones included, for
// members whose name or content holds query (case-insensitively).
func viewerSearch(ctx context.Context, a *sysdump.Archive, query string) (hits []viewerHit, capped bool, err error) {
	m := newViewerMatcher(query)
	br := bufio.NewReaderSize(nil, 64<<10)
	add := func(h viewerHit) error {
		hits = append(hits, h)
		if len(hits) >= viewerHitLimit {
			capped = true
			return errViewerEnough
		}
		return nil
	}
	err = a.Walk(func(mem sysdump.ArchiveMember, content io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if mem.Err != "" || mem.IsDir() {
			return nil
		}
		if m.match([]byte(mem.Name)) {
			if err := add(viewerHit{member: mem.Path}); err != nil {
				return err
			}
		}
		if content == nil || mem.Type != tar.TypeReg || mem.Size == 0 {
			return nil
		}
		br.Reset(content)
		return viewerScan(ctx, br, m, func(line int, text []byte) error {
			return add(viewerHit{member: mem.Path, line: line, text: viewerSnippet(text)})
		})
	})
	if errors.Is(err, errViewerEnough) {
		err = nil
	}
	return hits, capped, err
}

// viewerScan calls hit for each line of br that matches; binary content
// is skipped. Very long lines are read in pieces, with one hit per line.
func viewerScan(ctx context.Context, br *bufio.Reader, m viewerMatcher, hit func(line int, text []byte) error) error {
	if head, _ := br.Peek(8000); bytes.IndexByte(head, 0) >= 0 {
		return nil
	}
	line, reported := 1, false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 && !reported && m.match(chunk) {
			reported = true
			if herr := hit(line, chunk); herr != nil {
				return herr
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			line++
			reported = false
			if line%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func viewerSnippet(b []byte) string {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > viewerHitText {
		b = b[:viewerHitText]
	}
	return viewerSanitize(strings.TrimSpace(string(b)))
}

// viewerMatcher matches case-insensitively.
type viewerMatcher struct {
	lower []byte
	ascii bool
	buf   *[]byte
}

func newViewerMatcher(query string) viewerMatcher {
	ascii := true
	for i := 0; i < len(query); i++ {
		if query[i] >= utf8.RuneSelf {
			ascii = false
		}
	}
	return viewerMatcher{lower: bytes.ToLower([]byte(query)), ascii: ascii, buf: new([]byte)}
}

func (m viewerMatcher) match(b []byte) bool {
	if len(m.lower) == 0 {
		return false
	}
	if !m.ascii {
		return bytes.Contains(bytes.ToLower(b), m.lower)
	}
	buf := (*m.buf)[:0]
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	*m.buf = buf
	return bytes.Contains(buf, m.lower)
}

// viewerQueryRegexp highlights a query in shown text.
func viewerQueryRegexp(query string) *regexp.Regexp {
	if query == "" {
		return nil
	}
	return regexp.MustCompile("(?i)" + regexp.QuoteMeta(query))
}

// viewerProblem turns an error into one line: the problem, then the fix.
func viewerProblem(err error) string {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.HasPrefix(msg, "sysdump ") {
		msg = "sysdump " + pe.Path + ": " + pe.Err.Error()
	}
	msg = strings.Join(strings.Fields(msg), " ")
	fix := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fix = "check the path"
	case errors.Is(err, fs.ErrPermission):
		fix = "check the file's permissions"
	case strings.Contains(msg, "is a directory"):
		fix = "pass the .tar.gz file, not a directory"
	case strings.Contains(msg, "not a gzip file"), strings.Contains(msg, "empty file"):
		fix = "pass the sysdump .tar.gz as downloaded, not an error body or an unpacked copy"
	case strings.Contains(msg, "truncated"), strings.Contains(msg, "corrupt"):
		fix = "download or copy the sysdump again"
	case strings.Contains(msg, "not a tar archive"):
		fix = "this gzip file is not a sysdump; pass a Neuwerk sysdump .tar.gz"
	case strings.Contains(msg, "-byte cap"):
		fix = "too big to read whole here; extract it with tar instead"
	}
	if fix == "" {
		return msg
	}
	return msg + " — fix: " + fix
}

// viewerShowName is a member path for the status line: a nested member is
// named by its node (name, else short id), "!", then its path inside.
func viewerShowName(path string, names, ids map[string]string) string {
	parent, name := sysdump.SplitNested(path)
	if parent == "" {
		return viewerShortPath(path, ids)
	}
	id := viewerNodeID(parent)
	switch {
	case names[id] != "":
		return names[id] + sysdump.NestedSep + name
	case ids[id] != "":
		return ids[id] + sysdump.NestedSep + name
	}
	return filepath.Base(parent) + sysdump.NestedSep + name
}
