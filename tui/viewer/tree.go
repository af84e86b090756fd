package viewer

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/tui/style"
)

type treeKind int

const (
	treeOverview treeKind = iota
	treeDir
	treeFile
	treeArchive // a nested sysdump, listed when first expanded
	treeNote    // "listing…" or a damage report under an archive
)

type treeNode struct {
	kind     treeKind
	label    string
	suffix   string // shown dim after the label: a node's name or role
	path     string // member path; a dir's is its prefix
	size     int64
	depth    int
	expanded bool
	loading  bool
	loaded   bool
	err      string
	parent   *treeNode
	children []*treeNode
}

// memberTree is the viewer's left pane: the overview entry, then the
// archive's members. Nested archives are listed lazily, in place.
type memberTree struct {
	root   *treeNode
	rows   []*treeNode // visible rows, in order
	byPath map[string]*treeNode
	cursor int
	offset int
	height int
	names  map[string]string // node id -> label suffix
	ids    map[string]string // node id -> abbreviation
}

func newMemberTree() memberTree {
	root := &treeNode{kind: treeDir, expanded: true, depth: -1}
	root.children = []*treeNode{{kind: treeOverview, label: "overview", parent: root}}
	t := memberTree{root: root, byPath: map[string]*treeNode{}}
	t.flatten()
	return t
}

// setOuter fills the tree with the outer members. A cluster sysdump's few
// outer members are listed flat, with node ids shortened; any other
// archive is shown as directories.
func (t *memberTree) setOuter(members []sysdump.ArchiveMember, names, ids map[string]string) {
	t.names, t.ids = names, ids
	overview := t.root.children[0]
	t.root.children = []*treeNode{overview}
	cluster := false
	for _, m := range members {
		if m.Nested || m.Path == sysdump.ManifestPath {
			cluster = true
		}
	}
	if !cluster {
		t.addDirs(t.root, members, 0)
		t.flatten()
		return
	}
	for _, m := range members {
		if m.IsDir() {
			continue
		}
		n := &treeNode{kind: treeFile, label: viewerShortPath(m.Path, ids), path: m.Path, size: m.Size, parent: t.root}
		if m.Nested {
			n.kind = treeArchive
			if id := viewerNodeID(m.Path); id != "" {
				n.suffix = names[id]
			}
		}
		t.root.children = append(t.root.children, n)
		t.byPath[m.Path] = n
	}
	t.flatten()
}

// setNested fills a nested archive's node with its listing.
func (t *memberTree) setNested(parent string, members []sysdump.ArchiveMember, err error) {
	n := t.byPath[parent]
	if n == nil {
		return
	}
	n.loading, n.loaded = false, true
	n.children = nil
	switch {
	case err != nil:
		n.err = viewerProblem(err)
	case len(members) > 0 && members[0].Path == parent && members[0].Err != "":
		n.err = members[0].Err
		members = nil
	}
	var intact []sysdump.ArchiveMember
	damage := ""
	for _, m := range members {
		if m.Err != "" {
			damage = m.Err
			continue
		}
		intact = append(intact, m)
	}
	t.addDirs(n, intact, n.depth+1)
	switch {
	case n.err != "":
		n.children = append(n.children, &treeNode{kind: treeNote, label: style.GlyphFail + " " + n.err, err: n.err, depth: n.depth + 1, parent: n})
	case damage != "":
		n.children = append(n.children, &treeNode{kind: treeNote, label: style.GlyphFail + " damaged: " + damage, err: damage, depth: n.depth + 1, parent: n})
	case len(intact) == 0:
		n.children = append(n.children, &treeNode{kind: treeNote, label: "(empty)", depth: n.depth + 1, parent: n})
	}
	t.flatten()
}

// addDirs adds members under parent as a directory tree, in archive
// order; a directory holding only one directory is shown as one row.
func (t *memberTree) addDirs(parent *treeNode, members []sysdump.ArchiveMember, depth int) {
	dirs := map[string]*treeNode{}
	prefix := ""
	if parent.kind == treeArchive {
		prefix = parent.path + sysdump.NestedSep
	}
	var dirOf func(dir string) *treeNode
	dirOf = func(dir string) *treeNode {
		if dir == "" {
			return parent
		}
		if d, ok := dirs[dir]; ok {
			return d
		}
		up, base := "", dir
		if i := strings.LastIndex(dir, "/"); i >= 0 {
			up, base = dir[:i], dir[i+1:]
		}
		p := dirOf(up)
		d := &treeNode{kind: treeDir, label: base + "/", path: prefix + dir + "/", expanded: true, parent: p}
		p.children = append(p.children, d)
		dirs[dir] = d
		return d
	}
	for _, m := range members {
		name := strings.TrimSuffix(m.Name, "/")
		if m.IsDir() {
			dirOf(name)
			continue
		}
		dir, base := "", name
		if i := strings.LastIndex(name, "/"); i >= 0 {
			dir, base = name[:i], name[i+1:]
		}
		p := dirOf(dir)
		n := &treeNode{kind: treeFile, label: base, path: m.Path, size: m.Size, parent: p}
		if m.Nested && m.Parent == "" {
			n.kind = treeArchive
		}
		p.children = append(p.children, n)
		t.byPath[m.Path] = n
	}
	for _, c := range parent.children {
		treeCompactDirs(c)
	}
	treeSetDepth(parent.children, depth)
}

// treeCompactDirs merges a directory whose only child is a directory into it.
func treeCompactDirs(n *treeNode) {
	if n.kind != treeDir {
		return
	}
	for len(n.children) == 1 && n.children[0].kind == treeDir {
		only := n.children[0]
		n.label += only.label
		n.path = only.path
		n.children = only.children
		for _, c := range n.children {
			c.parent = n
		}
	}
	for _, c := range n.children {
		treeCompactDirs(c)
	}
}

