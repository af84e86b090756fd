package viewer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/tui/style"
)

// A three-node cluster sysdump as facts §4 describes it: taken through
// fw-a, leader fw-b, fw-c unreachable (so it has no nodes/<id>/ entries).
const (
	vtIDA = "83887612463901818417196338898998763023"
	vtIDB = "184084369126271976562412313366005177152"
	vtIDC = "259059077657543621134331918787586352630"
)

var vtNames = map[string]string{vtIDA: "fw-a", vtIDB: "fw-b", vtIDC: "fw-c"}

type vtFile struct {
	name string
	body []byte
	src  io.Reader // when set, size bytes come from src
	size int64
}

var vtTime = time.Date(2026, 4, 4, 10, 15, 30, 0, time.UTC)

// vtTarGz writes files as a gzip'd GNU tar. Level NoCompression keeps
// sizes (shown in goldens) independent of the flate implementation.
func vtTarGz(w io.Writer, level int, files []vtFile) error {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		size, src := int64(len(f.body)), io.Reader(bytes.NewReader(f.body))
		if f.src != nil {
			size, src = f.size, f.src
		}
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: size, ModTime: vtTime, Typeflag: tar.TypeReg, Format: tar.FormatGNU}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(tw, src, size); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func vtBytes(t testing.TB, files []vtFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := vtTarGz(&buf, gzip.NoCompression, files); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// vtNodeFiles is a per-node sysdump's members, in collection order.
func vtNodeFiles(uuid, host string, auditCount int) []vtFile {
	cmd := func(c string) []byte {
		return []byte("$ " + c + "\nexit_status: 0\n--- stdout ---\nok\n--- stderr ---\n")
	}
	return []vtFile{
		{name: "var/lib/neuwerk/bootstrap-token", body: []byte("redacted bootstrap token\n")},
		{name: "var/lib/neuwerk/cluster/raft.manifest.json", body: []byte(`[{"path":"CURRENT","kind":"file","size":16}]`)},
		{name: "var/lib/neuwerk/http-tls/node.key", body: []byte("redacted secret file: node.key\n")},
		{name: "var/lib/neuwerk/node_id", body: []byte(uuid + "\n")},
		{name: "etc/hostname", body: []byte(host + "\n")},
		{name: "etc/resolv.conf", body: []byte("nameserver 10.0.0.2\n")},
		{name: "proc/net/route", body: []byte("Iface\tDestination\tGateway\neth0\t00000000\t0101000A\n")},
		{name: "system/commands/systemctl-status-neuwerk.txt", body: cmd("systemctl status neuwerk.service --no-pager")},
		{name: "system/journal/neuwerk-service.log", body: []byte("Apr 04 10:00:01 " + host + " neuwerk[812]: starting\n" +
			"Apr 04 10:00:02 " + host + " neuwerk[812]: raft: joined cluster\n" +
			"Apr 04 10:00:03 " + host + " neuwerk[812]: policy replication caught up\n")},
		{name: "system/http/metrics-127.0.0.1-8080.prom", body: []byte("# TYPE raft_is_leader gauge\nraft_is_leader 0\n")},
		{name: "summary/state.json", body: []byte(`{"mode_guess":"cluster","node_id":"` + uuid + `","policies":[1,2]}`)},
		{name: "summary/audit.json", body: []byte(fmt.Sprintf(`{"finding_count":%d}`, auditCount))},
		{name: "summary/manifest.json", body: []byte(`{"generated_at":"2026-04-04T10:15:30.7Z","entries":[]}`)},
	}
}

const vtOverviewJSON = `{"generated_at":"2026-04-04T10:15:30.412873Z","partial":true,"leader_node_id":"` + vtIDB + `",` +
	`"node_count":3,"nodes_succeeded":2,"nodes_failed":1,"nodes":[` +
	`{"node_id":"` + vtIDB + `","addr":"10.0.1.12:9600","role":"leader","status":"ok","error":null,"state":null},` +
	`{"node_id":"` + vtIDC + `","addr":"10.0.1.13:9600","role":"unknown","status":"failed","error":"error sending request for url (https://10.0.1.13:8443/api/v1/support/sysdump/node)","state":null},` +
	`{"node_id":"` + vtIDA + `","addr":"10.0.1.11:9600","role":"follower","status":"ok","error":null,"state":null}]}`

// vtClusterFiles is the outer archive; nodeA and nodeB are the nested ones.
func vtClusterFiles(nodeA, nodeB []byte) []vtFile {
	meta := func(id, addr, role string) []byte {
		return []byte(fmt.Sprintf(`{"node_id":%q,"addr":%q,"role":%q,"state":null}`, id, addr, role))
	}
	return []vtFile{
		{name: "manifest.json", body: []byte(`{"generated_at":"2026-04-04T10:15:30.412873Z","partial":true,"nodes_succeeded":2,"nodes_failed":1}`)},
		{name: "cluster/overview.json", body: []byte(vtOverviewJSON)},
		{name: "cluster/failures.json", body: []byte(`{"failures":[{"node_id":"` + vtIDC + `","addr":"10.0.1.13:9600","error":"error sending request for url (https://10.0.1.13:8443/api/v1/support/sysdump/node)"}]}`)},
		{name: "cluster/membership.json", body: []byte(`{"current_term":7,"voted_for":"` + vtIDB + `","vote_committed":true,"last_log_index":1550,` +
			`"last_purged_index":0,"last_applied_index":1550,"membership_log_index":3,"joint_configs":[],"voter_count":3,"node_count":3,"nodes":[]}`)},
		{name: "nodes/" + vtIDA + "/meta.json", body: meta(vtIDA, "10.0.1.11:9600", "follower")},
		{name: "nodes/" + vtIDA + "/sysdump.tar.gz", body: nodeA},
		{name: "nodes/" + vtIDB + "/meta.json", body: meta(vtIDB, "10.0.1.12:9600", "leader")},
		{name: "nodes/" + vtIDB + "/sysdump.tar.gz", body: nodeB},
	}
}

// vtCluster builds the cluster sysdump; auditB sets node B's
// summary/audit.json finding_count, so a baseline can differ in one line.
func vtCluster(t testing.TB, auditB int) []byte {
	t.Helper()
	return vtBytes(t, vtClusterFiles(
		vtBytes(t, vtNodeFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", 12)),
		vtBytes(t, vtNodeFiles("8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40", "fw-b", auditB))))
}

// vtWrite puts data at a fixed file name in a fresh directory.
func vtWrite(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const vtDumpName = "neuwerk-cluster-sysdump-20260404T101530Z.tar.gz"

// vtDrive runs cmd and every command its messages lead to, feeding each
// message back into v, and returns v and the messages v did not consume
// (ClosedMsg).
func vtDrive(t testing.TB, v Model, cmd tea.Cmd) (Model, []tea.Msg) {
	t.Helper()
	return vtDriveEach(t, v, cmd, nil)
}

// vtDriveEach is vtDrive, calling each(msg) (if not nil) before v sees a
// message.
func vtDriveEach(t testing.TB, v Model, cmd tea.Cmd, each func(tea.Msg)) (Model, []tea.Msg) {
	t.Helper()
	var out []tea.Msg
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0; n++ {
		if n > 1000 {
			t.Fatal("commands do not settle")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case ClosedMsg:
			out = append(out, msg)
		default:
			if each != nil {
				each(msg)
			}
			var next tea.Cmd
			v, next = v.Update(msg)
			queue = append(queue, next)
		}
	}
	return v, out
}

// vtPress sends keys one by one, driving the commands each starts.
func vtPress(t testing.TB, v Model, keys ...string) (Model, []tea.Msg) {
	t.Helper()
	var out []tea.Msg
	for _, k := range keys {
		var cmd tea.Cmd
		v, cmd = v.Update(vtKey(k))
		var msgs []tea.Msg
		v, msgs = vtDrive(t, v, cmd)
		out = append(out, msgs...)
	}
	return v, out
}

func vtKey(s string) tea.KeyPressMsg {
	special := map[string]tea.Key{
		"enter": {Code: tea.KeyEnter}, "esc": {Code: tea.KeyEscape}, "tab": {Code: tea.KeyTab},
		"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift}, "up": {Code: tea.KeyUp}, "down": {Code: tea.KeyDown},
		"left": {Code: tea.KeyLeft}, "right": {Code: tea.KeyRight}, "pgdown": {Code: tea.KeyPgDown},
		"pgup": {Code: tea.KeyPgUp}, "space": {Code: tea.KeySpace, Text: " "}, "backspace": {Code: tea.KeyBackspace},
		"ctrl+c": {Code: 'c', Mod: tea.ModCtrl},
	}
	if k, ok := special[s]; ok {
		return tea.KeyPressMsg(k)
	}
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

func vtType(t testing.TB, v Model, text string) Model {
	t.Helper()
	for _, r := range text {
		v, _ = vtPress(t, v, string(r))
	}
	return v
}

// vtOpen opens path in a viewer of w×h and runs Init's commands.
func vtOpen(t testing.TB, opts Options, w, h int) Model {
	t.Helper()
	v := New(style.New(true, true), opts)
	v.SetSize(w, h)
	v, _ = vtDrive(t, v, v.Init())
	return v
}

func vtView(v Model) string { return ansi.Strip(v.View()) }

// vtSelect moves the tree's cursor to the row whose text contains label.
func vtSelect(t testing.TB, v Model, label string) Model {
	t.Helper()
	for i, r := range v.tree.rows {
		if strings.Contains(r.label+"  "+r.suffix, label) {
			v.tree.cursor = i
			v.tree.scrollToCursor()
			return v
		}
	}
	var rows []string
	for _, r := range v.tree.rows {
		rows = append(rows, r.label)
	}
	t.Fatalf("no tree row %q in %q", label, rows)
	return v
}

func vtRows(v Model) []string {
	var out []string
	for _, r := range v.tree.rows {
		out = append(out, strings.Repeat("  ", max(0, r.depth))+r.label)
	}
	return out
}

func TestViewerOpenShowsOverview(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path, NodeNames: vtNames}, 200, 50) // wide: nothing wraps
	if v.openErr != "" {
		t.Fatalf("open: %s", v.openErr)
	}
	if v.content.kind != contentOverview {
		t.Fatalf("first page is %v, want the overview", v.content.kind)
	}
	page := strings.Join(v.content.plain, "\n")
	for _, want := range []string{
		vtDumpName,
		"37.5 KiB · cluster sysdump\ngenerated 2026-04-04T10:15:30.412873Z",
		style.GlyphWarn + " partial: 2 of 3 nodes captured, 1 failed",
		style.GlyphLeader + " leader fw-b\n  id " + vtIDB,
		"term 7 · last log index 1550",
		"nodes (3)",
		"failed nodes (1)",
		"error sending request for url (https://10.0.1.13:8443/api/v1/support/sysdump/node)",
		"8 members, 2 nested node archives",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q:\n%s", want, page)
		}
	}
	// The node rows: leader first, each with its status glyph.
	var rows []string
	for _, l := range v.content.plain {
		if strings.Contains(l, ":9600") && !strings.HasPrefix(strings.TrimSpace(l), style.GlyphFail+" fw-c") {
			rows = append(rows, strings.Join(strings.Fields(l), " "))
		}
	}
	want := []string{
		style.GlyphLeader + " fw-b 1840… 10.0.1.12:9600 leader " + style.GlyphOK + " ok",
		"fw-c 2590… 10.0.1.13:9600 unknown " + style.GlyphFail + " failed",
		"fw-a 8388… 10.0.1.11:9600 follower " + style.GlyphOK + " ok",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("node rows:\n%q\nwant:\n%q", rows, want)
	}
	// The tree: the overview, then the outer members, node ids shortened
	// and nested archives labelled with the node's name.
	wantTree := []string{"overview", "manifest.json", "cluster/overview.json", "cluster/failures.json", "cluster/membership.json",
		"nodes/8388…/meta.json", "nodes/8388…/sysdump.tar.gz", "nodes/1840…/meta.json", "nodes/1840…/sysdump.tar.gz"}
	if got := vtRows(v); !slices.Equal(got, wantTree) {
		t.Errorf("tree = %q\nwant %q", got, wantTree)
	}
	if view := vtView(v); !strings.Contains(view, "nodes/1840…/sysdump.tar.gz  fw-b") {
		t.Errorf("nested archive not labelled with its node's name:\n%s", view)
	}
}

func TestViewerOverviewWithoutNamesOrCluster(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path}, 120, 40)
	page := strings.Join(v.content.plain, "\n")
	if !strings.Contains(page, style.GlyphLeader+" leader 10.0.1.12\n  id "+vtIDB) || !strings.Contains(page, "  "+style.GlyphFail+" 10.0.1.13  2590…  10.0.1.13:9600") {
		t.Errorf("without an inventory the overview names nodes by the archive's addresses:\n%s", page)
	}

	node := vtWrite(t, "neuwerk-sysdump-20260404T101530Z.tar.gz", vtBytes(t, vtNodeFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", 1)))
	v = vtOpen(t, Options{Path: node}, 100, 30)
	page = strings.Join(strings.Fields(strings.Join(v.content.plain, " ")), " ")
	if !strings.Contains(page, "KiB · per-node sysdump (no manifest.json or cluster/overview.json)") || !strings.Contains(page, "13 members") || strings.Contains(page, "partial") {
		t.Errorf("per-node overview:\n%s", page)
	}
	// A per-node sysdump is shown as folders.
	rows := vtRows(v)
	if !slices.Contains(rows, "var/lib/neuwerk/") || !slices.Contains(rows, "proc/net/") || !slices.Contains(rows, "    raft.manifest.json") {
		t.Errorf("per-node tree = %q", rows)
	}
}

func TestViewerExpandNestedArchive(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path, NodeNames: vtNames}, 120, 40)
	v = vtSelect(t, v, "nodes/1840…/sysdump.tar.gz")

	// The first key only starts the listing.
	v, cmd := v.Update(vtKey("right"))
	arch := v.tree.selected()
	if cmd == nil || !arch.loading || !strings.Contains(vtView(v), "listing…") {
		t.Fatalf("expanding did not start a listing: cmd %v, node %+v", cmd != nil, arch)
	}
	v, _ = vtDrive(t, v, cmd)
	rows := vtRows(v)
	i := slices.Index(rows, "nodes/1840…/sysdump.tar.gz")
	// Folders, with a chain of single folders shown as one row.
	want := []string{"nodes/1840…/sysdump.tar.gz", "  var/lib/neuwerk/", "    bootstrap-token", "    cluster/", "      raft.manifest.json",
		"    http-tls/", "      node.key", "    node_id", "  etc/", "    hostname", "    resolv.conf", "  proc/net/", "    route", "  system/",
		"    commands/", "      systemctl-status-neuwerk.txt", "    journal/", "      neuwerk-service.log", "    http/", "      metrics-127.0.0.1-8080.prom",
		"  summary/", "    state.json", "    audit.json", "    manifest.json"}
	if i < 0 || len(rows) < i+len(want) || !slices.Equal(rows[i:i+len(want)], want) {
		t.Fatalf("expanded tree:\n%s", strings.Join(rows, "\n"))
	}
	if v.tree.selected() != arch {
		t.Errorf("cursor moved off the archive while listing")
	}

	// left collapses it; expanding again does not list again.
	v, _ = vtPress(t, v, "left")
	if slices.Contains(vtRows(v), "  summary/") {
		t.Errorf("left did not collapse: %q", vtRows(v))
	}
	v, cmd = v.Update(vtKey("space"))
	if cmd != nil || !slices.Contains(vtRows(v), "  summary/") {
		t.Errorf("re-expanding: cmd %v, rows %q", cmd != nil, vtRows(v))
	}
	// left on a member goes to its folder, then collapses the folder.
	v = vtSelect(t, v, "audit.json")
	v, _ = vtPress(t, v, "left")
	if v.tree.selected().label != "summary/" {
		t.Errorf("left on a file selected %q", v.tree.selected().label)
	}
	v, _ = vtPress(t, v, "left")
	if slices.Contains(vtRows(v), "    audit.json") {
		t.Errorf("left did not collapse summary/: %q", vtRows(v))
	}
}

