// Package viewer is the sysdump viewer: a tree of an archive's members and
// the overview, a member, a diff against a baseline or a search hit beside
// it. New is the component the console embeds; NewApp is `nwroll view`.
// Every archive read happens in a tea.Cmd.
package viewer

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/tui/style"
)

// Options says what the sysdump viewer opens.
type Options struct {
	Path      string            // the sysdump to open
	Baseline  string            // a baseline sysdump for `d` (diff); "" when none
	NodeNames map[string]string // node id (decimal, as in nodes/<id>/) -> inventory name; may be nil
	HostNames map[string]string // a node's address host (IP) -> inventory name, for nodes NodeNames lacks; may be nil
	Embedded  bool              // inside the console: esc at the top level closes the viewer (emits ClosedMsg) instead of doing nothing
}

// InventoryHostNames is Options.HostNames for an inventory: each node's
// API host (the address the cluster knows it by) and SSH host, to its name.
func InventoryHostNames(inv *inventory.Inventory) map[string]string {
	names := map[string]string{}
	nodes := inv.Nodes()
	for _, n := range nodes {
		if n.Host != "" {
			names[n.Host] = n.Name
		}
	}
	for _, n := range nodes { // the API host wins: the cluster's own address
		if n.APIHost != "" {
			names[n.APIHost] = n.Name
		}
	}
	return names
}

// ClosedMsg asks the console to close an embedded viewer.
type ClosedMsg struct{}

type viewerFocus int

const (
	viewerFocusTree viewerFocus = iota
	viewerFocusContent
)

// Below this size the viewer shows one line saying so.
const (
	viewerMinWidth  = 40
	viewerMinHeight = 8
)

var viewerSeq atomic.Int64

// Model is the sysdump viewer: a tree of members on the left and
// the overview, a member, a diff or an error on the right. Every file
// read happens in a tea.Cmd; results carry the viewer's id and a
// generation, so late ones are dropped.
type Model struct {
	st    style.Styles
	opts  Options
	keys  viewerKeyMap
	id    int64
	names map[string]string
	ids   map[string]string

	width, height int
	focus         viewerFocus

	opened   bool // the head is read: the overview can be shown
	openErr  string
	overview viewerOverview
	tree     memberTree

	content    viewerContent
	previous   *viewerContent // what a diff replaced; d shows it again
	diffAll    bool           // a: diffs show volatile fields too
	contentGen int
	vp         viewport.Model

	pendingSelect string // a member to select once its archive is listed
	previewSeq    int    // the tree's last cursor move; a preview for an older one is dropped

	prompting bool
	input     textinput.Model
	search    viewerSearchState
	note      string
}

// viewerSearchState is the last search.
type viewerSearchState struct {
	query   string
	gen     int
	running bool
	hits    []viewerHit
	capped  bool
	idx     int
	moved   bool // the tree's cursor left the hit: the status no longer names it
	err     string
	re      *regexp.Regexp
	cancel  context.CancelFunc
}

// New returns a viewer for opts.Path; Init opens it.
func New(st style.Styles, opts Options) Model {
	v := Model{st: st, opts: opts, keys: defaultViewerKeyMap(), id: viewerSeq.Add(1), names: opts.NodeNames}
	if v.names == nil {
		v.names = map[string]string{}
	}
	v.overview = viewerOverview{file: filepath.Base(opts.Path), members: -1}
	v.tree = newMemberTree()
	v.vp = viewport.New()
	v.vp.KeyMap = viewport.KeyMap{} // the viewer routes keys itself
	v.vp.SetHorizontalStep(8)
	v.input = textinput.New()
	v.input.Prompt = "/"
	v.input.Placeholder = "search names and content"
	is := textinput.Styles{}
	is.Focused.Prompt, is.Blurred.Prompt = st.Key, st.Key
	is.Focused.Placeholder, is.Blurred.Placeholder = st.Dim, st.Dim
	if !st.NoColor {
		is.Cursor.Color = st.AccentColor
	}
	v.input.SetStyles(is)
	v.content = viewerContent{kind: contentLoading, title: "overview", plain: []string{"opening " + v.overview.file + "…"}}
	v.setContent(v.content, true)
	return v
}