func treeSetDepth(nodes []*treeNode, depth int) {
	for _, n := range nodes {
		n.depth = depth
		treeSetDepth(n.children, depth+1)
	}
}

// flatten recomputes the visible rows, keeping the cursor on its node.
func (t *memberTree) flatten() {
	var sel *treeNode
	if t.cursor >= 0 && t.cursor < len(t.rows) {
		sel = t.rows[t.cursor]
	}
	t.rows = make([]*treeNode, 0, len(t.rows))
	var walk func(ns []*treeNode)
	walk = func(ns []*treeNode) {
		for _, n := range ns {
			t.rows = append(t.rows, n)
			if n.expanded {
				walk(n.children)
			}
		}
	}
	walk(t.root.children)
	t.cursor = 0
	for i, n := range t.rows {
		if n == sel {
			t.cursor = i
		}
	}
	t.scrollToCursor()
}

func (t memberTree) selected() *treeNode {
	if t.cursor < 0 || t.cursor >= len(t.rows) {
		return nil
	}
	return t.rows[t.cursor]
}

func (t *memberTree) move(delta int) {
	t.cursor = max(0, min(len(t.rows)-1, t.cursor+delta))
	t.scrollToCursor()
}

// selectPath moves the cursor to a member, expanding the folders above it.
// It reports false when the member is not in the tree (yet).
func (t *memberTree) selectPath(path string) bool {
	n := t.byPath[path]
	if n == nil {
		return false
	}
	for p := n.parent; p != nil && p != t.root; p = p.parent {
		p.expanded = true
	}
	t.flatten()
	for i, r := range t.rows {
		if r == n {
			t.cursor = i
		}
	}
	t.scrollToCursor()
	return true
}

func (t *memberTree) scrollToCursor() {
	h := max(1, t.height)
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if t.cursor >= t.offset+h {
		t.offset = t.cursor - h + 1
	}
	t.offset = max(0, min(t.offset, len(t.rows)-h))
}

// view renders height rows of exactly width cells.
func (t memberTree) view(st style.Styles, width, height int, focused bool) []string {
	lines := make([]string, 0, height)
	for i := t.offset; i < len(t.rows) && len(lines) < height; i++ {
		lines = append(lines, t.row(st, t.rows[i], width, i == t.cursor, focused))
	}
	for len(lines) < height {
		lines = append(lines, strings.Repeat(" ", width))
	}
	return lines
}

func (t memberTree) row(st style.Styles, n *treeNode, width int, selected, focused bool) string {
	cursor := "  "
	if selected {
		cursor = style.GlyphCursor + " "
	}
	glyph := "  "
	switch n.kind {
	case treeDir, treeArchive:
		glyph = style.GlyphExpand + " "
		if n.expanded {
			glyph = style.GlyphCollapse + " "
		}
		if n.err != "" {
			glyph = style.GlyphFail + " "
		}
	}
	lead := cursor + strings.Repeat("  ", max(0, n.depth)) + glyph
	room := width - ansi.StringWidth(lead)
	label, suffix := n.label, n.suffix
	if n.kind == treeArchive && n.loading {
		suffix = strings.TrimSpace(suffix + " listing…")
	}
	if suffix != "" {
		suffix = "  " + suffix
		if w := ansi.StringWidth(suffix); w > room/2 {
			suffix = ansi.Truncate(suffix, max(room/2, 0), "…")
		}
	}
	if strings.Contains(label, "/") {
		label = style.ShortPath(label, max(1, room-ansi.StringWidth(suffix))) // never a name cut in its middle
	} else {
		label = ansi.Truncate(label, max(0, room-ansi.StringWidth(suffix)), "…")
	}

	sty := st.TreeFile
	switch n.kind {
	case treeDir, treeArchive, treeOverview:
		sty = st.TreeDir
	case treeNote:
		sty = st.Dim
		if n.err != "" {
			sty = st.Fail
		}
	}
	if selected {
		sel := st.Selected
		if !focused {
			sel = st.Bold
		}
		return viewerPad(sel.Render(viewerPad(lead+label+suffix, width)), width)
	}
	return viewerPad(lead+sty.Render(label)+st.Dim.Render(suffix), width)
}

// viewerPad cuts or pads s to exactly w cells.
func viewerPad(s string, w int) string {
	if sw := ansi.StringWidth(s); sw > w {
		return ansi.Truncate(s, w, "")
	} else if sw < w {
		return s + strings.Repeat(" ", w-sw)
	}
	return s
}

// viewerNodeID is the <id> of nodes/<id>/..., or "".
func viewerNodeID(path string) string {
	rest, ok := strings.CutPrefix(path, "nodes/")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return id
}

// viewerShortPath shortens the node id in nodes/<id>/... to its
// abbreviation.
func viewerShortPath(path string, ids map[string]string) string {
	id := viewerNodeID(path)
	if short, ok := ids[id]; ok && id != "" {
		return "nodes/" + short + strings.TrimPrefix(path, "nodes/"+id)
	}
	return path
}

// viewerAbbrevIDs shortens each id to its shortest prefix of at least four
// digits that no other id shares, followed by "…".
func viewerAbbrevIDs(ids []string) map[string]string {
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		n := 4
		for ; n < len(id); n++ {
			unique := true
			for _, other := range ids {
				if other != id && strings.HasPrefix(other, id[:n]) {
					unique = false
					break
				}
			}
			if unique {
				break
			}
		}
		if n >= len(id)-1 {
			out[id] = id
			continue
		}
		out[id] = id[:n] + "…"
	}
	return out
}