func TestViewerShowsJSONPrettyAndTextAsIs(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path, NodeNames: vtNames}, 120, 40)
	v = vtSelect(t, v, "nodes/8388…/sysdump.tar.gz")
	v, _ = vtPress(t, v, "enter")
	v = vtSelect(t, v, "state.json")
	v, _ = vtPress(t, v, "enter")

	if v.focus != viewerFocusContent || v.content.kind != contentMember || !v.content.json {
		t.Fatalf("enter on a JSON member: focus %v, content %+v", v.focus, v.content)
	}
	want := []string{"{", `  "mode_guess": "cluster",`, `  "node_id": "3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f",`,
		`  "policies": [`, "    1,", "    2", "  ]", "}"}
	if !slices.Equal(v.content.plain, want) {
		t.Errorf("pretty JSON:\n%s", strings.Join(v.content.plain, "\n"))
	}
	view := vtView(v)
	if !strings.Contains(view, `  "mode_guess": "cluster",`) || !strings.Contains(view, "fw-a!summary/state.json") {
		t.Errorf("view:\n%s", view)
	}
	// Keys are styled when colour is on.
	styled := New(style.New(true, false), Options{})
	lines := viewerStyleLines(styled.st, v.content, nil)
	if lines[1] == v.content.plain[1] || ansi.Strip(lines[1]) != v.content.plain[1] {
		t.Errorf("JSON key not styled: %q", lines[1])
	}

	// Text is shown as it is, tabs expanded.
	v, _ = vtPress(t, v, "esc")
	v = vtSelect(t, v, "route")
	v, _ = vtPress(t, v, "space")
	if v.focus != viewerFocusTree || v.content.json ||
		!slices.Equal(v.content.plain, []string{"Iface   Destination     Gateway", "eth0    00000000        0101000A"}) {
		t.Errorf("text member: focus %v, lines %q", v.focus, v.content.plain)
	}
}