// Init opens the archive.
func (v Model) Init() tea.Cmd { return v.openCmd() }

// Capturing is true while the search prompt takes typing.
func (v Model) Capturing() bool { return v.prompting }

// SetSize sets the viewer's size; View fills exactly w×h.
func (v *Model) SetSize(w, h int) {
	v.width, v.height = w, h
	_, contentW := v.paneWidths()
	inner := max(0, h-1-2-1) // status line, borders, pane title
	v.tree.height = inner
	v.tree.scrollToCursor()
	v.vp.SetWidth(max(0, contentW-2))
	v.vp.SetHeight(inner)
	v.input.SetWidth(max(1, w-4))
	if v.content.kind == contentOverview {
		v.refreshOverview()
	}
}

func (v Model) paneWidths() (tree, content int) {
	tree = max(24, min(56, v.width*3/8))
	return tree, max(0, v.width-tree)
}

// Messages. Each carries the viewer's id; the console forwards every
// message to an open viewer, and a viewer ignores any not its own.
type (
	viewerHeadMsg struct {
		viewer int64
		size   int64
		head   sysdump.Head
		err    error
	}
	viewerListMsg struct {
		viewer  int64
		parent  string // "" for the outer listing
		members []sysdump.ArchiveMember
		metas   map[string]sysdump.NodeMeta // the outer listing's nodes/<id>/meta.json
		err     error
	}
	viewerReadMsg struct {
		viewer int64
		gen    int
		member string
		size   int64
		text   viewerText
		hit    *viewerHit // the search hit to scroll to, if any
		err    error
	}
	viewerSearchMsg struct {
		viewer int64
		gen    int
		hits   []viewerHit
		capped bool
		err    error
	}
	viewerDiffMsg struct {
		viewer int64
		gen    int
		member string
		res    viewerDiffResult
	}
	// viewerPreviewMsg reads the member under the tree's cursor once the
	// cursor has rested there for viewerPreviewDelay.
	viewerPreviewMsg struct {
		viewer int64
		seq    int
		member string
	}
)

// viewerPreviewDelay is how long the tree's cursor rests on a member before
// it is read, so holding a key down does not read every member passed.
const viewerPreviewDelay = 80 * time.Millisecond

// Commands: all archive I/O.

func (v Model) openCmd() tea.Cmd {
	id, path := v.id, v.opts.Path
	return func() tea.Msg {
		a, err := sysdump.OpenArchive(path)
		if err != nil {
			return viewerHeadMsg{viewer: id, err: err}
		}
		var size int64
		if st, err := os.Stat(path); err == nil {
			size = st.Size()
		}
		head, err := a.Head()
		return viewerHeadMsg{viewer: id, size: size, head: head, err: err}
	}
}

func (v Model) listCmd(parent string) tea.Cmd {
	id, a := v.id, &sysdump.Archive{Path: v.opts.Path}
	return func() tea.Msg {
		var members []sysdump.ArchiveMember
		var metas map[string]sysdump.NodeMeta
		var err error
		if parent == "" {
			members, metas, err = a.ListOuterMetas()
		} else {
			members, err = a.ListNested(parent)
		}
		return viewerListMsg{viewer: id, parent: parent, members: members, metas: metas, err: err}
	}
}

func (v Model) readCmd(member string, hit *viewerHit) tea.Cmd {
	id, gen, a := v.id, v.contentGen, &sysdump.Archive{Path: v.opts.Path}
	return func() tea.Msg {
		data, size, err := a.ReadPrefix(member, viewerShowLimit)
		msg := viewerReadMsg{viewer: id, gen: gen, member: member, size: size, hit: hit, err: err}
		if err == nil {
			msg.text = viewerFormat(member, data, size)
		}
		return msg
	}
}

func (v Model) searchCmd(ctx context.Context, query string) tea.Cmd {
	id, gen, a := v.id, v.search.gen, &sysdump.Archive{Path: v.opts.Path}
	return func() tea.Msg {
		hits, capped, err := viewerSearch(ctx, a, query)
		return viewerSearchMsg{viewer: id, gen: gen, hits: hits, capped: capped, err: err}
	}
}