func TestViewerCutsBigMembers(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 3<<14) // 3 MiB
	files := append(vtNodeFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", 1), vtFile{name: "system/journal/big.log", body: big})
	path := vtWrite(t, "neuwerk-sysdump-big.tar.gz", vtBytes(t, files))
	v := vtOpen(t, Options{Path: path, Baseline: path}, 100, 30)
	v = vtSelect(t, v, "big.log")
	v, _ = vtPress(t, v, "enter")
	if len(v.content.plain) == 0 || v.content.plain[0] != style.GlyphWarn+" cut: showing the first 1.0 MiB of 3.0 MiB" {
		t.Fatalf("big member: %q", v.content.plain[:min(2, len(v.content.plain))])
	}
	if n := len(v.content.plain) - 1; n != viewerShowLimit/64 {
		t.Errorf("%d lines shown, want %d", n, viewerShowLimit/64)
	}

	// A diff needs the whole member, and the reader refuses it plainly.
	huge := vtWrite(t, "neuwerk-sysdump-huge.tar.gz", vtBytes(t, []vtFile{{name: "huge.log", src: rand.NewChaCha8([32]byte{}), size: viewerDiffLimit + 1}}))
	v = vtOpen(t, Options{Path: huge, Baseline: huge}, 100, 30)
	v = vtSelect(t, v, "huge.log")
	v, _ = vtPress(t, v, "d")
	if v.content.kind != contentError || len(v.content.plain) != 1 || !strings.Contains(v.content.plain[0], "over the 8388608-byte cap") {
		t.Errorf("diff of a huge member: %+v", v.content)
	}
}

func TestViewerSearchNamesAndContent(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path, NodeNames: vtNames}, 120, 40)

	v, _ = vtPress(t, v, "/")
	if !v.Capturing() {
		t.Fatal("/ did not open the prompt")
	}
	v = vtType(t, v, "qn") // q and n are typed, not acted on
	v, _ = vtPress(t, v, "backspace", "backspace")
	v = vtType(t, v, "HOSTNAME")
	v, cmd := v.Update(vtKey("enter"))
	if v.Capturing() || !v.search.running || cmd == nil {
		t.Fatalf("enter: capturing %v, running %v", v.Capturing(), v.search.running)
	}
	v, _ = vtDrive(t, v, cmd)

	// etc/hostname in A and B match by name; no content says "hostname".
	type hit struct {
		member string
		line   int
	}
	var got []hit
	for _, h := range v.search.hits {
		got = append(got, hit{h.member, h.line})
	}
	a, b := sysdump.NodeArchivePath(vtIDA)+"!", sysdump.NodeArchivePath(vtIDB)+"!"
	want := []hit{{a + "etc/hostname", 0}, {b + "etc/hostname", 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("hits = %v\nwant %v", got, want)
	}

	// A content search: "raft" is in each journal (line 2), in the
	// raft.manifest.json names, and in each prom file's content.
	v, _ = vtPress(t, v, "/")
	v.input.SetValue("")
	v = vtType(t, v, "raft")
	v, _ = vtPress(t, v, "enter")
	got = nil
	for _, h := range v.search.hits {
		got = append(got, hit{h.member, h.line})
	}
	want = []hit{
		{a + "var/lib/neuwerk/cluster/raft.manifest.json", 0},
		{a + "system/journal/neuwerk-service.log", 2},
		{a + "system/http/metrics-127.0.0.1-8080.prom", 1},
		{a + "system/http/metrics-127.0.0.1-8080.prom", 2},
		{b + "var/lib/neuwerk/cluster/raft.manifest.json", 0},
		{b + "system/journal/neuwerk-service.log", 2},
		{b + "system/http/metrics-127.0.0.1-8080.prom", 1},
		{b + "system/http/metrics-127.0.0.1-8080.prom", 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("hits = %v\nwant %v", got, want)
	}
	// The first hit is shown: its archive listed, the member selected.
	if sel := v.tree.selected(); sel == nil || sel.path != want[0].member {
		t.Errorf("selected %+v, want %s", sel, want[0].member)
	}
	if s := ansi.Strip(v.statusLine()); s != "/raft  hit 1/8  fw-a!var/lib/neuwerk/cluster/raft.manifest.json (name)" {
		t.Errorf("status = %q", s)
	}

	// n steps to the journal hit: the member is read and scrolled to.
	v, _ = vtPress(t, v, "n")
	if v.search.idx != 1 || v.content.member != want[1].member || v.tree.selected().path != want[1].member {
		t.Fatalf("after n: idx %d, content %s", v.search.idx, v.content.member)
	}
	if s := ansi.Strip(v.statusLine()); s != "/raft  hit 2/8  fw-a!system/journal/neuwerk-service.log:2" {
		t.Errorf("status = %q", s)
	}
	if !strings.Contains(v.content.plain[1], "raft: joined cluster") {
		t.Errorf("journal content %q", v.content.plain)
	}
	// Matches are highlighted in colour mode.
	colour := style.New(true, false)
	if l := viewerStyleLines(colour, v.content, v.search.re)[1]; !strings.Contains(l, colour.Match.Render("raft")) {
		t.Errorf("match not highlighted: %q", l)
	}

	// Moving the cursor clears the hit from the status line; n goes on
	// from the hit.
	v, _ = vtPress(t, v, "down")
	if s := ansi.Strip(v.statusLine()); s != "/raft  8 hits  n/N: next/previous" {
		t.Errorf("status after the cursor moved = %q", s)
	}
	if view := vtView(v); strings.Contains(view, "hit 2/8") || !strings.Contains(view, "/raft  8 hits  n/N: next/previous") {
		t.Errorf("the screen still names the hit:\n%s", view)
	}
	v, _ = vtPress(t, v, "n", "N")
	if s := ansi.Strip(v.statusLine()); s != "/raft  hit 2/8  fw-a!system/journal/neuwerk-service.log:2" {
		t.Errorf("status after n N = %q", s)
	}

	// N back, and N again wraps to the last hit, which is in B, listed on demand.
	v, _ = vtPress(t, v, "N")
	if v.search.idx != 0 {
		t.Errorf("N: idx %d", v.search.idx)
	}
	v, _ = vtPress(t, v, "N")
	if v.search.idx != 7 || v.content.member != want[7].member || v.tree.selected().path != want[7].member {
		t.Errorf("wrap: idx %d, content %s, selected %+v", v.search.idx, v.content.member, v.tree.selected())
	}
	if !strings.Contains(vtView(v), "hit 8/8  fw-b!system/http/metrics-127.0.0.1-8080.prom:2") {
		t.Errorf("view:\n%s", vtView(v))
	}

	// esc turns the search off.
	v, _ = vtPress(t, v, "esc")
	if v.search.query != "" || len(v.search.hits) != 0 {
		t.Errorf("esc left the search on: %+v", v.search)
	}
}

func TestViewerDropsStaleResults(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path, NodeNames: vtNames}, 120, 40)

	v, _ = vtPress(t, v, "/")
	v = vtType(t, v, "hostname")
	v, first := v.Update(vtKey("enter"))
	v, _ = vtPress(t, v, "/")
	v.input.SetValue("")
	v = vtType(t, v, "raft")
	v, second := v.Update(vtKey("enter"))

	// The first search was cancelled; its answer arrives late anyway.
	old := first()
	v, cmd := v.Update(old)
	if cmd != nil || !v.search.running || v.search.query != "raft" || len(v.search.hits) != 0 {
		t.Fatalf("stale search result was used: %+v", v.search)
	}
	v, _ = vtDrive(t, v, second)
	if len(v.search.hits) != 8 || v.search.query != "raft" {
		t.Errorf("current search: %d hits", len(v.search.hits))
	}
	if v2, _ := v.Update(old); len(v2.search.hits) != 8 {
		t.Errorf("stale result replaced the current one")
	}

	// A slow read of one member must not replace a later one.
	v, _ = vtPress(t, v, "esc", "esc")
	v = vtSelect(t, v, "cluster/overview.json")
	v, slow := v.Update(vtKey("space"))
	v = vtSelect(t, v, "cluster/failures.json")
	v, fast := v.Update(vtKey("space"))
	v, _ = vtDrive(t, v, fast)
	v, _ = vtDrive(t, v, slow)
	if v.content.member != "cluster/failures.json" {
		t.Errorf("content = %s after a stale read", v.content.member)
	}

	// Another viewer's messages are not ours.
	other := vtOpen(t, Options{Path: path}, 80, 24)
	if _, cmd := other.Update(old); cmd != nil {
		t.Errorf("foreign message acted on")
	}
	if got, _ := other.Update(first()); len(got.search.hits) != 0 {
		t.Errorf("foreign search result used")
	}
}

func TestViewerDiffAgainstBaseline(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, vtDumpName)
	base := filepath.Join(dir, "neuwerk-cluster-sysdump-20260404T090000Z.tar.gz")
	if err := os.WriteFile(path, vtCluster(t, 13), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, vtCluster(t, 12), 0o600); err != nil {
		t.Fatal(err)
	}
	v := vtOpen(t, Options{Path: path, Baseline: base, NodeNames: vtNames}, 80, 24)
	v = vtSelect(t, v, "nodes/1840…/sysdump.tar.gz")
	v, _ = vtPress(t, v, "enter")
	v = vtSelect(t, v, "audit.json")
	v, _ = vtPress(t, v, "enter", "d")
	want := []string{
		"lines -1 +1 · none volatile hidden",
		"--- baseline  fw-b!summary/audit.json",
		"+++ this      fw-b!summary/audit.json",
		"@@ -1,3 +1,3 @@",
		" {",
		`-  "finding_count": 12`,
		`+  "finding_count": 13`,
		" }",
	}
	if v.content.kind != contentDiff || !slices.Equal(v.content.plain, want) {
		t.Fatalf("diff (%v):\n%s", v.content.kind, strings.Join(v.content.plain, "\n"))
	}

	// d again shows the member again, without reading it.
	v, cmd := v.Update(vtKey("d"))
	if cmd != nil || v.content.kind != contentMember || v.content.plain[1] != `  "finding_count": 13` {
		t.Errorf("second d: %+v", v.content)
	}

	// An unchanged member says so.
	v = vtSelect(t, v, "state.json")
	v, _ = vtPress(t, v, "tab", "d")
	if len(v.content.plain) != 1 || v.content.plain[0] != style.GlyphOK+" no differences: fw-b!summary/state.json is the same in the baseline" {
		t.Errorf("same member: %q", v.content.plain)
	}

	// Without a baseline, d says so.
	v = vtOpen(t, Options{Path: path}, 80, 24)
	v = vtSelect(t, v, "cluster/overview.json")
	v, cmd = v.Update(vtKey("d"))
	if cmd != nil || !strings.Contains(v.note, "no baseline sysdump") || !strings.Contains(vtView(v), "no baseline sysdump") {
		t.Errorf("no baseline: note %q", v.note)
	}
}