func (v Model) diffCmd(member string) tea.Cmd {
	id, gen := v.id, v.contentGen
	cur := &sysdump.Archive{Path: v.opts.Path, MaxMemberSize: viewerDiffLimit}
	base := &sysdump.Archive{Path: v.opts.Baseline, MaxMemberSize: viewerDiffLimit}
	shown, all := viewerShowName(member, v.names, v.ids), v.diffAll
	return func() tea.Msg {
		return viewerDiffMsg{viewer: id, gen: gen, member: member, res: viewerDiffMember(cur, base, member, shown, all)}
	}
}

// Update handles keys and the viewer's own results.
func (v Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return v.onKey(msg)
	case viewerHeadMsg:
		if msg.viewer != v.id {
			return v, nil
		}
		return v.onHead(msg)
	case viewerListMsg:
		if msg.viewer != v.id {
			return v, nil
		}
		return v.onList(msg)
	case viewerReadMsg:
		if msg.viewer != v.id || msg.gen != v.contentGen {
			return v, nil
		}
		return v.onRead(msg), nil
	case viewerSearchMsg:
		if msg.viewer != v.id || msg.gen != v.search.gen {
			return v, nil
		}
		return v.onSearch(msg)
	case viewerDiffMsg:
		if msg.viewer != v.id || msg.gen != v.contentGen {
			return v, nil
		}
		return v.onDiff(msg), nil
	case viewerPreviewMsg:
		n := v.tree.selected()
		if msg.viewer != v.id || msg.seq != v.previewSeq || n == nil || n.path != msg.member || v.showing(msg.member) {
			return v, nil
		}
		return v.readMember(msg.member, nil)
	}
	if v.prompting {
		var cmd tea.Cmd
		v.input, cmd = v.input.Update(msg)
		return v, cmd
	}
	return v, nil
}

func (v Model) onHead(msg viewerHeadMsg) (Model, tea.Cmd) {
	if msg.err != nil {
		v.openErr = viewerProblem(msg.err)
		v.setContent(viewerContent{kind: contentError, title: "cannot open", plain: []string{style.GlyphFail + " " + v.openErr}}, true)
		return v, nil
	}
	v.opened = true
	v.overview.size, v.overview.head = msg.size, msg.head
	v.ids = viewerAbbrevIDs(v.knownIDs(nil))
	v.names = viewerNodeNames(v.opts, msg.head, nil)
	v.setContent(viewerContent{kind: contentOverview, title: "overview"}, true)
	v.refreshOverview()
	return v, v.listCmd("")
}

func (v Model) onList(msg viewerListMsg) (Model, tea.Cmd) {
	if msg.parent != "" {
		v.tree.setNested(msg.parent, msg.members, msg.err)
		if v.pendingSelect != "" {
			if p, _ := sysdump.SplitNested(v.pendingSelect); p == msg.parent {
				if !v.tree.selectPath(v.pendingSelect) {
					v.note = viewerShowName(v.pendingSelect, v.names, v.ids) + " is not in the listing"
				}
				v.pendingSelect = ""
			}
		}
		return v, nil
	}
	if msg.err != nil {
		v.overview.listErr = viewerProblem(msg.err)
		v.note = style.GlyphFail + " " + v.overview.listErr
	}
	v.ids = viewerAbbrevIDs(v.knownIDs(msg.members))
	v.names = viewerNodeNames(v.opts, v.overview.head, msg.metas)
	v.tree.setOuter(msg.members, v.names, v.ids)
	v.overview.members, v.overview.nested = 0, 0
	for _, m := range msg.members {
		if !m.IsDir() {
			v.overview.members++
		}
		if m.Nested {
			v.overview.nested++
		}
	}
	if v.content.kind == contentOverview {
		v.refreshOverview()
	}
	var cmd tea.Cmd
	if v.pendingSelect != "" {
		v, cmd = v.revealMember(v.pendingSelect)
	}
	return v, cmd
}