func TestViewerBadArchive(t *testing.T) {
	good := vtCluster(t, 12)
	notTar := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(bytes.Repeat([]byte("not a tar archive, just a log\n"), 50))
		_ = zw.Close()
		return buf.Bytes()
	}()
	tests := []struct {
		name, problem, fix string
		data               []byte
	}{
		{"missing", "no such file or directory", "check the path", nil},
		{"not gzip", "not a gzip file", "as downloaded, not an error body", []byte(`{"error":"admin role required"}`)},
		{"not tar", "not a tar archive", "pass a Neuwerk sysdump", notTar},
		{"truncated", "truncated", "download or copy the sysdump again", good[:300]},
		{"empty", "empty file", "as downloaded", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dump.tar.gz")
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			v := vtOpen(t, Options{Path: path, Embedded: true}, 200, 24)
			if !strings.Contains(v.openErr, tt.problem) || !strings.Contains(v.openErr, "— fix: ") || !strings.Contains(v.openErr, tt.fix) || !strings.Contains(v.openErr, path) {
				t.Errorf("error = %q, want the file, %q and the fix %q", v.openErr, tt.problem, tt.fix)
			}
			if strings.Contains(v.openErr, "\n") || strings.Contains(v.openErr, "goroutine") {
				t.Errorf("error is not one line: %q", v.openErr)
			}
			lines := strings.Split(vtView(v), "\n")
			if strings.TrimSpace(lines[0]) != style.GlyphFail+" "+v.openErr || strings.TrimSpace(lines[1]) != "" {
				t.Errorf("view:\n%s", strings.Join(lines, "\n"))
			}
			// Keys do nothing but esc, which closes an embedded viewer.
			v, cmd := v.Update(vtKey("enter"))
			if cmd != nil {
				t.Errorf("enter on an error started work")
			}
			if _, msgs := vtPress(t, v, "esc"); len(msgs) != 1 {
				t.Errorf("esc: %v", msgs)
			}
		})
	}

	// A tail cut off after the first members: the overview still shows,
	// with the damage on it.
	path := vtWrite(t, vtDumpName, good[:len(good)*3/4])
	v := vtOpen(t, Options{Path: path}, 120, 40)
	page := strings.Join(v.content.plain, "\n")
	if v.openErr != "" || !strings.Contains(page, "partial: 2 of 3") || !strings.Contains(page, "truncated") || !strings.Contains(page, "fix: download or copy") {
		t.Errorf("cut tail: openErr %q, overview:\n%s", v.openErr, page)
	}
}

func TestViewerFocusAndEsc(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	for _, embedded := range []bool{true, false} {
		v := vtOpen(t, Options{Path: path, Embedded: embedded}, 80, 24)
		v, _ = vtPress(t, v, "tab")
		if v.focus != viewerFocusContent {
			t.Fatal("tab did not focus the content")
		}
		v, _ = vtPress(t, v, "shift+tab")
		if v.focus != viewerFocusTree {
			t.Fatal("shift+tab did not focus the tree")
		}
		v, _ = vtPress(t, v, "tab", "esc")
		if v.focus != viewerFocusTree {
			t.Fatal("esc in the content did not go back to the tree")
		}
		v, _ = vtPress(t, v, "/")
		v = vtType(t, v, "x")
		v, msgs := vtPress(t, v, "esc")
		if v.Capturing() || len(msgs) != 0 {
			t.Fatal("esc in the prompt closed more than the prompt")
		}
		_, msgs = vtPress(t, v, "esc")
		if embedded != (len(msgs) == 1) {
			t.Errorf("embedded=%v: esc at the top gave %v", embedded, msgs)
		}
	}
}

func TestViewerContentScrolls(t *testing.T) {
	var body strings.Builder
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(&body, "line %03d\n", i)
	}
	path := vtWrite(t, "neuwerk-sysdump-long.tar.gz", vtBytes(t, []vtFile{{name: "long.txt", body: []byte(body.String())}}))
	v := vtOpen(t, Options{Path: path}, 80, 24)
	v = vtSelect(t, v, "long.txt")
	v, _ = vtPress(t, v, "enter", "j", "j")
	if v.vp.YOffset() != 2 {
		t.Errorf("j j: offset %d", v.vp.YOffset())
	}
	v, _ = vtPress(t, v, "G")
	if !v.vp.AtBottom() || !strings.Contains(vtView(v), "line 200") {
		t.Errorf("G: offset %d", v.vp.YOffset())
	}
	v, _ = vtPress(t, v, "g", "pgdown")
	if v.vp.YOffset() != v.vp.Height() {
		t.Errorf("pgdown: offset %d, height %d", v.vp.YOffset(), v.vp.Height())
	}
	// In the tree, G and g move the cursor.
	v, _ = vtPress(t, v, "esc", "G")
	if v.tree.cursor != len(v.tree.rows)-1 {
		t.Errorf("G in the tree: cursor %d of %d", v.tree.cursor, len(v.tree.rows))
	}
}

func TestViewerViewFillsItsSize(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path, NodeNames: vtNames}, 80, 24)
	for _, sz := range [][2]int{{80, 24}, {120, 40}, {41, 9}, {39, 30}, {200, 7}, {300, 80}} {
		v.SetSize(sz[0], sz[1])
		lines := strings.Split(v.View(), "\n")
		if len(lines) != sz[1] {
			t.Errorf("%dx%d: %d lines", sz[0], sz[1], len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w != sz[0] {
				t.Errorf("%dx%d: line %d is %d wide: %q", sz[0], sz[1], i, w, ansi.Strip(l))
				break
			}
		}
	}
}

func TestViewerGolden(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("overview_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			v := vtOpen(t, Options{Path: path, NodeNames: vtNames, Embedded: true}, sz[0], sz[1])
			golden.RequireEqual(t, []byte(vtView(v)))
		})
	}
	dir := t.TempDir()
	now, base := filepath.Join(dir, vtDumpName), filepath.Join(dir, "neuwerk-cluster-sysdump-20260404T090000Z.tar.gz")
	if err := os.WriteFile(now, vtCluster(t, 13), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, vtCluster(t, 12), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("diff_%dx%d", sz[0], sz[1]), func(t *testing.T) {
			v := vtOpen(t, Options{Path: now, Baseline: base, NodeNames: vtNames, Embedded: true}, sz[0], sz[1])
			v = vtSelect(t, v, "nodes/1840…/sysdump.tar.gz")
			v, _ = vtPress(t, v, "enter")
			v = vtSelect(t, v, "audit.json")
			v, _ = vtPress(t, v, "enter", "d")
			golden.RequireEqual(t, []byte(vtView(v)))
		})
	}
	t.Run("app_80x24", func(t *testing.T) {
		var m tea.Model = NewApp(style.New(true, true), Options{Path: path, NodeNames: vtNames})
		m, _ = m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		queue := []tea.Cmd{m.Init()}
		for len(queue) > 0 {
			c := queue[0]
			queue = queue[1:]
			if c != nil {
				var next tea.Cmd
				m, next = m.Update(c())
				queue = append(queue, next)
			}
		}
		golden.RequireEqual(t, []byte(ansi.Strip(m.View().Content)))
	})
	t.Run("expanded_120x40", func(t *testing.T) {
		v := vtOpen(t, Options{Path: path, NodeNames: vtNames, Embedded: true}, 120, 40)
		v = vtSelect(t, v, "nodes/8388…/sysdump.tar.gz")
		v, _ = vtPress(t, v, "enter")
		v = vtSelect(t, v, "state.json")
		v, _ = vtPress(t, v, "enter")
		golden.RequireEqual(t, []byte(vtView(v)))
	})
}

func TestViewerHelpIsLive(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path}, 80, 24)
	enabled := func(v Model) []string {
		var out []string
		for _, b := range v.ShortHelp() {
			if b.Enabled() {
				out = append(out, b.Help().Key)
			}
		}
		return out
	}
	if got := enabled(v); slices.Contains(got, "n/N") || slices.Contains(got, "d") || slices.Contains(got, "esc") || !slices.Contains(got, "enter") {
		t.Errorf("tree keys at the overview row: %q", got)
	}
	v = vtSelect(t, v, "cluster/overview.json")
	if got := enabled(v); !slices.Contains(got, "d") {
		t.Errorf("d not live on a file: %q", got)
	}
	v, _ = vtPress(t, v, "/")
	if got := enabled(v); !slices.Equal(got, []string{"enter", "esc"}) {
		t.Errorf("prompt keys: %q", got)
	}
	if n := len(v.FullHelp()); n != 1 {
		t.Errorf("full help while prompting has %d groups", n)
	}
}

func TestViewerUnifiedHunks(t *testing.T) {
	var a, b []string
	for i := 1; i <= 20; i++ {
		a = append(a, fmt.Sprint(i))
	}
	b = slices.Clone(a)
	b[1] = "two"                                   // hunk 1
	b = slices.Insert(b, 15, "fifteen and a half") // hunk 2, after line 15
	got, removed, added := viewerUnifiedDiff(a, b, a, b, "was", "now")
	want := []string{
		"--- was", "+++ now",
		"@@ -1,5 +1,5 @@", " 1", "-2", "+two", " 3", " 4", " 5",
		"@@ -13,6 +13,7 @@", " 13", " 14", " 15", "+fifteen and a half", " 16", " 17", " 18",
	}
	if !slices.Equal(got, want) || removed != 1 || added != 2 {
		t.Errorf("-%d +%d hunks:\n%s", removed, added, strings.Join(got, "\n"))
	}
	// Masked lines decide what differs; the real lines are shown.
	ma, mb := slices.Clone(a), slices.Clone(a)
	ma[1], mb[1] = "x", "x"
	got, removed, added = viewerUnifiedDiff(a, b, ma, slices.Insert(mb, 15, "fifteen and a half"), "was", "now")
	want = []string{"--- was", "+++ now", "@@ -13,6 +13,7 @@", " 13", " 14", " 15", "+fifteen and a half", " 16", " 17", " 18"}
	if !slices.Equal(got, want) || removed != 0 || added != 1 {
		t.Errorf("masked: -%d +%d hunks:\n%s", removed, added, strings.Join(got, "\n"))
	}
	if n := viewerHiddenCount(a, b, ma, slices.Insert(mb, 15, "fifteen and a half")); n != 1 {
		t.Errorf("hidden = %d, want 1", n)
	}
}