// viewerNodeNames names each node id: the inventory's name (by id, else
// by the host of the node's address), else the host itself, taken from the
// archive: the node's meta.json, else the cluster membership, else the
// overview.
func viewerNodeNames(opts Options, h sysdump.Head, metas map[string]sysdump.NodeMeta) map[string]string {
	addrs := map[string]string{} // node id -> address, the better source later
	if h.Overview != nil {
		for _, n := range h.Overview.Nodes {
			addrs[n.NodeID] = n.Addr
		}
	}
	if h.Failures != nil {
		for _, f := range h.Failures.Failures {
			addrs[f.NodeID] = f.Addr
		}
	}
	if h.Membership != nil {
		for _, n := range h.Membership.Nodes {
			if n.Addr != "" {
				addrs[n.NodeID] = n.Addr
			}
		}
	}
	for id, m := range metas {
		if m.Addr != "" {
			addrs[id] = m.Addr
		}
	}
	names := map[string]string{}
	for id, addr := range addrs {
		host := addr
		if hh, _, err := net.SplitHostPort(addr); err == nil {
			host = hh
		}
		switch {
		case id == "" || host == "":
		case opts.HostNames[host] != "":
			names[id] = opts.HostNames[host]
		default:
			names[id] = host
		}
	}
	for id, n := range opts.NodeNames {
		if n != "" {
			names[id] = n
		}
	}
	return names
}

// knownIDs is every node id in the overview and the member paths.
func (v Model) knownIDs(members []sysdump.ArchiveMember) []string {
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if ov := v.overview.head.Overview; ov != nil {
		add(ov.LeaderNodeID)
		for _, n := range ov.Nodes {
			add(n.NodeID)
		}
	}
	if f := v.overview.head.Failures; f != nil {
		for _, x := range f.Failures {
			add(x.NodeID)
		}
	}
	for _, m := range members {
		add(viewerNodeID(m.Path))
	}
	sort.Strings(ids)
	return ids
}

func (v Model) onRead(msg viewerReadMsg) Model {
	title := viewerShowName(msg.member, v.names, v.ids)
	if msg.err != nil {
		v.setContent(viewerContent{kind: contentError, member: msg.member, title: title,
			plain: []string{style.GlyphFail + " " + viewerProblem(msg.err)}}, true)
		return v
	}
	v.setContent(viewerContent{kind: contentMember, member: msg.member, title: title + "  " + rollout.HumanBytes(msg.size),
		plain: msg.text.lines, json: msg.text.json, lead: msg.text.lead}, true)
	if msg.hit != nil {
		v.scrollToHit(*msg.hit)
	}
	return v
}

func (v Model) onSearch(msg viewerSearchMsg) (Model, tea.Cmd) {
	v.search.running, v.search.cancel = false, nil
	v.search.hits, v.search.capped, v.search.idx = msg.hits, msg.capped, 0
	if msg.err != nil {
		v.search.err = viewerProblem(msg.err)
	}
	if len(v.search.hits) == 0 {
		return v, nil
	}
	return v.gotoHit(0)
}

func (v Model) onDiff(msg viewerDiffMsg) Model {
	title := "diff " + viewerShowName(msg.member, v.names, v.ids)
	if msg.res.err != nil {
		v.setContent(viewerContent{kind: contentError, member: msg.member, title: title,
			plain: []string{style.GlyphFail + " " + viewerProblem(msg.res.err)}}, true)
		return v
	}
	v.setContent(viewerContent{kind: contentDiff, member: msg.member, title: title, plain: msg.res.lines}, true)
	return v
}

func (v Model) onKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := v.keys
	if v.prompting {
		switch {
		case key.Matches(msg, k.Run):
			return v.startSearch(strings.TrimSpace(v.input.Value()))
		case key.Matches(msg, k.Cancel):
			v.prompting = false
			v.input.Blur()
			v.clearSearch()
			return v, nil
		}
		var cmd tea.Cmd
		v.input, cmd = v.input.Update(msg)
		return v, cmd
	}
	v.note = ""
	if v.openErr != "" {
		if key.Matches(msg, k.Back) && v.opts.Embedded {
			return v, func() tea.Msg { return ClosedMsg{} }
		}
		return v, nil
	}
	switch {
	case key.Matches(msg, k.Focus, k.FocusBack):
		v.focus = 1 - v.focus
		return v, nil
	case key.Matches(msg, k.Search):
		v.prompting = true
		v.input.SetValue(v.search.query)
		v.input.CursorEnd()
		return v, v.input.Focus()
	case key.Matches(msg, k.Next):
		return v.stepHit(1)
	case key.Matches(msg, k.Prev):
		return v.stepHit(-1)
	case key.Matches(msg, k.Diff):
		return v.toggleDiff()
	case key.Matches(msg, k.AllFields) && v.content.kind == contentDiff:
		return v.toggleDiffAll()
	case key.Matches(msg, k.Back):
		switch {
		case v.focus == viewerFocusContent:
			v.focus = viewerFocusTree
		case v.search.query != "":
			v.clearSearch()
		case v.opts.Embedded:
			return v, func() tea.Msg { return ClosedMsg{} }
		}
		return v, nil
	}
	if v.focus == viewerFocusContent {
		return v.onContentKey(msg), nil
	}
	before := v.tree.selected()
	v, cmd := v.onTreeKey(msg)
	if n := v.tree.selected(); n != nil && n != before {
		v.search.moved = true // the hit status named the member left
		v, preview := v.preview(n)
		return v, tea.Batch(cmd, preview)
	}
	return v, cmd
}