func TestViewerApp(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	var m tea.Model = NewApp(style.New(true, true), Options{Path: path, NodeNames: vtNames})
	run := func(cmd tea.Cmd) {
		queue := []tea.Cmd{cmd}
		for len(queue) > 0 {
			c := queue[0]
			queue = queue[1:]
			if c == nil {
				continue
			}
			switch msg := c().(type) {
			case tea.BatchMsg:
				queue = append(queue, msg...)
			case nil:
			default:
				var next tea.Cmd
				m, next = m.Update(msg)
				queue = append(queue, next)
			}
		}
	}
	m, _ = m.Update(tea.WindowSizeMsg{Width: 79, Height: 24})
	if v := m.View(); !v.AltScreen || strings.TrimRight(v.Content, " ") != "nwroll view needs a terminal of at least 80x24; this one is 79x24" {
		t.Errorf("too small: %q", v.Content)
	}
	m, _ = m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	run(m.Init())
	lines := strings.Split(ansi.Strip(m.View().Content), "\n")
	if len(lines) != 30 || !strings.HasPrefix(lines[0], vtDumpName+"  ") || !strings.Contains(lines[0], style.GlyphWarn+" partial") {
		t.Fatalf("app view (%d lines):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if last := lines[29]; !strings.Contains(last, "/ search") || !strings.Contains(last, "q quit") {
		t.Errorf("hint bar: %q", last)
	}
	// ? shows every key; the viewer shrinks to make room.
	m, _ = m.Update(vtKey("?"))
	full := ansi.Strip(m.View().Content)
	if len(strings.Split(full, "\n")) != 30 || !strings.Contains(full, "/ search") || !strings.Contains(full, "page down") {
		t.Errorf("full help:\n%s", full)
	}
	// While the prompt takes typing, q is a letter.
	m, _ = m.Update(vtKey("/"))
	if _, cmd := m.Update(vtKey("q")); cmd != nil {
		if _, ok := cmd().(tea.QuitMsg); ok {
			t.Error("q quit while typing a search")
		}
	}
	m, _ = m.Update(vtKey("esc"))
	_, cmd := m.Update(vtKey("q"))
	if cmd == nil {
		t.Fatal("q did nothing")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q did not quit")
	}
}

func TestViewerSanitizeAndAbbrev(t *testing.T) {
	if got := viewerSanitize("a\tb\x1b[31mred\x7f"); got != "a       b^[[31mred^?" {
		t.Errorf("sanitize = %q", got)
	}
	got := viewerAbbrevIDs([]string{"123456789", "123499999", "98765432101", "42"})
	want := map[string]string{"123456789": "12345…", "123499999": "12349…", "98765432101": "9876…", "42": "42"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("abbrev = %v", got)
	}
}

// vtWith is files with each of over replacing the member of its name, or
// added after them.
func vtWith(files []vtFile, over ...vtFile) []vtFile {
	out := slices.Clone(files)
	for _, o := range over {
		if i := slices.IndexFunc(out, func(f vtFile) bool { return f.name == o.name }); i >= 0 {
			out[i] = o
		} else {
			out = append(out, o)
		}
	}
	return out
}

// vtClusterB is the cluster sysdump with node B's members overridden.
func vtClusterB(t testing.TB, over ...vtFile) []byte {
	t.Helper()
	return vtBytes(t, vtClusterFiles(
		vtBytes(t, vtNodeFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", 12)),
		vtBytes(t, vtWith(vtNodeFiles("8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40", "fw-b", 12), over...))))
}

func TestViewerDiffHidesVolatileFields(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, vtDumpName)
	base := filepath.Join(dir, "neuwerk-cluster-sysdump-20260404T090000Z.tar.gz")
	health := func(gen string, uptime int, status, checked string) vtFile {
		return vtFile{name: "summary/health.json", body: []byte(fmt.Sprintf(
			`{"generated_at":%q,"uptime_seconds":%d,"status":%q,"checked_at":%q}`, gen, uptime, status, checked))}
	}
	if err := os.WriteFile(base, vtClusterB(t,
		health("2026-04-04T09:00:00Z", 100, "ok", "2026-04-04T08:59:58Z"),
		vtFile{name: "summary/manifest.json", body: []byte(`{"generated_at":"2026-04-04T09:00:00.1Z","entries":[]}`)},
		vtFile{name: "proc/uptime", body: []byte("100.51 190.02\n")},
	), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, vtClusterB(t,
		health("2026-04-04T10:15:30Z", 4630, "degraded", "2026-04-04T10:15:29Z"),
		vtFile{name: "proc/uptime", body: []byte("4630.02 9050.77\n")},
	), 0o600); err != nil {
		t.Fatal(err)
	}
	v := vtOpen(t, Options{Path: path, Baseline: base, NodeNames: vtNames}, 160, 40)
	v = vtSelect(t, v, "nodes/1840…/sysdump.tar.gz")
	v, _ = vtPress(t, v, "enter")
	v = vtSelect(t, v, "health.json")
	v, _ = vtPress(t, v, "d")

	// By default only the status differs; the three volatile lines are
	// context, shown as they are now, and the summary counts them.
	want := []string{
		"lines -1 +1 · 3 volatile hidden · a: show all",
		"--- baseline  fw-b!summary/health.json",
		"+++ this      fw-b!summary/health.json",
		"@@ -1,6 +1,6 @@",
		" {",
		`   "generated_at": "2026-04-04T10:15:30Z",`,
		`   "uptime_seconds": 4630,`,
		`-  "status": "ok",`,
		`+  "status": "degraded",`,
		`   "checked_at": "2026-04-04T10:15:29Z"`,
		" }",
	}
	if v.content.kind != contentDiff || !slices.Equal(v.content.plain, want) {
		t.Fatalf("diff (%v):\n%s", v.content.kind, strings.Join(v.content.plain, "\n"))
	}
	if view := vtView(v); !strings.Contains(view, "lines -1 +1 · 3 volatile hidden · a: show all") {
		t.Errorf("the screen lacks the summary:\n%s", view)
	}
	live := func(v Model) []string {
		var out []string
		for _, b := range v.ShortHelp() {
			if b.Enabled() {
				out = append(out, b.Help().Key+" "+b.Help().Desc)
			}
		}
		return out
	}
	if got := live(v); !slices.Contains(got, "a all fields") {
		t.Errorf("a not live on a diff: %q", got)
	}

	// a shows everything.
	v, _ = vtPress(t, v, "a")
	want = []string{
		"lines -4 +4 · all fields · a: hide volatile",
		"--- baseline  fw-b!summary/health.json",
		"+++ this      fw-b!summary/health.json",
		"@@ -1,6 +1,6 @@",
		" {",
		`-  "generated_at": "2026-04-04T09:00:00Z",`,
		`-  "uptime_seconds": 100,`,
		`-  "status": "ok",`,
		`-  "checked_at": "2026-04-04T08:59:58Z"`,
		`+  "generated_at": "2026-04-04T10:15:30Z",`,
		`+  "uptime_seconds": 4630,`,
		`+  "status": "degraded",`,
		`+  "checked_at": "2026-04-04T10:15:29Z"`,
		" }",
	}
	if v.content.kind != contentDiff || !slices.Equal(v.content.plain, want) {
		t.Fatalf("diff with every field (%v):\n%s", v.content.kind, strings.Join(v.content.plain, "\n"))
	}
	if got := live(v); !slices.Contains(got, "a hide volatile") {
		t.Errorf("a's help after a: %q", got)
	}
	// and again hides them.
	v, _ = vtPress(t, v, "a")
	if len(v.content.plain) == 0 || v.content.plain[0] != "lines -1 +1 · 3 volatile hidden · a: show all" {
		t.Errorf("second a: %q", v.content.plain)
	}

	// A member that differs only in volatile fields is the same, and says
	// how many lines were left out.
	for _, tc := range []struct{ member, want string }{
		{"summary/manifest.json", "fw-b!summary/manifest.json is the same in the baseline"},
		{"proc/uptime", "fw-b!proc/uptime is the same in the baseline"},
	} {
		if !v.tree.selectPath(sysdump.NodeArchivePath(vtIDB) + sysdump.NestedSep + tc.member) {
			t.Fatalf("no %s in the tree", tc.member)
		}
		v, _ = vtPress(t, v, "d")
		wantLines := []string{style.GlyphOK + " no differences: " + tc.want,
			"lines -0 +0 · 1 volatile hidden (generated_at, timestamps, uptime) · a: show all"}
		if !slices.Equal(v.content.plain, wantLines) || !strings.Contains(vtView(v), wantLines[1]) {
			t.Errorf("%s: %q", tc.member, v.content.plain)
		}
	}
	// d on a diff goes back to the member; a does nothing off a diff.
	v, _ = vtPress(t, v, "d")
	if v.content.kind == contentDiff {
		t.Fatalf("d on a diff: %v", v.content.kind)
	}
	if _, cmd := v.Update(vtKey("a")); cmd != nil {
		t.Errorf("a off a diff started work")
	}
}

func TestViewerMaskVolatile(t *testing.T) {
	cases := []struct {
		member string
		in     []string
		want   []string
	}{
		{"nodes/1/sysdump.tar.gz!system/journal/neuwerk-service.log",
			[]string{"Apr 04 10:00:01 fw-a neuwerk[812]: starting", "2026-04-04T10:00:01.5+02:00 leader elected", "no time here"},
			[]string{"<volatile> fw-a neuwerk[812]: starting", "<volatile> leader elected", "no time here"}},
		{"metrics.prom",
			[]string{"process_start_time_seconds 1.7e+09", `node_uptime_seconds{node="a"} 12`, "raft_last_applied 1550", "# TYPE x gauge"},
			[]string{"process_start_time_seconds <volatile>", `node_uptime_seconds{node="a"} <volatile>`, "raft_last_applied 1550", "# TYPE x gauge"}},
		{"summary/state.json",
			[]string{"{", `  "generated_at": "x",`, `  "started_at": 12,`, `  "policy_generation": 4,`, `  "timestamps": {`, "}"},
			[]string{"{", `  "generated_at": <volatile>,`, `  "started_at": <volatile>,`, `  "policy_generation": 4,`, `  "timestamps": {`, "}"}},
	}
	for _, c := range cases {
		if got := viewerMask(c.member, c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.member, got, c.want)
		}
	}
}