// preview shows what the tree's cursor moved to: the overview at once, a
// member once the cursor rests on it.
func (v Model) preview(n *treeNode) (Model, tea.Cmd) {
	v.previewSeq++
	switch n.kind {
	case treeOverview:
		if v.opened && v.content.kind != contentOverview {
			v.showOverview()
		}
	case treeFile:
		if v.showing(n.path) {
			return v, nil
		}
		id, seq, member := v.id, v.previewSeq, n.path
		return v, tea.Tick(viewerPreviewDelay, func(time.Time) tea.Msg {
			return viewerPreviewMsg{viewer: id, seq: seq, member: member}
		})
	}
	return v, nil
}

// showing reports whether the content pane shows member, or is reading it.
func (v Model) showing(member string) bool {
	return (v.content.kind == contentMember || v.content.kind == contentLoading) && v.content.member == member
}

func (v Model) onTreeKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := v.keys
	page := max(1, v.tree.height-1)
	switch {
	case key.Matches(msg, k.Up):
		v.tree.move(-1)
	case key.Matches(msg, k.Down):
		v.tree.move(1)
	case key.Matches(msg, k.PageUp):
		v.tree.move(-page)
	case key.Matches(msg, k.PageDown):
		v.tree.move(page)
	case key.Matches(msg, k.Top):
		v.tree.move(-len(v.tree.rows))
	case key.Matches(msg, k.Bottom):
		v.tree.move(len(v.tree.rows))
	case key.Matches(msg, k.Open):
		return v.openSelected(true)
	case key.Matches(msg, k.Expand):
		return v.openSelected(false)
	case key.Matches(msg, k.Collapse):
		n := v.tree.selected()
		if n == nil {
			break
		}
		if (n.kind == treeDir || n.kind == treeArchive) && n.expanded {
			n.expanded = false
			v.tree.flatten()
			break
		}
		if n.parent != nil && n.parent != v.tree.root {
			for i, r := range v.tree.rows {
				if r == n.parent {
					v.tree.cursor = i
				}
			}
			v.tree.scrollToCursor()
		}
	}
	return v, nil
}

func (v Model) onContentKey(msg tea.KeyPressMsg) Model {
	k := v.keys
	if k.Keys.Viewport(&v.vp, msg) {
		return v
	}
	switch {
	case key.Matches(msg, k.Left):
		v.vp.ScrollLeft(8)
	case key.Matches(msg, k.Right):
		v.vp.ScrollRight(8)
	}
	return v
}

// openSelected acts on the tree's cursor: a file is read (and, with
// focus, the content pane takes the keys); a folder or nested archive
// opens, or closes again on enter.
func (v Model) openSelected(focus bool) (Model, tea.Cmd) {
	n := v.tree.selected()
	if n == nil {
		return v, nil
	}
	switch n.kind {
	case treeOverview:
		if !v.opened {
			return v, nil
		}
		v.showOverview()
		if focus {
			v.focus = viewerFocusContent
		}
	case treeDir:
		n.expanded = !n.expanded || !focus
		v.tree.flatten()
	case treeArchive:
		if n.expanded && focus {
			n.expanded = false
			v.tree.flatten()
			return v, nil
		}
		return v.expandArchive(n)
	case treeFile:
		if focus {
			v.focus = viewerFocusContent
		}
		if v.content.kind == contentMember && v.content.member == n.path {
			return v, nil
		}
		return v.readMember(n.path, nil)
	}
	return v, nil
}