func TestViewerNamesNodesFromTheArchive(t *testing.T) {
	nodeA := vtBytes(t, vtNodeFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", 12))
	nodeB := vtBytes(t, vtNodeFiles("8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40", "fw-b", 12))
	full := vtWrite(t, vtDumpName, vtBytes(t, vtClusterFiles(nodeA, nodeB)))

	// No inventory: each node is named by its address in the archive.
	v := vtOpen(t, Options{Path: full}, 120, 40)
	view := vtView(v)
	for _, want := range []string{"nodes/8388…/sysdump.tar.gz  10.0.1.11", "nodes/1840…/sysdump.tar.gz  10.0.1.12",
		style.GlyphLeader + " leader 10.0.1.12"} {
		if !strings.Contains(view, want) {
			t.Errorf("screen lacks %q:\n%s", want, view)
		}
	}

	// Without overview.json and failures.json, meta.json names the
	// captured nodes (its address wins over the membership's) and the
	// membership names the rest.
	var files []vtFile
	for _, f := range vtClusterFiles(nodeA, nodeB) {
		switch f.name {
		case sysdump.OverviewPath, sysdump.FailuresPath:
			continue
		case sysdump.MembershipPath:
			f.body = []byte(`{"current_term":7,"voter_count":3,"node_count":3,"nodes":[` +
				`{"node_id":"` + vtIDA + `","addr":"192.0.2.1:9600","role":"voter"},` +
				`{"node_id":"` + vtIDC + `","addr":"10.0.1.13:9600","role":"voter"}]}`)
		}
		files = append(files, f)
	}
	bare := vtWrite(t, "neuwerk-cluster-sysdump-bare.tar.gz", vtBytes(t, files))
	v = vtOpen(t, Options{Path: bare}, 120, 40)
	want := map[string]string{vtIDA: "10.0.1.11", vtIDB: "10.0.1.12", vtIDC: "10.0.1.13"}
	if !reflect.DeepEqual(v.names, want) {
		t.Errorf("names = %v\nwant %v", v.names, want)
	}
	if view := vtView(v); !strings.Contains(view, "nodes/8388…/sysdump.tar.gz  10.0.1.11") {
		t.Errorf("tree:\n%s", view)
	}

	// With an inventory: its names, by node id or else by address (a
	// node's API host, else its SSH host).
	inv, err := inventory.Parse("inv.yaml", []byte("cluster: c\nssh:\n  known_hosts: "+vtWrite(t, "known_hosts", nil)+"\nnodes:\n"+
		"  - {name: edge-b, host: 203.0.113.9, api_host: 10.0.1.12}\n  - {name: not-this, host: 10.0.1.11}\n"),
		inventory.Options{SSHConfig: "none"})
	if err != nil {
		t.Fatal(err)
	}
	hosts := InventoryHostNames(inv)
	if hosts["10.0.1.12"] != "edge-b" || hosts["203.0.113.9"] != "edge-b" || hosts["10.0.1.11"] != "not-this" {
		t.Errorf("InventoryHostNames = %v", hosts)
	}
	v = vtOpen(t, Options{Path: full, NodeNames: map[string]string{vtIDA: "fw-a"}, HostNames: hosts}, 120, 40)
	view = vtView(v)
	for _, want := range []string{"nodes/8388…/sysdump.tar.gz  fw-a", "nodes/1840…/sysdump.tar.gz  edge-b",
		style.GlyphLeader + " leader edge-b", style.GlyphFail + " 10.0.1.13  2590…"} {
		if !strings.Contains(view, want) {
			t.Errorf("screen lacks %q:\n%s", want, view)
		}
	}
	v = vtSelect(t, v, "nodes/1840…/sysdump.tar.gz")
	v, _ = vtPress(t, v, "enter")
	v = vtSelect(t, v, "audit.json")
	v, _ = vtPress(t, v, "enter")
	if view := vtView(v); !strings.Contains(view, "edge-b!summary/audit.json") {
		t.Errorf("member title does not name the node:\n%s", view)
	}
}

func TestViewerTreePreviewsTheMemberUnderTheCursor(t *testing.T) {
	path := vtWrite(t, vtDumpName, vtCluster(t, 12))
	v := vtOpen(t, Options{Path: path, NodeNames: vtNames}, 120, 40)
	v = vtSelect(t, v, "manifest.json")

	// down onto cluster/overview.json: once the cursor rests, it is shown,
	// and the tree keeps the keys.
	v, _ = vtPress(t, v, "down")
	view := vtView(v)
	if v.focus != viewerFocusTree || v.content.kind != contentMember || v.content.member != sysdump.OverviewPath ||
		!strings.Contains(view, "cluster/overview.json  ") || !strings.Contains(view, `"leader_node_id": "`+vtIDB+`",`) {
		t.Fatalf("no preview of cluster/overview.json (focus %v, content %v %s):\n%s", v.focus, v.content.kind, v.content.member, view)
	}

	// Keys pressed faster than the delay: only the last member is read.
	v, first := v.Update(vtKey("down"))
	v, second := v.Update(vtKey("down"))
	if first == nil || second == nil {
		t.Fatal("moving onto a member started no preview")
	}
	v, _ = vtDrive(t, v, first)
	if v.content.member != sysdump.OverviewPath {
		t.Errorf("a preview for a member the cursor left was read: %s", v.content.member)
	}
	v, _ = vtDrive(t, v, second)
	if v.content.member != sysdump.MembershipPath || !strings.Contains(vtView(v), `"current_term": 7,`) {
		t.Errorf("preview after two moves: %s\n%s", v.content.member, vtView(v))
	}

	// Back on the overview row, the overview is shown again.
	v, _ = vtPress(t, v, "g")
	if v.content.kind != contentOverview || !strings.Contains(vtView(v), "nodes (3)") {
		t.Errorf("overview row: %v\n%s", v.content.kind, vtView(v))
	}

	// Folders and nested archives leave the content as it is.
	v = vtSelect(t, v, "cluster/membership.json")
	v, _ = vtPress(t, v, "down", "down")
	if n := v.tree.selected(); n.kind != treeArchive || v.content.member != "nodes/"+vtIDA+"/meta.json" {
		t.Errorf("on %q the content is %s", n.label, v.content.member)
	}
}