func (v Model) expandArchive(n *treeNode) (Model, tea.Cmd) {
	n.expanded = true
	if n.loaded || n.loading {
		v.tree.flatten()
		return v, nil
	}
	n.loading = true
	n.children = []*treeNode{{kind: treeNote, label: "listing…", depth: n.depth + 1, parent: n}}
	v.tree.flatten()
	return v, v.listCmd(n.path)
}

func (v Model) readMember(member string, hit *viewerHit) (Model, tea.Cmd) {
	v.contentGen++
	v.previous = nil
	v.setContent(viewerContent{kind: contentLoading, member: member, title: viewerShowName(member, v.names, v.ids),
		plain: []string{"reading…"}}, true)
	return v, v.readCmd(member, hit)
}

func (v *Model) showOverview() {
	v.contentGen++ // a read under way is no longer wanted
	v.previous = nil
	v.setContent(viewerContent{kind: contentOverview, title: "overview"}, true)
	v.refreshOverview()
}

func (v *Model) refreshOverview() {
	if v.openErr != "" || v.content.kind != contentOverview {
		return
	}
	styled := viewerOverviewLines(v.st, v.overview, v.names, v.ids, max(0, v.vp.Width()))
	plain := make([]string, len(styled))
	for i, l := range styled {
		plain[i] = ansi.Strip(l)
	}
	y := v.vp.YOffset()
	v.content.plain, v.content.styled = plain, styled
	v.setContent(v.content, false)
	v.vp.SetYOffset(y)
}

// setContent shows c; top scrolls back to its first line.
func (v *Model) setContent(c viewerContent, top bool) {
	y := v.vp.YOffset()
	v.content = c
	v.vp.SetContentLines(viewerStyleLines(v.st, c, v.search.re))
	if top {
		v.vp.GotoTop()
		v.vp.SetXOffset(0)
	} else {
		v.vp.SetYOffset(y)
	}
}

// currentMember is the file d acts on: the tree's cursor in the tree,
// else the member shown.
func (v Model) currentMember() string {
	if v.focus == viewerFocusTree {
		if n := v.tree.selected(); n != nil && n.kind == treeFile {
			return n.path
		}
	}
	switch v.content.kind {
	case contentMember, contentDiff, contentError:
		return v.content.member
	}
	return ""
}

func (v Model) diffable() bool { return v.currentMember() != "" }

func (v Model) toggleDiff() (Model, tea.Cmd) {
	member := v.currentMember()
	if member == "" {
		v.note = "select a file to diff"
		return v, nil
	}
	if v.opts.Baseline == "" {
		if v.opts.Embedded {
			v.note = style.GlyphWarn + " no baseline sysdump yet: the run takes one before its first step"
		} else {
			v.note = style.GlyphWarn + " no baseline sysdump: run nwroll view FILE --baseline EARLIER.tar.gz to diff"
		}
		return v, nil
	}
	if v.content.kind == contentDiff && v.content.member == member {
		if v.previous != nil {
			prev := *v.previous
			v.previous = nil
			v.contentGen++
			v.setContent(prev, true)
			return v, nil
		}
		return v.readMember(member, nil)
	}
	var prev *viewerContent
	if v.content.kind == contentMember && v.content.member == member {
		c := v.content
		prev = &c
	}
	v.contentGen++
	v.setContent(viewerContent{kind: contentLoading, member: member, title: "diff " + viewerShowName(member, v.names, v.ids),
		plain: []string{"diffing against " + filepath.Base(v.opts.Baseline) + "…"}}, true)
	v.previous = prev
	return v, v.diffCmd(member)
}

// toggleDiffAll shows the volatile fields in the diff shown, or hides them
// again; the diff is made again, what it replaced kept for d.
func (v Model) toggleDiffAll() (Model, tea.Cmd) {
	v.diffAll = !v.diffAll
	member, prev := v.content.member, v.previous
	v.contentGen++
	what := "hiding volatile fields"
	if v.diffAll {
		what = "every field"
	}
	v.setContent(viewerContent{kind: contentLoading, member: member, title: "diff " + viewerShowName(member, v.names, v.ids),
		plain: []string{"diffing against " + filepath.Base(v.opts.Baseline) + ", " + what + "…"}}, false)
	v.previous = prev
	return v, v.diffCmd(member)
}

func (v Model) startSearch(query string) (Model, tea.Cmd) {
	v.prompting = false
	v.input.Blur()
	v.clearSearch()
	if query == "" {
		return v, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.search.query, v.search.running, v.search.cancel = query, true, cancel
	v.search.re = viewerQueryRegexp(query)
	v.restyle()
	return v, v.searchCmd(ctx, query)
}

// clearSearch ends the search: a walk under way is cancelled and its
// result, should it still arrive, is dropped by the new generation.
func (v *Model) clearSearch() {
	if v.search.cancel != nil {
		v.search.cancel()
	}
	v.search = viewerSearchState{gen: v.search.gen + 1}
	v.restyle()
}

func (v *Model) restyle() {
	if v.content.kind == contentMember {
		v.setContent(v.content, false)
	}
}

func (v Model) stepHit(delta int) (Model, tea.Cmd) {
	n := len(v.search.hits)
	if n == 0 {
		if v.search.query != "" && !v.search.running {
			v.note = "no hits for " + v.search.query
		}
		return v, nil
	}
	return v.gotoHit(((v.search.idx+delta)%n + n) % n)
}

// gotoHit shows hit i: its member selected in the tree (its archive
// listed first if need be) and its content scrolled to the line.
func (v Model) gotoHit(i int) (Model, tea.Cmd) {
	v.search.idx, v.search.moved = i, false
	h := v.search.hits[i]
	var cmds []tea.Cmd
	var cmd tea.Cmd
	v, cmd = v.revealMember(h.member)
	cmds = append(cmds, cmd)
	if n := v.tree.byPath[h.member]; n != nil && n.kind == treeArchive {
		return v, tea.Batch(cmds...)
	}
	if h.line > 0 && v.content.kind == contentMember && v.content.member == h.member {
		v.scrollToHit(h)
		return v, tea.Batch(cmds...)
	}
	if v.content.kind == contentLoading && v.content.member == h.member {
		return v, tea.Batch(cmds...)
	}
	hit := h
	v, cmd = v.readMember(h.member, &hit)
	cmds = append(cmds, cmd)
	return v, tea.Batch(cmds...)
}

// revealMember moves the tree's cursor to member, listing its nested
// archive first when that has not been done.
func (v Model) revealMember(member string) (Model, tea.Cmd) {
	if v.tree.selectPath(member) {
		v.pendingSelect = ""
		return v, nil
	}
	v.pendingSelect = member
	parent, _ := sysdump.SplitNested(member)
	if n := v.tree.byPath[parent]; n != nil && n.kind == treeArchive && !n.loaded {
		var cmd tea.Cmd
		v, cmd = v.expandArchive(n)
		v.tree.selectPath(parent)
		return v, cmd
	}
	return v, nil
}

// scrollToHit scrolls the content to a hit's line. Pretty-printed JSON
// has other lines than the member, so there the hit is found by counting
// matching lines instead.
func (v *Model) scrollToHit(h viewerHit) {
	if h.line <= 0 {
		return
	}
	target := v.content.lead + h.line - 1
	if v.content.json && v.search.re != nil {
		nth := 0
		for _, o := range v.search.hits {
			if o == h {
				break
			}
			if o.member == h.member && o.line > 0 {
				nth++
			}
		}
		target = -1
		for i, l := range v.content.plain {
			if v.search.re.MatchString(l) {
				if nth == 0 {
					target = i
					break
				}
				nth--
			}
		}
		if target < 0 {
			return
		}
	}
	v.vp.SetYOffset(max(0, target-v.vp.Height()/3))
}

// View renders the viewer at exactly the size given to SetSize.
func (v Model) View() string {
	w, h := v.width, v.height
	if w <= 0 || h <= 0 {
		return ""
	}
	if w < viewerMinWidth || h < viewerMinHeight {
		return viewerBlock([]string{fmt.Sprintf("the viewer needs at least %dx%d", viewerMinWidth, viewerMinHeight)}, w, h)
	}
	if v.openErr != "" {
		lines := strings.Split(ansi.Wrap(v.st.Fail.Render(style.GlyphFail+" "+v.openErr), w, " /"), "\n")
		if v.opts.Embedded {
			lines = append(lines, "", v.st.Dim.Render("esc closes the viewer"))
		}
		return viewerBlock(lines, w, h)
	}
	treeW, contentW := v.paneWidths()
	bodyH := h - 1

	treeTitle := "members"
	switch {
	case v.overview.members >= 0:
		treeTitle = fmt.Sprintf("members (%d)", v.overview.members)
	case v.overview.listErr == "":
		treeTitle = "members (listing…)"
	}
	treeLines := v.tree.view(v.st, treeW-2, max(0, bodyH-3), v.focus == viewerFocusTree)
	left := v.pane(treeTitle, "", treeLines, treeW, bodyH, v.focus == viewerFocusTree)

	var body []string
	for _, l := range strings.Split(v.vp.View(), "\n") {
		body = append(body, viewerPad(l, contentW-2))
	}
	for len(body) < bodyH-3 {
		body = append(body, strings.Repeat(" ", contentW-2))
	}
	right := v.pane(v.content.title, v.position(), body[:max(0, bodyH-3)], contentW, bodyH, v.focus == viewerFocusContent)

	return lipgloss.JoinHorizontal(lipgloss.Top, left, right) + "\n" + viewerPad(v.statusLine(), w)
}

// pane draws a bordered box of w×h with a title row.
func (v Model) pane(title, right string, body []string, w, h int, focused bool) string {
	iw := max(0, w-2)
	sty := v.st.Pane
	if focused {
		sty = v.st.PaneFocused
	}
	rw := ansi.StringWidth(right)
	t := v.st.PaneTitle.Render(ansi.Truncate(title, max(0, iw-rw-1), "…"))
	t = viewerPad(t, max(0, iw-rw)) + v.st.Dim.Render(right)
	lines := append([]string{viewerPad(t, iw)}, body...)
	for len(lines) < h-2 {
		lines = append(lines, strings.Repeat(" ", iw))
	}
	return sty.Render(strings.Join(lines[:max(0, h-2)], "\n"))
}

// position is where the content pane is scrolled to.
func (v Model) position() string {
	total := v.vp.TotalLineCount()
	if total <= v.vp.Height() || v.content.kind == contentLoading {
		return ""
	}
	return fmt.Sprintf("%d%%", int(v.vp.ScrollPercent()*100))
}

func (v Model) statusLine() string {
	if v.prompting {
		return v.input.View()
	}
	s := v.search
	switch {
	case s.query == "" && v.note != "":
		return v.note
	case s.query == "" && v.opts.Embedded:
		return v.st.Dim.Render(v.overview.file + "  " + rollout.HumanBytes(v.overview.size))
	case s.query == "":
		return ""
	}
	q := v.st.Key.Render("/" + s.query)
	switch {
	case s.running:
		return q + "  searching names and content…"
	case s.err != "":
		return q + "  " + v.st.Fail.Render(style.GlyphFail+" "+s.err)
	case len(s.hits) == 0:
		return q + "  no hits"
	}
	total := fmt.Sprint(len(s.hits))
	if s.capped {
		total += "+"
	}
	if s.moved {
		line := fmt.Sprintf("%s  %s hits  n/N: next/previous", q, total)
		if v.note != "" {
			line += "  " + v.note
		}
		return line
	}
	h := s.hits[s.idx]
	where := viewerShowName(h.member, v.names, v.ids)
	if h.line > 0 {
		where += fmt.Sprintf(":%d", h.line)
	} else {
		where += " (name)"
	}
	line := fmt.Sprintf("%s  hit %d/%s  %s", q, s.idx+1, total, where)
	if v.note != "" {
		line += "  " + v.note
	}
	return line
}

// viewerBlock pads lines to exactly w×h.
func viewerBlock(lines []string, w, h int) string {
	out := make([]string, h)
	for i := range out {
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		out[i] = viewerPad(l, w)
	}
	return strings.Join(out, "\n")
}
